"""What every camera source shares: frames, retry back-off, outage logging, live-stream reading."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from vigie_contract.event import utc_now

logger = logging.getLogger(__name__)

# How often a live source's consumer re-checks `stop` while it waits for a frame.
LIVE_POLL_S = 0.25
# How long closing a live source waits for its reader thread (bounded by the read timeouts).
READER_JOIN_S = 15.0


@dataclass(frozen=True)
class Frame:
    """One captured image: HxWx3 uint8 BGR pixels and the UTC time it was captured."""

    image: np.ndarray
    captured_at: datetime


class SourceSettings(Protocol):
    """The settings every source config has (see edge_agent.config._SourceSection)."""

    resolution: tuple[int, int] | None
    reconnect_min_s: float
    reconnect_max_s: float


class CaptureObserver(Protocol):
    """Who is told of each frame and each failure (the camera's health figures)."""

    def frame_captured(self, captured_at: datetime) -> None:
        """A frame went to the pipeline."""

    def capture_failed(self, problem: str) -> None:
        """The camera could not give a frame, and why."""


class Backoff:
    """Exponential retry delays (initial, doubled per failure, capped), reset after a success."""

    def __init__(self, initial_s: float = 0.5, maximum_s: float = 30.0) -> None:
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next retry; each call counts one more failure."""
        # The exponent is capped: a camera dark for days must not overflow the float.
        delay = min(self.initial_s * 2 ** min(self.failures, 32), self.maximum_s)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.failures = 0


class Source(ABC):
    """A camera: yields frames until its media ends or `stop` is set; read failures are retried.

    An outage is logged once, as an error, when it starts, and once more when frames come back;
    the retries in between are logged at debug level only.
    """

    def __init__(
        self,
        settings: SourceSettings,
        camera_id: str,
        stop: threading.Event,
        backoff: Backoff | None = None,
        observer: CaptureObserver | None = None,
    ) -> None:
        self.config = settings
        self.camera_id = camera_id
        self.stop = stop
        self.backoff = backoff or Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self.observer = observer

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """Frames in capture order; ends at the end of non-looping media or when stopped."""

    def frame(self, image: np.ndarray) -> Frame:
        """A captured image as a Frame, resized for detection if configured; notes the success."""
        resolution = self.config.resolution
        if resolution is not None and (image.shape[1], image.shape[0]) != tuple(resolution):
            image = cv2.resize(image, tuple(resolution), interpolation=cv2.INTER_AREA)
        if self.backoff.failures:
            logger.warning(
                "camera %s: frames again after %d failed attempt(s)",
                self.camera_id,
                self.backoff.failures,
                extra={"camera_id": self.camera_id},
            )
            self.backoff.reset()
        captured_at = utc_now()
        if self.observer is not None:
            self.observer.frame_captured(captured_at)
        return Frame(image=image, captured_at=captured_at)

    def retry_later(self, problem: str, halt: threading.Event | None = None) -> bool:
        """Note a read failure and wait the back-off; False if stopped (or `halt` set) meanwhile."""
        delay = self.backoff.next_delay()
        if self.observer is not None:
            self.observer.capture_failed(problem)
        extra = {"camera_id": self.camera_id, "retry": self.backoff.failures}
        if self.backoff.failures == 1:
            logger.error(
                "camera %s: unreachable: %s; retrying with back-off up to %g s",
                self.camera_id,
                problem,
                self.backoff.maximum_s,
                extra=extra,
            )
        else:
            logger.debug(
                "camera %s: still unreachable: %s; retry %d in %.1f s",
                self.camera_id,
                problem,
                self.backoff.failures,
                delay,
                extra=extra,
            )
        return not (halt or self.stop).wait(delay)


class LiveStream(ABC):
    """One open connection to a camera that pushes frames at its own rate."""

    @abstractmethod
    def receive(self) -> str | None:
        """Wait for the camera's next frame: None when one arrived, else what went wrong."""

    @abstractmethod
    def decode(self) -> np.ndarray | None:
        """The last received frame as BGR pixels, or None if it cannot be decoded."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""


class _Handover:
    """Passes one freshly received frame from the reader thread to the consumer on request."""

    def __init__(self) -> None:
        self._arrived = threading.Condition()
        self._wanted = False
        self._image: np.ndarray | None = None

    @property
    def wanted(self) -> bool:
        """Whether the consumer waits for a frame (only then is one decoded)."""
        return self._wanted

    def give(self, image: np.ndarray) -> None:
        """Hand a decoded frame to the waiting consumer."""
        with self._arrived:
            self._image = image
            self._wanted = False
            self._arrived.notify_all()

    def take(self, timeout_s: float) -> np.ndarray | None:
        """The next frame received from now on, or None if none came within the timeout."""
        with self._arrived:
            if self._image is None:
                self._wanted = True
                self._arrived.wait_for(lambda: self._image is not None, timeout_s)
            image, self._image = self._image, None
            return image


class LiveSource(Source):
    """A live camera (RTSP, MJPEG, USB): a reader thread keeps up with the stream, so that the
    frame handed over is always the newest one, whatever the capture interval; only the frames
    handed over are decoded to pixels."""

    @abstractmethod
    def connect(self) -> tuple[LiveStream | None, str]:
        """Open the stream: (stream, "") or (None, what went wrong)."""

    def frames(self) -> Iterator[Frame]:
        """The newest frame each time one is asked for, until stopped."""
        handover = _Handover()
        halt = threading.Event()
        reader = threading.Thread(
            target=self._read_forever,
            args=(handover, halt),
            name=f"camera-{self.camera_id}-reader",
            daemon=True,
        )
        reader.start()
        try:
            while not self.stop.is_set() and reader.is_alive():
                image = handover.take(LIVE_POLL_S)
                if image is not None:
                    yield self.frame(image)
        finally:
            halt.set()
            reader.join(READER_JOIN_S)

    def _read_forever(self, handover: _Handover, halt: threading.Event) -> None:
        while not halt.is_set() and not self.stop.is_set():
            stream, problem = self.connect()
            if stream is not None:
                try:
                    problem = self._pump(stream, handover, halt)
                finally:
                    stream.close()
            if halt.is_set() or not self.retry_later(problem, halt):
                return

    def _pump(self, stream: LiveStream, handover: _Handover, halt: threading.Event) -> str:
        """Receive frames until the stream fails (returning why) or `halt` is set."""
        while not halt.is_set() and not self.stop.is_set():
            problem = stream.receive()
            if problem is not None:
                return problem
            if handover.wanted:
                image = stream.decode()
                if image is None:
                    logger.debug("camera %s: skipped an undecodable frame", self.camera_id)
                else:
                    handover.give(image)
        return "stopped"


def redact_url(url: str) -> str:
    """A URL fit for logs: user name and password removed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
