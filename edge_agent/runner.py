"""Runs the agent: one capture loop per camera, detect, confirm threats, publish via the outbox."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.config import DEFAULT_LABEL_GROUPS, AgentConfig, CameraConfig
from edge_agent.detectors import Detection, Detector, create_detector
from edge_agent.geo import Geolocator
from edge_agent.health import CameraStats, HealthMonitor, TimedDetector
from edge_agent.motion import MotionGate
from edge_agent.outbox import Outbox
from edge_agent.policy import Threat, ThreatPolicy, threat_event
from edge_agent.privacy import (
    Box,
    FaceDetector,
    anonymise_snapshot,
    mask_frame,
    require_face_model,
)
from edge_agent.publisher import Publisher
from edge_agent.snapshot import DrawnBox, fit_width, render_snapshot, snapshot_topic
from edge_agent.sources import Frame, open_source
from vigie_contract import EventV1, ModelInfo, SnapshotRef, event_topic

logger = logging.getLogger(__name__)


class SharedDetector:
    """Detectors shared by all camera threads, each serving one frame at a time (a TFLite
    interpreter is not thread-safe): a camera takes whichever is free."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.name = detectors[0].name
        self.sha256 = detectors[0].sha256
        self._free: queue.SimpleQueue[Detector] = queue.SimpleQueue()
        for detector in detectors:
            self._free.put(detector)

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """The detections of a free detector, waiting for one if all are busy."""
        detector = self._free.get()
        try:
            return detector.detect(frame_bgr)
        finally:
            self._free.put(detector)


@dataclass(frozen=True)
class Alert:
    """A confirmed threat ready to publish: its event and, if any, its snapshot JPEG."""

    event: EventV1
    snapshot: bytes | None


@dataclass
class PipelineStats:
    """Per-camera counters of the frame pipeline."""

    frames: int = 0
    detector_runs: int = 0
    last_motion_ratio: float | None = None


class CameraPipeline:
    """One camera's per-frame work: motion → detect → track → policy → geolocate → snapshot."""

    def __init__(
        self,
        camera: CameraConfig,
        agent_id: str,
        detector: SharedDetector | Detector,
        model: ModelInfo,
        label_groups: Mapping[str, Sequence[str]] = DEFAULT_LABEL_GROUPS,
        face_model: Path | None = None,
    ) -> None:
        self.camera = camera
        self.agent_id = agent_id
        self.detector = detector
        self.model = model
        self.motion = MotionGate(camera.motion)
        self.policy = ThreatPolicy(camera, label_groups)
        self.geolocator = Geolocator(camera.position, camera.calibration)
        self.stats = PipelineStats()
        # One face model per camera thread: TFLite interpreters are not thread-safe.
        blurs_faces = camera.snapshot.enabled and camera.privacy.blur_faces
        self.faces = (
            FaceDetector(camera.privacy.face_min_score, face_model) if blurs_faces else None
        )

    def process(self, frame: Frame) -> list[Alert]:
        """The alerts one frame confirms (none when motion gating skips the detector)."""
        self.stats.frames += 1
        # Masked first: motion, detection and snapshot never see what a mask covers.
        image = mask_frame(frame.image, self.camera.privacy.masks)
        motion = self.motion.check(image, frame.captured_at)
        self.stats.last_motion_ratio = motion.ratio
        if not motion.run_detector:
            return []
        self.stats.detector_runs += 1
        detections = self.detector.detect(image)
        threats = self.policy.observe(detections, frame.captured_at)
        if not threats:
            return []
        # Once per frame, however many threats it confirms: each snapshot blurs the same faces,
        # found on the full frame, in the same frame scaled down to the snapshot's width.
        faces = self.faces.detect(image) if self.faces is not None else []
        snapshot = self.camera.snapshot
        scene = fit_width(image, snapshot.max_width) if snapshot.enabled else image
        return [self._alert(threat, scene, faces) for threat in threats]

    def _alert(self, threat: Threat, scene: np.ndarray, faces: Sequence[Box]) -> Alert:
        event_id = uuid.uuid4()
        snapshot = self._snapshot(threat, scene, faces)
        reference = None
        if snapshot is not None:
            topic = snapshot_topic(self.agent_id, self.camera.id, event_id)
            reference = SnapshotRef(topic=topic, bytes=len(snapshot))
        event = threat_event(
            self.agent_id,
            self.camera.id,
            threat,
            self.geolocator.locate(threat.detection.box),
            self.model,
            event_id,
            reference,
        )
        return Alert(event=event, snapshot=snapshot)

    def _snapshot(self, threat: Threat, scene: np.ndarray, faces: Sequence[Box]) -> bytes | None:
        if not self.camera.snapshot.enabled:
            return None
        boxes = [
            DrawnBox(track.detection, track.track_id, track.track_id == threat.track_id)
            for track in self.policy.tracks
            if track.seen
        ]
        bystanders = [
            track.detection.box
            for track in self.policy.tracks
            if track.seen
            and track.detection.label == "person"
            and track.track_id != threat.track_id
        ]
        private = anonymise_snapshot(scene, self.camera.privacy, faces, bystanders)
        snapshot = render_snapshot(private, boxes, self.camera.snapshot)
        if snapshot is None:
            logger.warning(
                "camera %s: snapshot does not fit in %d bytes; event sent without one",
                self.camera.id,
                self.camera.snapshot.max_bytes,
                extra={"camera_id": self.camera.id},
            )
        return snapshot


def run_agent(config: AgentConfig, stop: threading.Event | None = None) -> None:
    """Run every camera until its media ends or `stop` is set, then until the outbox is drained."""
    stop = stop or threading.Event()
    require_face_model(config)
    detector = SharedDetector(
        [create_detector(config.detector) for _ in range(config.detector.interpreters)]
    )
    model = ModelInfo(name=detector.name, sha256=detector.sha256)
    logger.info(
        "agent %s: %d camera(s), model %s, broker %s:%d",
        config.agent_id,
        len(config.cameras),
        model.name,
        config.mqtt.host,
        config.mqtt.port,
    )
    stats = [CameraStats(camera.id, camera.source.offline_after_s) for camera in config.cameras]
    with (
        Outbox(config.outbox_path, config.outbox) as outbox,
        Publisher(config.mqtt, outbox, agent_id=config.agent_id) as publisher,
        HealthMonitor(
            config.agent_id, stats, publisher, outbox, config.heartbeat.interval_s
        ) as health,
    ):
        publisher.start()
        health.start()
        threads = [
            threading.Thread(
                target=run_camera,
                args=(camera, config.agent_id, detector, model, publisher, stop),
                kwargs={
                    "label_groups": config.label_groups,
                    "stats": camera_stats,
                    "face_model": config.face_model,
                },
                name=f"camera-{camera.id}",
                daemon=True,
            )
            for camera, camera_stats in zip(config.cameras, stats, strict=True)
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
            "stopped with %d undelivered message(s) (events, snapshots, statuses)"
            " kept in %s for the next run",
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
    label_groups: Mapping[str, Sequence[str]] = DEFAULT_LABEL_GROUPS,
    stats: CameraStats | None = None,
    face_model: Path | None = None,
) -> None:
    """Capture, detect and confirm threats for one camera until its source ends; never raises.

    `stats` collects the camera's health figures (frames, detector time, failures).
    """
    stats = stats or CameraStats(camera.id, camera.source.offline_after_s)
    try:
        timed = TimedDetector(detector, stats)
        pipeline = CameraPipeline(camera, agent_id, timed, model, label_groups, face_model)
        _capture_loop(camera, pipeline, publisher, stop, stats)
    except Exception:
        # One broken camera must not take the agent's other cameras down with it.
        logger.exception("camera %s: stopped by an unexpected error", camera.id)
    stats.capture_ended()
    logger.info("camera %s: capture ended", camera.id, extra={"camera_id": camera.id})


def _capture_loop(
    camera: CameraConfig,
    pipeline: CameraPipeline,
    publisher: Publisher,
    stop: threading.Event,
    stats: CameraStats,
) -> None:
    topic = event_topic(pipeline.agent_id, camera.id)
    source = open_source(camera.source, camera.id, stop, observer=stats)
    next_capture = time.monotonic()
    with closing(source.frames()) as frames:
        for frame in frames:
            for alert in pipeline.process(frame):
                # The snapshot goes first, so that the hub can show it as soon as the event lands.
                if alert.snapshot is not None and alert.event.snapshot is not None:
                    publisher.publish(alert.event.snapshot.topic, alert.snapshot)
                publisher.publish(topic, alert.event.to_json())
                _log_threat(alert.event)
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
