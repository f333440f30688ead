"""A USB camera on the board, read through OpenCV's V4L2 backend."""

from __future__ import annotations

from pathlib import Path

import cv2

from edge_agent.config import UsbSourceConfig
from edge_agent.sources.base import LiveSource, LiveStream
from edge_agent.sources.opencv_stream import OpenCvStream


class UsbSource(LiveSource):
    """Opens /dev/videoN (or a by-id link); an unplugged camera is retried with back-off."""

    config: UsbSourceConfig

    def connect(self) -> tuple[LiveStream | None, str]:
        """Open the device and ask for the configured capture size."""
        path = device_path(self.config.device)
        if not path.exists():
            return None, f"USB camera {path} not found (unplugged, or another device name?)"
        capture = cv2.VideoCapture(str(path), cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            return None, f"cannot open USB camera {path} (in use, or no permission: video group?)"
        if self.config.capture_size is not None:
            width, height = self.config.capture_size
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        return OpenCvStream(capture, f"USB camera {path}"), ""


def device_path(device: int | Path) -> Path:
    """The device file of a camera given as a number (N -> /dev/videoN) or a path."""
    return Path(f"/dev/video{device}") if isinstance(device, int) else Path(device)
