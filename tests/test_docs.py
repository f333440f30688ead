"""The operator docs tell the truth: each shell block is run by a test or marked as not run here,
the backup and restore commands work on real databases, and every setting named exists."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hub.config import HubSettings
from tests.hubserver import add_user, subprocess_env

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "docs" / "operations.md", REPO / "docs" / "performance.md"]
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
TESTED = re.compile(r"<!-- tested: (tests/\S+\.py)::(\w+) -->")
NOT_RUN = "_(not exercised by the test suite"
# VIGIE_* names that are not hub settings: compose variables, the agent's, the demo's, the tests'.
OTHER_VARIABLES = {
    "VIGIE_DOMAIN",
    "VIGIE_DB_PASSWORD",
    "VIGIE_VERSION",
    "VIGIE_ASSETS_DIR",
    "VIGIE_CONFIG",
    "VIGIE_AGENT_MQTT__PASSWORD",
    "VIGIE_TEST_DATABASE_URL",
    "VIGIE_TEST_MQTT_URL",
}
GUARD_S = 120


def shell_blocks(path: Path) -> list[tuple[str, str]]:
    """(the text just before, the commands) of every ```sh block of a markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text[max(0, match.start() - 400) : match.start()], match.group(1)) for match in
            BLOCK.finditer(text)]  # fmt: skip


def doc_block(path: Path, test_name: str, index: int = 0) -> str:
    """The index-th shell block of a doc that names test_name as the test running it."""
    blocks = [
        commands
        for before, commands in shell_blocks(path)
        if (found := TESTED.findall(before)) and found[-1][1] == test_name
    ]
    return blocks[index]


def run_block(commands: str, variables: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a documented block with bash, its `NAME=value` lines given the test's values."""
    for name, value in variables.items():
        commands, count = re.subn(rf"^{name}=.*$", f"{name}={value}", commands, flags=re.M)
        assert count == 1, f"the block has no single {name}= line"
    venv_bin = str(Path(sys.executable).parent)
    env = subprocess_env({"PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"})
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        env=env,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_shell_block_is_tested_or_marked(doc: Path) -> None:
    blocks = shell_blocks(doc)
    for before, commands in blocks:
        nearest = before[-300:]
        tested = TESTED.findall(nearest)
        if tested:
            test_file, name = tested[-1]
            source = (REPO / test_file).read_text()
            assert re.search(rf"^def {name}\(", source, re.M), f"{test_file}::{name} is missing"
        else:
            assert NOT_RUN in nearest, f"{doc.name}: block neither tested nor marked:\n{commands}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_setting_named_exists(doc: Path) -> None:
    named = set(re.findall(r"\bVIGIE_[A-Z0-9_]+", doc.read_text()))
    settings = {f"VIGIE_{name.upper()}" for name in HubSettings.model_fields}
    unknown = named - settings - OTHER_VARIABLES
    assert not unknown, f"{doc.name} names settings that do not exist: {sorted(unknown)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_local_links_and_images_exist(doc: Path) -> None:
    text = doc.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [target for target in targets if "://" not in target]
    assert local, f"{doc.name} links nowhere"
    for target in local:
        assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def test_readme_screenshots_are_small_pngs() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", (REPO / "README.md").read_text())
    assert len(images) >= 2
    for image in images:
        data = (REPO / image).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) < 400_000, f"{image} is {len(data)} bytes"


def libpq_url(sqlalchemy_url: str) -> str:
    """postgresql://... from the hub's postgresql+psycopg://... URL."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.mark.postgis
def test_postgres_backup_and_restore_commands(postgis_server, postgis_url, tmp_path) -> None:
    if postgis_server is None:
        pytest.skip("needs a throw-away cluster to create the restore database in")
    with_schema = subprocess.run(
        [str(Path(sys.executable).with_name("vigie-hub")), "migrate"],
        env=subprocess_env({"VIGIE_DATABASE_URL": postgis_url}),
        capture_output=True,
        text=True,
        timeout=GUARD_S,
    )
    assert with_schema.returncode == 0, with_schema.stderr
    username = add_user(postgis_url, "dispatcher")
    operations = REPO / "docs" / "operations.md"
    name = "test_postgres_backup_and_restore_commands"

    backup = run_block(
        doc_block(operations, name, 0), {"BACKUPS": str(tmp_path), "DB": libpq_url(postgis_url)}
    )
    assert backup.returncode == 0, backup.stderr
    assert (tmp_path / "vigie.dump").stat().st_size > 0

    restored_name = f"r_{uuid.uuid4().hex[:12]}"
    postgis_server.psql(f"CREATE DATABASE {restored_name} TEMPLATE vigie_template")
    try:
        restore = run_block(
            doc_block(operations, name, 1),
            {"BACKUPS": str(tmp_path), "DB": libpq_url(postgis_server.url(restored_name))},
        )
        assert restore.returncode == 0, restore.stderr
        assert "database at revision" in restore.stdout
        users = postgis_server.psql("SELECT username FROM users", database=restored_name)
        assert username in users.split()
    finally:
        postgis_server.psql(f"DROP DATABASE IF EXISTS {restored_name} WITH (FORCE)")


def test_sqlite_backup_and_restore_commands(sqlite_url: str, tmp_path: Path) -> None:
    if not shutil.which("sqlite3"):
        pytest.skip("the sqlite3 command-line shell is not installed (Debian package sqlite3)")
    username = add_user(sqlite_url, "viewer")
    database_file = sqlite_url.removeprefix("sqlite:///")
    backups = tmp_path / "backups"
    backups.mkdir()
    result = run_block(
        doc_block(REPO / "docs" / "operations.md", "test_sqlite_backup_and_restore_commands"),
        {"DB": database_file, "BACKUPS": str(backups)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    with sqlite3.connect(backups / "vigie.sqlite3") as copy:
        names = [row[0] for row in copy.execute("SELECT username FROM users")]
    assert username in names
