"""An RTSP (or RTSPS) camera, read through OpenCV's FFmpeg backend."""

from __future__ import annotations

import os
import threading
from urllib.parse import quote, urlsplit, urlunsplit

import cv2

from edge_agent.config import RtspSourceConfig
from edge_agent.sources.base import LiveSource, LiveStream, redact_url
from edge_agent.sources.opencv_stream import OpenCvStream

# OpenCV reads FFmpeg's demuxer options from this variable when a capture opens; it is the only
# way to choose the RTSP transport, so opens that set it are serialised by this lock.
FFMPEG_OPTIONS_VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_FFMPEG_OPTIONS_LOCK = threading.Lock()


class RtspSource(LiveSource):
    """Opens the stream with the configured transport and open/read timeouts."""

    config: RtspSourceConfig

    def connect(self) -> tuple[LiveStream | None, str]:
        """Open the RTSP session; the problem names the URL without its credentials."""
        url = redact_url(self.config.url)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.config.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.config.read_timeout_s * 1000),
        ]
        with _FFMPEG_OPTIONS_LOCK:
            previous = os.environ.get(FFMPEG_OPTIONS_VARIABLE)
            os.environ[FFMPEG_OPTIONS_VARIABLE] = ffmpeg_options(self.config.transport)
            try:
                capture = cv2.VideoCapture(stream_url(self.config), cv2.CAP_FFMPEG, params)
            finally:
                if previous is None:
                    os.environ.pop(FFMPEG_OPTIONS_VARIABLE, None)
                else:
                    os.environ[FFMPEG_OPTIONS_VARIABLE] = previous
        if not capture.isOpened():
            capture.release()
            return None, (
                f"cannot open RTSP stream {url} over {self.config.transport} "
                f"within {self.config.open_timeout_s:g} s"
            )
        return OpenCvStream(capture, f"RTSP stream {url}"), ""


def ffmpeg_options(transport: str) -> str:
    """OpenCV's FFmpeg option string for an RTSP transport ("key;value|key;value")."""
    if transport == "auto":
        return "rtsp_flags;prefer_tcp"
    return f"rtsp_transport;{transport}"


def stream_url(config: RtspSourceConfig) -> str:
    """The URL to open, with the configured credentials put into it (percent-encoded)."""
    if config.username is None:
        return config.url
    parts = urlsplit(config.url)
    secret = config.password.get_secret_value() if config.password else ""
    credentials = quote(config.username, safe="")
    if secret:
        credentials += ":" + quote(secret, safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}"))
