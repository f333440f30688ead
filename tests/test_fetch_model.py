"""vigie-agent fetch-model against a local mirror of the shared models (never the internet)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.detectors.catalog import CATALOG
from edge_agent.fetch import sha256_of

MODEL = "mobilenet_ssd_v2_coco_quant_postprocess"


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def mirror(models: Path) -> Iterator[str]:
    """The shared models folder served over HTTP on a loopback port."""
    server, url = serve(models)
    yield url
    server.shutdown()
    server.server_close()


def test_fetch_model_downloads_and_verifies_model_and_labels(mirror, tmp_path, capsys):
    assert main(["fetch-model", MODEL, "--dest", str(tmp_path), "--base-url", mirror]) == 0
    entry = next(e for e in CATALOG if e.file_name == f"{MODEL}.tflite")
    assert sha256_of(tmp_path / entry.file_name) == entry.sha256
    assert sha256_of(tmp_path / entry.label_file) == entry.label_sha256
    # Readable by the agent's own user when root fetched them (deploy/edge/install.sh).
    for name in (entry.file_name, entry.label_file):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
    assert "licence: Apache-2.0" in capsys.readouterr().out


def test_an_unknown_model_lists_the_known_ones(tmp_path, capsys):
    assert main(["fetch-model", "yolov99", "--dest", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "unknown model 'yolov99'" in error and MODEL in error
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_mirror_is_refused_and_leaves_nothing(models, tmp_path, capsys):
    bad = tmp_path / "mirror"
    bad.mkdir()
    (bad / f"{MODEL}.tflite").write_bytes(b"not the model")
    server, url = serve(bad)
    dest = tmp_path / "dest"
    try:
        assert main(["fetch-model", MODEL, "--dest", str(dest), "--base-url", url]) == 1
    finally:
        server.shutdown()
        server.server_close()
    entry = next(e for e in CATALOG if e.file_name == f"{MODEL}.tflite")
    assert f"expected {entry.sha256}" in capsys.readouterr().err
    assert not dest.exists() or list(dest.iterdir()) == []


def test_a_missing_file_on_the_mirror_is_an_error(models, tmp_path, capsys):
    partial = tmp_path / "mirror"
    partial.mkdir()
    shutil.copy(models / f"{MODEL}.tflite", partial)
    server, url = serve(partial)
    try:
        assert main(["fetch-model", MODEL, "--dest", str(tmp_path / "d"), "--base-url", url]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert "404" in capsys.readouterr().err
