"""A folder of still images replayed as a camera, in file-name order."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator

import cv2

from edge_agent.config import FolderSourceConfig
from edge_agent.sources.base import Frame, Source

logger = logging.getLogger(__name__)


class FolderSource(Source):
    """Reads the images matching `pattern`, sorted by name; a looping source re-lists each pass."""

    config: FolderSourceConfig

    def frames(self) -> Iterator[Frame]:
        """Each readable image once per pass; unreadable images are logged and skipped."""
        while not self.stop.is_set():
            if not self.config.path.is_dir():
                if not self.retry_later(f"image folder {self.config.path} does not exist"):
                    return
                continue
            count = yield from self._pass()
            if self.stop.is_set():
                return
            if not self.config.loop:
                logger.info("camera %s: end of %s", self.camera_id, self.config.path)
                return
            if count == 0 and not self.retry_later(
                f"no readable {self.config.pattern} image in {self.config.path}"
            ):
                return

    def _pass(self) -> Generator[Frame, None, int]:
        """One pass over the folder's images; returns how many it yielded."""
        count = 0
        for path in sorted(self.config.path.glob(self.config.pattern)):
            if self.stop.is_set():
                break
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                logger.warning(
                    "camera %s: skipping unreadable image %s",
                    self.camera_id,
                    path,
                    extra={"camera_id": self.camera_id},
                )
                continue
            count += 1
            yield self.frame(image)
        return count
