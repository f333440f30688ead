"""A live OpenCV capture (RTSP through FFmpeg, USB through V4L2) as a LiveStream."""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.sources.base import LiveStream


class OpenCvStream(LiveStream):
    """grab() every frame to keep up with the camera; retrieve() (the costly part) on request."""

    def __init__(self, capture: cv2.VideoCapture, name: str) -> None:
        self._capture = capture
        self._name = name

    def receive(self) -> str | None:
        """Grab the next frame (bounded by the capture's read timeout)."""
        if self._capture.grab():
            return None
        return f"{self._name}: the stream ended or stalled"

    def decode(self) -> np.ndarray | None:
        """The grabbed frame as BGR pixels."""
        ok, image = self._capture.retrieve()
        return image if ok else None

    def close(self) -> None:
        """Release the capture."""
        self._capture.release()
