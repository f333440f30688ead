"""Checksum-verified downloads, over a real local HTTP server (no internet is used)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge_agent.fetch import ChecksumError, download_verified, sha256_of

GRACE_SHA256 = "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"


@pytest.fixture
def media_server(media: Path) -> Iterator[str]:
    """Serve the shared media folder on a loopback port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(media))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_download_is_verified_and_kept(media_server: str, tmp_path: Path):
    dest = tmp_path / "cache" / "grace.jpg"
    assert download_verified(f"{media_server}/grace_hopper.jpg", dest, GRACE_SHA256) == dest
    assert sha256_of(dest) == GRACE_SHA256
    # A second call finds the verified copy and does not need the server.
    assert download_verified("http://127.0.0.1:9/unreachable", dest, GRACE_SHA256) == dest


def test_wrong_checksum_leaves_no_file(media_server: str, tmp_path: Path):
    dest = tmp_path / "grace.jpg"
    with pytest.raises(ChecksumError):
        download_verified(f"{media_server}/grace_hopper.jpg", dest, "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_copy_is_replaced(media_server: str, tmp_path: Path):
    dest = tmp_path / "grace.jpg"
    dest.write_bytes(b"truncated")
    download_verified(f"{media_server}/grace_hopper.jpg", dest, GRACE_SHA256)
    assert sha256_of(dest) == GRACE_SHA256


def test_missing_file_is_an_http_error(media_server: str, tmp_path: Path):
    with pytest.raises(httpx.HTTPStatusError):
        download_verified(f"{media_server}/nope.jpg", tmp_path / "nope.jpg", GRACE_SHA256)
    assert list(tmp_path.iterdir()) == []
