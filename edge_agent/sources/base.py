"""What every camera source shares: the frame type, the source interface, retry back-off."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """One captured image: HxWx3 uint8 BGR pixels and the UTC time it was captured."""

    image: np.ndarray
    captured_at: datetime


class Backoff:
    """Exponential retry delays (initial, doubled per failure, capped), reset after a success."""

    def __init__(self, initial_s: float = 0.5, maximum_s: float = 30.0) -> None:
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next retry; each call counts one more failure."""
        delay = min(self.initial_s * 2**self.failures, self.maximum_s)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.failures = 0


class Source(ABC):
    """A camera: yields frames until its media ends or `stop` is set; read failures are retried."""

    def __init__(self, camera_id: str, stop: threading.Event, backoff: Backoff | None = None):
        self.camera_id = camera_id
        self.stop = stop
        self.backoff = backoff or Backoff()

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """Frames in capture order; ends at the end of non-looping media or when stopped."""

    def retry_later(self, problem: str) -> bool:
        """Log a read failure with the camera id and wait the back-off; False if stopped."""
        delay = self.backoff.next_delay()
        logger.error(
            "camera %s: %s; retry %d in %.1f s",
            self.camera_id,
            problem,
            self.backoff.failures,
            delay,
            extra={"camera_id": self.camera_id},
        )
        return not self.stop.wait(delay)
