"""Session-wide real services (PostGIS, Mosquitto, Chromium) and per-test fresh databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.face_model import default_face_model
from tests.services import mosquitto_broker, postgis_cluster

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


def assets_dir() -> Path:
    """Where the shared models and media live (VIGIE_ASSETS_DIR, else ../shared)."""
    return Path(os.environ.get("VIGIE_ASSETS_DIR", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def assets() -> Path:
    """The shared assets folder (models/ and media/)."""
    path = assets_dir()
    if not (path / "models").is_dir() or not (path / "media").is_dir():
        pytest.fail(f"assets not found in {path}: set VIGIE_ASSETS_DIR")
    return path


@pytest.fixture(scope="session")
def media(assets: Path) -> Path:
    """The shared real test media."""
    return assets / "media"


@pytest.fixture(scope="session")
def models(assets: Path) -> Path:
    """The shared real detector models."""
    return assets / "models"


@pytest.fixture(scope="session")
def face_model() -> Path:
    """The face-blurring model where the agent looks by default (put there by `make test`)."""
    path = default_face_model()
    if not path.is_file():
        pytest.fail(f"no face model at {path}: run `vigie-agent fetch-face-model` (make test does)")
    return path


@pytest.fixture(scope="session")
def postgis_server() -> Iterator[str | None]:
    """A PostGIS server: the one in VIGIE_TEST_DATABASE_URL, else a throw-away cluster."""
    if os.environ.get("VIGIE_TEST_DATABASE_URL"):
        yield None
        return
    with postgis_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgis_url(postgis_server) -> Iterator[str]:
    """A fresh, empty PostGIS database for one test."""
    if postgis_server is None:
        yield os.environ["VIGIE_TEST_DATABASE_URL"]
        return
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgis_server.psql(f"CREATE DATABASE {name} TEMPLATE vigie_template")
    yield postgis_server.url(name)
    postgis_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite:///{tmp_path / 'vigie.sqlite3'}"


@pytest.fixture(params=["postgis", "sqlite"])
def database_url(request) -> str:
    """Each storage backend in turn: a fresh PostGIS database, then a fresh SQLite file."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def mqtt_url() -> Iterator[str]:
    """A real Mosquitto broker: VIGIE_TEST_MQTT_URL, else one started on a free port."""
    if os.environ.get("VIGIE_TEST_MQTT_URL"):
        yield os.environ["VIGIE_TEST_MQTT_URL"]
        return
    with mosquitto_broker() as broker:
        yield broker.url


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots (not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
