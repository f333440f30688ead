"""Runs the agent: one capture loop per camera, detect, confirm threats, publish via the outbox."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import closing

import numpy as np

from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.detectors import Detection, Detector, create_detector
from edge_agent.outbox import Outbox
from edge_agent.policy import ThreatPolicy
from edge_agent.publisher import Publisher
from edge_agent.sources import open_source
from vigie_contract import EventV1, ModelInfo, event_topic

logger = logging.getLogger(__name__)


class SharedDetector:
    """One detector for all camera threads, one frame at a time (TFLite is not thread-safe)."""

    def __init__(self, detector: Detector) -> None:
        self.name = detector.name
        self.sha256 = detector.sha256
        self._detector = detector
        self._lock = threading.Lock()

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """The wrapped detector's detections, serialised with the other cameras."""
        with self._lock:
            return self._detector.detect(frame_bgr)


def run_agent(config: AgentConfig, stop: threading.Event | None = None) -> None:
    """Run every camera until its media ends or `stop` is set, then until the outbox is drained."""
    stop = stop or threading.Event()
    detector = SharedDetector(create_detector(config.detector))
    model = ModelInfo(name=detector.name, sha256=detector.sha256)
    logger.info(
        "agent %s: %d camera(s), model %s, broker %s:%d",
        config.agent_id,
        len(config.cameras),
        model.name,
        config.mqtt.host,
        config.mqtt.port,
    )
    with Outbox(config.outbox_path) as outbox, Publisher(config.mqtt, outbox) as publisher:
        publisher.start()
        threads = [
            threading.Thread(
                target=run_camera,
                args=(camera, config.agent_id, detector, model, publisher, stop),
                name=f"camera-{camera.id}",
                daemon=True,
            )
            for camera in config.cameras
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            _wait_for_delivery(outbox, publisher, stop)
        except KeyboardInterrupt:
            # Ctrl-C is a stop request: end the cameras before the outbox they write to closes.
            logger.info("interrupted: stopping")
            stop.set()
            for thread in threads:
                if thread.is_alive():
                    thread.join()
            _log_undelivered(outbox)


def _wait_for_delivery(outbox: Outbox, publisher: Publisher, stop: threading.Event) -> None:
    pending = outbox.count()
    if pending:
        logger.info(
            "all cameras ended; waiting for %d pending event(s) to be delivered",
            pending,
            extra={"pending": pending},
        )
    if not publisher.wait_drained(stop):
        _log_undelivered(outbox)


def _log_undelivered(outbox: Outbox) -> None:
    pending = outbox.count()
    if pending:
        logger.warning(
            "stopped with %d undelivered event(s) kept in %s for the next run",
            pending,
            outbox.path,
            extra={"pending": pending},
        )


def run_camera(
    camera: CameraConfig,
    agent_id: str,
    detector: SharedDetector,
    model: ModelInfo,
    publisher: Publisher,
    stop: threading.Event,
) -> None:
    """Capture, detect and confirm threats for one camera until its source ends; never raises."""
    try:
        _capture_loop(camera, agent_id, detector, model, publisher, stop)
    except Exception:
        # One broken camera must not take the agent's other cameras down with it.
        logger.exception("camera %s: stopped by an unexpected error", camera.id)
    logger.info("camera %s: capture ended", camera.id, extra={"camera_id": camera.id})


def _capture_loop(
    camera: CameraConfig,
    agent_id: str,
    detector: SharedDetector,
    model: ModelInfo,
    publisher: Publisher,
    stop: threading.Event,
) -> None:
    policy = ThreatPolicy(agent_id, camera, model)
    topic = event_topic(agent_id, camera.id)
    source = open_source(camera.source, camera.id, stop)
    next_capture = time.monotonic()
    with closing(source.frames()) as frames:
        for frame in frames:
            for event in policy.observe(detector.detect(frame.image), frame.captured_at):
                publisher.publish(topic, event.to_json())
                _log_threat(event)
            # A slow frame delays the next capture; it does not cause a burst to catch up.
            next_capture = max(next_capture + camera.interval_s, time.monotonic())
            if stop.wait(next_capture - time.monotonic()):
                break


def _log_threat(event: EventV1) -> None:
    best = event.detections[0]
    logger.info(
        "camera %s: %s threat %s confirmed (%s %.2f, %d detection(s)), event %s",
        event.camera_id,
        event.severity,
        event.threat_type,
        best.label,
        best.score,
        len(event.detections),
        event.event_id,
        extra={"camera_id": event.camera_id, "event_id": str(event.event_id)},
    )
