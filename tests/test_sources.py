"""Camera sources on real media: video files, GIFs, image folders, a local HTTP snapshot server."""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from edge_agent.config import (
    FileSourceConfig,
    FolderSourceConfig,
    HttpSnapshotSourceConfig,
    UsbSourceConfig,
)
from edge_agent.sources import Backoff, Frame, open_source
from edge_agent.sources.file import FileSource
from edge_agent.sources.folder import FolderSource
from edge_agent.sources.http_snapshot import HttpSnapshotSource
from edge_agent.sources.usb import UsbSource, device_path
from tests.services import free_port


class StopAfterRetries(logging.Handler):
    """Collects a camera's retry records (any level) and sets `stop` after `limit` of them."""

    def __init__(self, camera_id: str, stop: threading.Event, limit: int = 2) -> None:
        super().__init__(level=logging.DEBUG)
        self.camera_id = camera_id
        self.stop = stop
        self.limit = limit
        self.messages: list[str] = []
        self.levels: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "camera_id", None) != self.camera_id or not hasattr(record, "retry"):
            return
        self.messages.append(record.getMessage())
        self.levels.append(record.levelno)
        if len(self.messages) >= self.limit:
            self.stop.set()


@pytest.fixture
def errors_stop_source() -> Iterator[tuple[threading.Event, StopAfterRetries]]:
    """A stop event that the second read failure of camera 'cam' sets."""
    stop = threading.Event()
    handler = StopAfterRetries("cam", stop)
    logger = logging.getLogger("edge_agent.sources")
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield stop, handler
    logger.removeHandler(handler)
    logger.setLevel(previous_level)


def assert_frames(frames: list[Frame], shape: tuple[int, int, int]) -> None:
    """Every frame is a BGR image of the given shape, captured in order, in UTC."""
    assert frames
    for frame in frames:
        assert frame.image.shape == shape
        assert frame.image.dtype == np.uint8
        assert frame.captured_at.tzinfo == timezone.utc
    times = [frame.captured_at for frame in frames]
    assert times == sorted(times)


def file_source(path: Path, **options) -> FileSourceConfig:
    return FileSourceConfig(type="file", path=path, **options)


# Files


def test_mp4_file_yields_every_frame_then_ends(media):
    source = open_source(file_source(media / "traffic_frames.mp4"), "cam")
    assert isinstance(source, FileSource)
    frames = list(source.frames())
    assert len(frames) == 20
    assert_frames(frames, (540, 960, 3))


def test_gif_file_yields_every_frame_then_ends(media):
    frames = list(open_source(file_source(media / "worker-zone-detection.gif"), "cam").frames())
    assert len(frames) == 71
    assert_frames(frames, (270, 480, 3))
    assert not np.array_equal(frames[0].image, frames[-1].image)


def test_looping_file_starts_over_at_the_end(media):
    source = open_source(file_source(media / "traffic_frames.mp4", loop=True), "cam")
    frames = list(itertools.islice(source.frames(), 25))
    assert len(frames) == 25
    assert np.array_equal(frames[20].image, frames[0].image)
    assert np.array_equal(frames[24].image, frames[4].image)


def test_realtime_file_skips_the_frames_a_slow_reader_missed(media):
    # The clip is 20 frames at 30 fps; a reader taking 0.2 s per frame can only see a few of them.
    source = open_source(file_source(media / "traffic_frames.mp4", realtime=True), "cam")
    frames = []
    for frame in source.frames():
        frames.append(frame)
        time.sleep(0.2)
    assert 1 <= len(frames) < 20
    assert_frames(frames, (540, 960, 3))


def test_missing_file_is_logged_and_retried_until_stopped(tmp_path, errors_stop_source):
    stop, errors = errors_stop_source
    path = tmp_path / "absent.mp4"
    source = open_source(file_source(path), "cam", stop, Backoff(0.01, 0.05))
    assert list(source.frames()) == []
    assert errors.messages == [
        f"camera cam: unreachable: cannot open video file {path}; "
        "retrying with back-off up to 0.05 s",
        f"camera cam: still unreachable: cannot open video file {path}; retry 2 in 0.0 s",
    ]
    # One error line per outage; the retries after it are debug lines.
    assert errors.levels == [logging.ERROR, logging.DEBUG]


def test_unreadable_file_is_logged_and_retried(tmp_path, errors_stop_source):
    stop, errors = errors_stop_source
    path = tmp_path / "noise.mp4"
    path.write_bytes(b"\x00not a video" * 100)
    source = open_source(file_source(path, loop=True), "cam", stop, Backoff(0.01, 0.05))
    assert list(source.frames()) == []
    assert all(str(path) in message for message in errors.messages)


# Folders


@pytest.fixture
def image_folder(tmp_path, media) -> Path:
    """Three real JPEGs named so that name order differs from their original names' order."""
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(media / "grace_hopper.jpg", folder / "frame-02.jpg")
    shutil.copy(media / "backpackman.jpg", folder / "frame-01.jpg")
    shutil.copy(media / "coco_000000184324_street.jpg", folder / "frame-03.jpg")
    shutil.copy(media / "astronaut.png", folder / "frame-00.png")
    return folder


def test_folder_yields_its_images_in_name_order(image_folder):
    config = FolderSourceConfig(type="folder", path=image_folder)
    source = open_source(config, "cam")
    assert isinstance(source, FolderSource)
    shapes = [frame.image.shape for frame in source.frames()]
    assert shapes == [(513, 513, 3), (600, 512, 3), (425, 640, 3)]


def test_folder_pattern_selects_other_files(image_folder):
    config = FolderSourceConfig(type="folder", path=image_folder, pattern="*.png")
    frames = list(open_source(config, "cam").frames())
    assert_frames(frames, (512, 512, 3))
    assert len(frames) == 1


def test_unreadable_image_is_logged_and_skipped(image_folder, caplog):
    (image_folder / "frame-015.jpg").write_bytes(b"not a jpeg")
    config = FolderSourceConfig(type="folder", path=image_folder)
    with caplog.at_level(logging.WARNING, logger="edge_agent.sources"):
        frames = list(open_source(config, "cam").frames())
    assert len(frames) == 3
    assert f"camera cam: skipping unreadable image {image_folder / 'frame-015.jpg'}" in caplog.text


def test_looping_folder_starts_over(image_folder):
    config = FolderSourceConfig(type="folder", path=image_folder, loop=True)
    frames = list(itertools.islice(open_source(config, "cam").frames(), 7))
    assert [frame.image.shape[0] for frame in frames] == [513, 600, 425, 513, 600, 425, 513]


def test_missing_folder_is_logged_and_retried_until_stopped(tmp_path, errors_stop_source):
    stop, errors = errors_stop_source
    config = FolderSourceConfig(type="folder", path=tmp_path / "nowhere")
    assert list(open_source(config, "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    assert errors.messages[0].startswith(
        f"camera cam: unreachable: image folder {tmp_path / 'nowhere'}"
    )


def test_empty_looping_folder_is_logged_and_retried(tmp_path, errors_stop_source):
    stop, errors = errors_stop_source
    config = FolderSourceConfig(type="folder", path=tmp_path, loop=True)
    assert list(open_source(config, "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    assert "no readable *.jpg image" in errors.messages[0]


# HTTP snapshots


DIGEST_REALM = "vigie-test-camera"
DIGEST_NONCE = "5f2b1c0e9a8d7c6b"


def digest_challenge() -> str:
    """The WWW-Authenticate header of a camera asking for digest auth (RFC 7616, MD5)."""
    return f'Digest realm="{DIGEST_REALM}", qop="auth", nonce="{DIGEST_NONCE}", algorithm=MD5'


def digest_accepts(authorization: str | None, method: str, user: str, password: str) -> bool:
    """Whether an Authorization header is a correct digest answer for these credentials."""
    if not authorization or not authorization.startswith("Digest "):
        return False
    fields = {
        key: quoted if quoted else bare
        for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', authorization)
    }

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    if fields.get("username") != user or fields.get("nonce") != DIGEST_NONCE:
        return False
    ha1 = md5(f"{user}:{DIGEST_REALM}:{password}")
    ha2 = md5(f"{method}:{fields.get('uri')}")
    expected = md5(
        f"{ha1}:{DIGEST_NONCE}:{fields.get('nc')}:{fields.get('cnonce')}:{fields.get('qop')}:{ha2}"
    )
    return fields.get("response") == expected


class SnapshotServer(ThreadingHTTPServer):
    """A local camera: /snapshot.jpg, /private.jpg (basic auth), /digest.jpg (digest auth),
    /text, /flaky.jpg (404 twice)."""

    def __init__(self, jpeg: bytes) -> None:
        super().__init__(("127.0.0.1", 0), SnapshotHandler)
        self.jpeg = jpeg
        self.flaky_failures_left = 2

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class SnapshotHandler(BaseHTTPRequestHandler):
    server: SnapshotServer
    credentials = "Basic " + base64.b64encode(b"viewer:secret").decode()

    def do_GET(self) -> None:
        if self.path == "/snapshot.jpg":
            self._reply(200, "image/jpeg", self.server.jpeg)
        elif self.path == "/private.jpg":
            if self.headers.get("Authorization") == self.credentials:
                self._reply(200, "image/jpeg", self.server.jpeg)
            else:
                self._reply(401, "text/plain", b"who are you?")
        elif self.path == "/digest.jpg":
            if digest_accepts(self.headers.get("Authorization"), "GET", "viewer", "secret"):
                self._reply(200, "image/jpeg", self.server.jpeg)
            else:
                self._reply(401, "text/plain", b"digest please", digest_challenge())
        elif self.path == "/text":
            self._reply(200, "text/plain", b"hello, I am not a JPEG")
        elif self.path == "/flaky.jpg" and self.server.flaky_failures_left == 0:
            self._reply(200, "image/jpeg", self.server.jpeg)
        elif self.path == "/flaky.jpg":
            self.server.flaky_failures_left -= 1
            self._reply(404, "text/plain", b"warming up")
        else:
            self._reply(404, "text/plain", b"no such snapshot")

    def _reply(
        self, status: int, content_type: str, body: bytes, challenge: str | None = None
    ) -> None:
        self.send_response(status)
        if challenge is not None:
            self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def snapshot_server(media) -> Iterator[SnapshotServer]:
    """A real HTTP server on 127.0.0.1 serving grace_hopper.jpg, in a thread."""
    server = SnapshotServer((media / "grace_hopper.jpg").read_bytes())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def snapshot(url: str, **options) -> HttpSnapshotSourceConfig:
    return HttpSnapshotSourceConfig(type="http_snapshot", url=url, **options)


def test_http_snapshot_yields_a_fresh_decoded_frame_per_request(snapshot_server):
    source = open_source(snapshot(f"{snapshot_server.base_url}/snapshot.jpg"), "cam")
    assert isinstance(source, HttpSnapshotSource)
    frames = list(itertools.islice(source.frames(), 3))
    assert len(frames) == 3
    assert_frames(frames, (600, 512, 3))


def test_http_snapshot_sends_basic_auth(snapshot_server):
    config = snapshot(
        f"{snapshot_server.base_url}/private.jpg", username="viewer", password="secret"
    )
    frame = next(open_source(config, "cam").frames())
    assert frame.image.shape == (600, 512, 3)


def test_http_snapshot_answers_a_digest_challenge(snapshot_server):
    config = snapshot(
        f"{snapshot_server.base_url}/digest.jpg",
        username="viewer",
        password="secret",
        auth="digest",
    )
    frames = list(itertools.islice(open_source(config, "cam").frames(), 2))
    assert_frames(frames, (600, 512, 3))


def test_http_snapshot_with_a_wrong_digest_password_is_refused(snapshot_server, errors_stop_source):
    stop, errors = errors_stop_source
    config = snapshot(
        f"{snapshot_server.base_url}/digest.jpg", username="viewer", password="nope", auth="digest"
    )
    assert list(open_source(config, "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    assert "returned HTTP 401" in errors.messages[0]


def test_http_snapshot_without_credentials_is_logged_not_raised(
    snapshot_server, errors_stop_source
):
    stop, errors = errors_stop_source
    config = snapshot(f"{snapshot_server.base_url}/private.jpg")
    assert list(open_source(config, "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    assert "returned HTTP 401" in errors.messages[0]


def test_http_404_is_logged_with_the_camera_and_retried(snapshot_server, errors_stop_source):
    stop, errors = errors_stop_source
    url = f"{snapshot_server.base_url}/missing.jpg"
    assert list(open_source(snapshot(url), "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    assert errors.messages == [
        f"camera cam: unreachable: snapshot GET {url} returned HTTP 404; "
        "retrying with back-off up to 0.05 s",
        f"camera cam: still unreachable: snapshot GET {url} returned HTTP 404; retry 2 in 0.0 s",
    ]


def test_unreachable_camera_is_logged_not_raised(errors_stop_source):
    stop, errors = errors_stop_source
    url = f"http://127.0.0.1:{free_port()}/snapshot.jpg"
    config = snapshot(url, timeout_s=2)
    assert list(open_source(config, "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    assert errors.messages[0].startswith(
        f"camera cam: unreachable: snapshot GET {url} failed: ConnectError"
    )


def test_non_image_response_is_logged_not_raised(snapshot_server, errors_stop_source):
    stop, errors = errors_stop_source
    config = snapshot(f"{snapshot_server.base_url}/text")
    assert list(open_source(config, "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    assert "is not a decodable image (22 bytes, text/plain)" in errors.messages[0]


def test_camera_that_recovers_delivers_frames_after_retries(snapshot_server, caplog):
    config = snapshot(f"{snapshot_server.base_url}/flaky.jpg")
    backoff = Backoff(0.01, 0.05)
    with caplog.at_level(logging.DEBUG, logger="edge_agent.sources"):
        frame = next(open_source(config, "cam", backoff=backoff).frames())
    assert frame.image.shape == (600, 512, 3)
    assert [(r.levelname, r.getMessage()[:30]) for r in caplog.records] == [
        ("ERROR", "camera cam: unreachable: snaps"),
        ("DEBUG", "camera cam: still unreachable:"),
        ("WARNING", "camera cam: frames again after"),
    ]
    assert caplog.records[-1].getMessage() == "camera cam: frames again after 2 failed attempt(s)"
    assert backoff.failures == 0


def test_backoff_doubles_up_to_its_cap_and_resets():
    backoff = Backoff(initial_s=0.5, maximum_s=3)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1, 2, 3, 3]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_stays_capped_after_days_of_failures():
    backoff = Backoff(initial_s=0.5, maximum_s=30)
    backoff.failures = 100_000
    assert backoff.next_delay() == 30


def test_source_backoff_comes_from_its_config(tmp_path):
    config = FolderSourceConfig(type="folder", path=tmp_path, reconnect_min_s=2, reconnect_max_s=40)
    source = open_source(config, "cam")
    assert (source.backoff.initial_s, source.backoff.maximum_s) == (2, 40)


def test_frames_are_resized_to_the_detection_resolution(media):
    config = file_source(media / "traffic_frames.mp4", resolution=(480, 270))
    frames = list(open_source(config, "cam").frames())
    assert len(frames) == 20
    assert_frames(frames, (270, 480, 3))


class Observer:
    """Records what a source reports to the camera's health figures."""

    def __init__(self) -> None:
        self.frames = 0
        self.problems: list[str] = []

    def frame_captured(self, captured_at) -> None:
        self.frames += 1

    def capture_failed(self, problem: str) -> None:
        self.problems.append(problem)


def test_a_source_reports_frames_and_failures_to_its_observer(snapshot_server):
    observer = Observer()
    config = snapshot(f"{snapshot_server.base_url}/flaky.jpg")
    source = open_source(config, "cam", backoff=Backoff(0.01, 0.05), observer=observer)
    frames = list(itertools.islice(source.frames(), 2))
    assert len(frames) == observer.frames == 2
    assert (
        observer.problems
        == [f"snapshot GET {snapshot_server.base_url}/flaky.jpg returned HTTP 404"] * 2
    )


def test_credentials_in_a_url_never_reach_the_log(errors_stop_source):
    stop, errors = errors_stop_source
    port = free_port()
    config = snapshot(f"http://admin:hunter2@127.0.0.1:{port}/snapshot.jpg", timeout_s=2)
    assert list(open_source(config, "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    assert f"http://127.0.0.1:{port}/snapshot.jpg" in errors.messages[0]
    assert not any("hunter2" in message for message in errors.messages)


# USB cameras: no real device can exist on this machine; the checks and error path can.


def test_usb_device_must_be_under_dev():
    with pytest.raises(ValueError, match="must be a device under /dev/"):
        UsbSourceConfig(type="usb", device="/home/pi/video0")
    with pytest.raises(ValueError, match="0 or more"):
        UsbSourceConfig(type="usb", device=-1)


def test_usb_device_number_names_its_device_file():
    assert device_path(UsbSourceConfig(type="usb", device=2).device) == Path("/dev/video2")
    config = UsbSourceConfig(type="usb", device="/dev/v4l/by-id/usb-cam-video-index0")
    assert device_path(config.device) == Path("/dev/v4l/by-id/usb-cam-video-index0")


def test_unplugged_usb_camera_is_logged_once_and_retried(errors_stop_source):
    stop, errors = errors_stop_source
    config = UsbSourceConfig(type="usb", device="/dev/video-vigie-absent")
    source = open_source(config, "cam", stop, Backoff(0.01, 0.05))
    assert isinstance(source, UsbSource)
    assert list(source.frames()) == []
    assert errors.messages[0] == (
        "camera cam: unreachable: USB camera /dev/video-vigie-absent not found "
        "(unplugged, or another device name?); retrying with back-off up to 0.05 s"
    )
    assert errors.levels == [logging.ERROR, logging.DEBUG]


def test_a_device_that_is_not_a_camera_is_a_clear_error(errors_stop_source):
    stop, errors = errors_stop_source
    source = open_source(UsbSourceConfig(type="usb", device="/dev/null"), "cam", stop)
    source.backoff = Backoff(0.01, 0.05)
    assert list(source.frames()) == []
    assert "cannot open USB camera /dev/null" in errors.messages[0]
