"""MJPEG over HTTP from a real local streaming server: parts, auth, reconnects, bad streams."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.config import MjpegSourceConfig
from edge_agent.sources import Backoff, open_source
from edge_agent.sources.mjpeg import MjpegSource, MultipartError, multipart_parts
from tests.test_sources import (
    StopAfterRetries,
    assert_frames,
    digest_accepts,
    digest_challenge,
)

# The server's frame pace: like a camera, not a measure of anything.
SERVER_FPS = 30


@pytest.fixture(scope="module")
def clip_jpegs(media: Path) -> list[bytes]:
    """The 20 frames of the real traffic clip, each encoded as a JPEG."""
    capture = cv2.VideoCapture(str(media / "traffic_frames.mp4"))
    jpegs = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        jpegs.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    capture.release()
    assert len(jpegs) == 20
    return jpegs


class MjpegServer(ThreadingHTTPServer):
    """A local MJPEG camera looping the clip's JPEGs.

    /stream: Content-Length parts; /bare: no Content-Length and a boundary declared with its
    "--" (as some cameras do); /digest: digest auth; /short: 3 frames then the connection
    closes; /page: an HTML page, not a stream.
    """

    daemon_threads = True

    def __init__(self, jpegs: list[bytes]) -> None:
        super().__init__(("127.0.0.1", 0), MjpegHandler)
        self.jpegs = jpegs
        self.connections = 0
        self.closing = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class MjpegHandler(BaseHTTPRequestHandler):
    server: MjpegServer
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self.server.connections += 1
        if self.path == "/page":
            self._page()
        elif self.path == "/digest" and not digest_accepts(
            self.headers.get("Authorization"), "GET", "viewer", "secret"
        ):
            self.send_response(401)
            self.send_header("WWW-Authenticate", digest_challenge())
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path in ("/stream", "/digest"):
            self._stream(b"vigieframe", "vigieframe", with_length=True)
        elif self.path == "/bare":
            self._stream(b"--myboundary", "--myboundary", with_length=False)
        elif self.path == "/short":
            self._stream(b"vigieframe", "vigieframe", with_length=True, limit=3)
        else:
            self.send_error(404)

    def _page(self) -> None:
        body = b"<html>camera login</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(
        self, delimiter: bytes, declared: str, with_length: bool, limit: int | None = None
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={declared}")
        self.end_headers()
        if not delimiter.startswith(b"--"):
            delimiter = b"--" + delimiter
        frames = itertools.cycle(self.server.jpegs)
        for jpeg in itertools.islice(frames, limit):
            if self.server.closing.is_set():
                return
            headers = b"Content-Type: image/jpeg\r\n"
            if with_length:
                headers += f"Content-Length: {len(jpeg)}\r\n".encode()
            try:
                self.wfile.write(delimiter + b"\r\n" + headers + b"\r\n" + jpeg + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return  # the agent went away
            time.sleep(1 / SERVER_FPS)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def mjpeg_server(clip_jpegs) -> Iterator[MjpegServer]:
    """A real MJPEG HTTP server on 127.0.0.1, in a thread."""
    server = MjpegServer(clip_jpegs)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.closing.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def retries() -> Iterator[StopAfterRetries]:
    """Collects the retry log records of camera 'cam'; its `stop` is set at the second one."""
    handler = StopAfterRetries("cam", threading.Event())
    logger = logging.getLogger("edge_agent.sources")
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous_level)


def mjpeg(url: str, **options) -> MjpegSourceConfig:
    return MjpegSourceConfig(type="mjpeg", url=url, **options)


def test_mjpeg_stream_yields_decoded_frames_of_the_clip(mjpeg_server):
    source = open_source(mjpeg(f"{mjpeg_server.base_url}/stream"), "cam")
    assert isinstance(source, MjpegSource)
    frames = list(itertools.islice(source.frames(), 6))
    assert_frames(frames, (540, 960, 3))
    # The traffic moves: the stream is live, not one frame repeated.
    assert not np.array_equal(frames[0].image, frames[-1].image)


def test_mjpeg_parts_without_length_and_a_dashed_boundary(mjpeg_server):
    source = open_source(mjpeg(f"{mjpeg_server.base_url}/bare"), "cam")
    frames = list(itertools.islice(source.frames(), 4))
    assert_frames(frames, (540, 960, 3))


def test_mjpeg_stream_is_resized_for_detection(mjpeg_server):
    config = mjpeg(f"{mjpeg_server.base_url}/stream", resolution=(320, 180))
    frames = list(itertools.islice(open_source(config, "cam").frames(), 2))
    assert_frames(frames, (180, 320, 3))


def test_mjpeg_digest_auth(mjpeg_server):
    config = mjpeg(
        f"{mjpeg_server.base_url}/digest", username="viewer", password="secret", auth="digest"
    )
    frames = list(itertools.islice(open_source(config, "cam").frames(), 3))
    assert_frames(frames, (540, 960, 3))


def test_mjpeg_wrong_password_is_logged_once_and_retried(mjpeg_server, retries):
    config = mjpeg(
        f"{mjpeg_server.base_url}/digest", username="viewer", password="guess", auth="digest"
    )
    source = open_source(config, "cam", retries.stop, Backoff(0.01, 0.05))
    assert list(source.frames()) == []
    assert retries.messages[0] == (
        f"camera cam: unreachable: MJPEG GET {mjpeg_server.base_url}/digest returned HTTP 401; "
        "retrying with back-off up to 0.05 s"
    )
    assert retries.levels == [logging.ERROR, logging.DEBUG]


def test_mjpeg_stream_that_ends_is_reopened(mjpeg_server, caplog):
    # /short closes after 3 frames: 8 frames need at least 3 connections.
    source = open_source(
        mjpeg(f"{mjpeg_server.base_url}/short"), "cam", backoff=Backoff(0.01, 0.05)
    )
    with caplog.at_level(logging.WARNING, logger="edge_agent.sources"):
        frames = list(itertools.islice(source.frames(), 8))
    assert_frames(frames, (540, 960, 3))
    assert mjpeg_server.connections >= 3
    messages = [record.getMessage() for record in caplog.records]
    assert any(f"MJPEG stream {mjpeg_server.base_url}/short ended" in m for m in messages)


def test_a_page_that_is_not_mjpeg_is_a_clear_error(mjpeg_server, retries):
    source = open_source(
        mjpeg(f"{mjpeg_server.base_url}/page"), "cam", retries.stop, Backoff(0.01, 0.05)
    )
    assert list(source.frames()) == []
    assert (
        f"{mjpeg_server.base_url}/page is not an MJPEG stream (content-type text/html)"
        in retries.messages[0]
    )


def test_multipart_parts_survive_any_chunking(clip_jpegs):
    jpegs = clip_jpegs[:3]
    body = b"".join(
        b"--b\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
        + jpeg
        + b"\r\n"
        for jpeg in jpegs
    )
    for size in (1, 7, 4096, len(body)):
        chunks = (body[i : i + size] for i in range(0, len(body), size))
        assert list(multipart_parts(chunks, b"b")) == jpegs


def test_multipart_parts_without_length_end_at_the_boundary(clip_jpegs):
    jpegs = clip_jpegs[:2]
    # Bare LF line ends, and the boundary declared with its dashes (as some cameras do).
    body = b"".join(b"--b\nContent-Type: image/jpeg\n\n" + jpeg + b"\r\n" for jpeg in jpegs)
    body += b"--b--\r\n"
    assert list(multipart_parts(iter([body]), b"--b")) == jpegs


def test_a_part_too_large_is_refused():
    body = b"--b\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    with pytest.raises(MultipartError, match="exceeds 1000"):
        list(multipart_parts(iter([body]), b"b", max_part_bytes=1000))
