"""Agent health: per-camera figures, camera online/offline status and the periodic heartbeat."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

import numpy as np

from edge_agent import __version__
from edge_agent.detectors import Detection
from vigie_contract import (
    CameraHealth,
    CameraStatusV1,
    HeartbeatV1,
    camera_status_topic,
    heartbeat_topic,
)
from vigie_contract.event import utc_now

logger = logging.getLogger(__name__)

CameraState = Literal["online", "offline"]
THERMAL_ROOT = Path("/sys/class/thermal")
# Zone types that measure the SoC/CPU on a Raspberry Pi, a Jetson and x86 boards.
CPU_ZONE_TYPES = ("cpu-thermal", "cpu_thermal", "cpu-therm", "soc_thermal", "x86_pkg_temp")
MAX_REASON_CHARS = 200


@dataclass(frozen=True)
class CameraCondition:
    """Whether a camera gives frames, since when, and why not."""

    state: CameraState
    since: datetime
    reason: str | None


class CameraStats:
    """One camera's live figures: written by its capture thread, read by the health monitor."""

    def __init__(
        self,
        camera_id: str,
        offline_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera_id = camera_id
        self.offline_after_s = offline_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._started_at = utc_now()
        self._last_frame_clock: float | None = None
        self._last_frame_at: datetime | None = None
        self._lit_since: datetime | None = None
        self._problem: str | None = None
        self._ended = False
        self._created_clock = clock()
        self._window_start = self._created_clock
        self._window_frames = 0
        self._window_inferences = 0
        self._window_inference_s = 0.0

    def frame_captured(self, captured_at: datetime) -> None:
        """Count a frame handed to the pipeline."""
        with self._lock:
            now = self._clock()
            if (
                self._last_frame_clock is None
                or now - self._last_frame_clock > self.offline_after_s
            ):
                self._lit_since = captured_at
            self._last_frame_clock = now
            self._last_frame_at = captured_at
            self._problem = None
            self._window_frames += 1

    def capture_failed(self, problem: str) -> None:
        """Remember why the camera gives no frame (reported with its offline status)."""
        with self._lock:
            self._problem = problem

    def inference_done(self, seconds: float) -> None:
        """Count one detector run on this camera's frame and its duration."""
        with self._lock:
            self._window_inferences += 1
            self._window_inference_s += seconds

    def capture_ended(self) -> None:
        """The source ended (a finished clip): the camera is neither online nor dark any more."""
        with self._lock:
            self._ended = True

    def condition(self) -> CameraCondition | None:
        """The camera's current state, or None while it is unknown (starting) or ended."""
        with self._lock:
            if self._ended:
                return None
            now = self._clock()
            last = self._last_frame_clock
            if last is not None and now - last <= self.offline_after_s and self._lit_since:
                return CameraCondition("online", self._lit_since, None)
            if last is None and now - self._created_clock <= self.offline_after_s:
                return None
            reason = self._problem or f"no frame for {self.offline_after_s:g} s"
            return CameraCondition(
                "offline", self._last_frame_at or self._started_at, _printable(reason)
            )

    def health(self, state: CameraState) -> CameraHealth:
        """This camera's heartbeat figures since the previous call, which starts a new window."""
        with self._lock:
            now = self._clock()
            elapsed = max(now - self._window_start, 1e-6)
            frames, runs, run_s = (
                self._window_frames,
                self._window_inferences,
                self._window_inference_s,
            )
            self._window_start = now
            self._window_frames = self._window_inferences = 0
            self._window_inference_s = 0.0
            return CameraHealth(
                camera_id=self.camera_id,
                state=state,
                fps=min(frames / elapsed, 1000.0),
                inference_ms=1000.0 * run_s / runs if runs else None,
                # Share of the frames that went to the detector (motion, or a periodic check).
                motion_ratio=min(runs / frames, 1.0) if frames else None,
                last_frame_at=self._last_frame_at,
            )


class TimedDetector:
    """A detector wrapper that reports each run's duration to one camera's stats."""

    def __init__(self, detector: SupportsDetect, stats: CameraStats) -> None:
        self._detector = detector
        self._stats = stats

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """The wrapped detector's detections; the time it took is counted."""
        started = time.perf_counter()
        try:
            return self._detector.detect(frame_bgr)
        finally:
            self._stats.inference_done(time.perf_counter() - started)


class SupportsDetect(Protocol):
    """Anything with the detector's detect(frame) method."""

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detections in one BGR frame."""


class HealthPublisher(Protocol):
    """The part of the MQTT publisher the health monitor uses."""

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """Queue a message in the outbox (delivered in order, across outages)."""

    def publish_now(self, topic: str, payload: bytes) -> bool:
        """Send a message only if connected (QoS 0); False when it was not sent."""


class QueueGauge(Protocol):
    """The part of the outbox the heartbeat reports."""

    dropped: int

    def count(self) -> int:
        """Messages waiting for delivery."""

    def expire(self) -> int:
        """Drop messages older than the age limit; return how many."""


class HealthMonitor:
    """A thread that publishes camera status changes and the heartbeat, and ages the outbox.

    A camera's status goes through the outbox (retained), so that a camera that went dark during
    a network cut is still reported, in order, once the link returns. The heartbeat is sent only
    while connected: an old heartbeat says nothing about now.
    """

    def __init__(
        self,
        agent_id: str,
        cameras: Sequence[CameraStats],
        publisher: HealthPublisher,
        queue: QueueGauge,
        heartbeat_interval_s: float,
        check_interval_s: float = 1.0,
    ) -> None:
        self.agent_id = agent_id
        self.cameras = list(cameras)
        self.publisher = publisher
        self.queue = queue
        self.heartbeat_interval_s = heartbeat_interval_s
        self.check_interval_s = min(check_interval_s, heartbeat_interval_s)
        self._started = time.monotonic()
        self._published: dict[str, CameraState] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigie-health", daemon=True)

    def start(self) -> None:
        """Start checking and reporting in the background."""
        self._thread.start()

    def close(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> HealthMonitor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        # The first heartbeat waits one interval, so that its figures cover a whole window.
        next_heartbeat = time.monotonic() + self.heartbeat_interval_s
        while True:
            try:
                self.check_cameras()
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat += self.heartbeat_interval_s
                    self.queue.expire()
                    self.send_heartbeat()
            except Exception:
                # Health reporting must never stop the agent; the next round tries again.
                logger.exception("health report failed")
            if self._stop.wait(self.check_interval_s):
                return

    def check_cameras(self) -> None:
        """Publish the status of every camera whose state changed since the last check."""
        for stats in self.cameras:
            condition = stats.condition()
            if condition is None or self._published.get(stats.camera_id) == condition.state:
                continue
            self._report(stats.camera_id, condition)

    def _report(self, camera_id: str, condition: CameraCondition) -> None:
        was = self._published.get(camera_id)
        self._published[camera_id] = condition.state
        message = CameraStatusV1(
            agent_id=self.agent_id,
            camera_id=camera_id,
            state=condition.state,
            since=condition.since,
            reason=condition.reason,
        )
        self.publisher.publish(
            camera_status_topic(self.agent_id, camera_id), message.to_json(), retain=True
        )
        extra = {"camera_id": camera_id, "camera_state": condition.state}
        if condition.state == "offline":
            logger.error(
                "camera %s: OFFLINE, no frame since %s (%s)",
                camera_id,
                condition.since.isoformat(timespec="seconds"),
                condition.reason,
                extra=extra,
            )
        elif was == "offline":
            logger.warning("camera %s: back online", camera_id, extra=extra)
        else:
            logger.info("camera %s: online", camera_id, extra=extra)

    def heartbeat(self) -> HeartbeatV1:
        """The health figures now (starting a new measuring window for every camera)."""
        cameras = []
        for stats in self.cameras:
            condition = stats.condition()
            cameras.append(stats.health(condition.state if condition else "offline"))
        return HeartbeatV1(
            agent_id=self.agent_id,
            sent_at=utc_now(),
            version=__version__,
            uptime_s=time.monotonic() - self._started,
            queue_depth=self.queue.count(),
            outbox_dropped=self.queue.dropped,
            cpu_load=os.getloadavg()[0],
            cpu_temp_c=cpu_temperature(),
            cameras=cameras,
        )

    def send_heartbeat(self) -> bool:
        """Publish a heartbeat if connected; False when it could not be sent."""
        return self.publisher.publish_now(
            heartbeat_topic(self.agent_id), self.heartbeat().to_json()
        )


def cpu_temperature(root: Path = THERMAL_ROOT) -> float | None:
    """The CPU temperature in °C from the kernel's thermal zones, or None where there is none."""
    zones = sorted(root.glob("thermal_zone*"))
    typed = [(zone, _read_text(zone / "type")) for zone in zones]
    preferred = [zone for zone, kind in typed if kind in CPU_ZONE_TYPES]
    for zone in preferred or zones:
        millidegrees = _read_text(zone / "temp")
        if millidegrees and re.fullmatch(r"-?\d+", millidegrees):
            celsius = int(millidegrees) / 1000.0
            if -50.0 <= celsius <= 150.0:
                return celsius
    return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _printable(text: str) -> str:
    """Text fit for a ShortText field: control characters replaced, at most 200 characters."""
    cleaned = re.sub(r"[\x00-\x1f\x7f]", " ", text).strip() or "unknown"
    return cleaned[:MAX_REASON_CHARS]
