"""A video or animated image file (.mp4, .avi, .gif...) replayed as a camera."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator

import cv2

from edge_agent.config import FileSourceConfig
from edge_agent.sources.base import Frame, Source

logger = logging.getLogger(__name__)


class FileSource(Source):
    """Reads a clip frame by frame with OpenCV; `realtime` skips and waits to follow its fps."""

    config: FileSourceConfig

    def frames(self) -> Iterator[Frame]:
        """Every frame of the clip (or, in realtime, the frame due now), once or looping."""
        while not self.stop.is_set():
            capture = cv2.VideoCapture(str(self.config.path))
            try:
                if not capture.isOpened():
                    if not self.retry_later(f"cannot open video file {self.config.path}"):
                        return
                    continue
                count = yield from self._play(capture)
            finally:
                capture.release()
            if self.stop.is_set():
                return
            if not self.config.loop:
                logger.info("camera %s: end of %s", self.camera_id, self.config.path)
                return
            if count == 0 and not self.retry_later(
                f"no frame could be read from {self.config.path}"
            ):
                return

    def _play(self, capture: cv2.VideoCapture) -> Generator[Frame, None, int]:
        """One pass over an opened clip; returns how many frames it yielded."""
        fps = capture.get(cv2.CAP_PROP_FPS)
        pace = self.config.realtime and fps > 0
        started = time.monotonic()
        index = 0
        count = 0
        while not self.stop.is_set():
            if pace:
                due = int((time.monotonic() - started) * fps)
                # Like a live camera: frames whose time has passed are skipped, not queued.
                while index < due and capture.grab():
                    index += 1
                if index > due and self.stop.wait(started + index / fps - time.monotonic()):
                    return count
            ok, image = capture.read()
            if not ok:
                return count
            index += 1
            count += 1
            yield self.frame(image)
        return count
