"""RTSP through OpenCV's FFmpeg backend, against a real GStreamer RTSP server serving the clip.

The server runs in Debian's own Python (python3-gi and gir1.2-gst-rtsp-server-1.0, installed by
scripts/install-deps.sh test), as a separate process. RTSPS needs a TLS RTSP server, which
cannot be run here: only the URL form is checked for it.
"""

from __future__ import annotations

import itertools
import logging
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config import RtspSourceConfig
from edge_agent.sources import Backoff, open_source
from edge_agent.sources.rtsp import RtspSource, ffmpeg_options, stream_url
from tests.services import free_port, wait_for_port
from tests.test_sources import StopAfterRetries, assert_frames

SYSTEM_PYTHON = "/usr/bin/python3"
# A GStreamer RTSP server: one session per client, each playing the H.264 clip once.
RTSP_SERVER = """
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

Gst.init(None)
port, clip = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f"( filesrc location={clip} ! qtdemux ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(False)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
GLib.MainLoop().run()
"""


def rtsp_server_available() -> bool:
    """Whether Debian's Python has the GStreamer RTSP server bindings."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not rtsp_server_available(),
    reason="GStreamer RTSP server not installed: run scripts/install-deps.sh test",
)


@pytest.fixture
def rtsp_url(media, tmp_path) -> Iterator[str]:
    """rtsp://127.0.0.1:PORT/cam served by a real GStreamer RTSP server process."""
    script = tmp_path / "rtsp_server.py"
    script.write_text(RTSP_SERVER)
    port = free_port()
    server = subprocess.Popen(
        [SYSTEM_PYTHON, str(script), str(port), str(media / "traffic_frames.mp4")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port)
        yield f"rtsp://127.0.0.1:{port}/cam"
    finally:
        server.terminate()
        server.wait(timeout=10)


def rtsp(url: str, **options) -> RtspSourceConfig:
    return RtspSourceConfig(type="rtsp", url=url, open_timeout_s=5, read_timeout_s=5, **options)


def test_rtsp_over_tcp_yields_the_clip_frames(rtsp_url):
    source = open_source(rtsp(rtsp_url), "cam")
    assert isinstance(source, RtspSource)
    frames = list(itertools.islice(source.frames(), 5))
    assert_frames(frames, (540, 960, 3))


def test_rtsp_over_udp(rtsp_url):
    frames = list(itertools.islice(open_source(rtsp(rtsp_url, transport="udp"), "cam").frames(), 3))
    assert_frames(frames, (540, 960, 3))


def test_rtsp_frames_are_resized_for_detection(rtsp_url):
    config = rtsp(rtsp_url, resolution=(480, 270))
    frames = list(itertools.islice(open_source(config, "cam").frames(), 3))
    assert_frames(frames, (270, 480, 3))


def test_rtsp_session_that_ends_is_reopened(rtsp_url, caplog):
    # Each session plays the 20-frame clip once: 30 frames need a second session.
    source = open_source(rtsp(rtsp_url), "cam", backoff=Backoff(0.05, 0.2))
    with caplog.at_level(logging.WARNING, logger="edge_agent.sources"):
        frames = list(itertools.islice(source.frames(), 30))
    assert_frames(frames, (540, 960, 3))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and f"RTSP stream {rtsp_url}: the stream ended or stalled" in errors[0]


def test_unreachable_rtsp_camera_is_logged_once_without_its_password():
    stop = threading.Event()
    retries = StopAfterRetries("cam", stop, limit=2)
    logger = logging.getLogger("edge_agent.sources")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(retries)
    port = free_port()
    config = rtsp(f"rtsp://127.0.0.1:{port}/cam", username="admin", password="s3cret:/@")
    try:
        assert list(open_source(config, "cam", stop, Backoff(0.01, 0.05)).frames()) == []
    finally:
        logger.removeHandler(retries)
        logger.setLevel(previous)
    assert retries.messages[0] == (
        f"camera cam: unreachable: cannot open RTSP stream rtsp://127.0.0.1:{port}/cam over tcp "
        "within 5 s; retrying with back-off up to 0.05 s"
    )
    assert retries.levels == [logging.ERROR, logging.DEBUG]
    assert not any("s3cret" in message for message in retries.messages)


def test_credentials_are_percent_encoded_into_the_url():
    config = rtsp("rtsps://camera.local:322/stream1", username="admin", password="p@ss:word/1")
    assert stream_url(config) == "rtsps://admin:p%40ss%3Aword%2F1@camera.local:322/stream1"


def test_ffmpeg_transport_options():
    assert ffmpeg_options("tcp") == "rtsp_transport;tcp"
    assert ffmpeg_options("udp") == "rtsp_transport;udp"
    assert ffmpeg_options("auto") == "rtsp_flags;prefer_tcp"
