"""Turns per-frame detections into confirmed threats: N consecutive captures, then a cool-down."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from edge_agent.config import CameraConfig, RuleConfig
from vigie_contract import Detection, EventV1, Location, ModelInfo

# The contract caps the detections carried by one event.
MAX_EVENT_DETECTIONS = 100


class DetectedObject(Protocol):
    """What the policy needs of a detection (edge_agent.detectors.Detection has it)."""

    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def box(self) -> tuple[float, float, float, float]: ...


@dataclass
class _RuleState:
    """Progress of one rule: consecutive matching captures, and when it last alerted."""

    streak: int = 0
    last_alert_at: datetime | None = None


class ThreatPolicy:
    """Confirmation and cool-down for every rule of one camera; pure (no I/O, no clock)."""

    def __init__(self, agent_id: str, camera: CameraConfig, model: ModelInfo) -> None:
        self.agent_id = agent_id
        self.camera = camera
        self.model = model
        self._states = [_RuleState() for _ in camera.rules]

    def observe(self, detections: Sequence[DetectedObject], captured_at: datetime) -> list[EventV1]:
        """Feed one capture's detections; return the events it confirms (one per rule at most)."""
        events = []
        for rule, state in zip(self.camera.rules, self._states, strict=True):
            matches = matching_detections(rule, detections)
            state.streak = state.streak + 1 if matches else 0
            if state.streak < rule.confirm_frames or _cooling_down(rule, state, captured_at):
                continue
            # Each event is backed by its own run of confirm_frames captures.
            state.streak = 0
            state.last_alert_at = captured_at
            events.append(self._event(rule, matches, captured_at))
        return events

    def _event(
        self, rule: RuleConfig, matches: list[DetectedObject], captured_at: datetime
    ) -> EventV1:
        position = self.camera.position
        return EventV1(
            event_id=uuid.uuid4(),
            agent_id=self.agent_id,
            camera_id=self.camera.id,
            captured_at=captured_at,
            threat_type=rule.threat_type,
            severity=rule.severity,
            detections=[_to_contract(match) for match in matches[:MAX_EVENT_DETECTIONS]],
            location=Location(
                lat=position.lat, lon=position.lon, source="camera", accuracy_m=position.accuracy_m
            ),
            perimeter_m=rule.perimeter_m,
            model=self.model,
        )


def matching_detections(
    rule: RuleConfig, detections: Sequence[DetectedObject]
) -> list[DetectedObject]:
    """The detections that satisfy a rule (a listed label, score >= min_score), best first."""
    labels = set(rule.labels)
    matches = [d for d in detections if d.label in labels and d.score >= rule.min_score]
    return sorted(matches, key=lambda d: d.score, reverse=True)


def _cooling_down(rule: RuleConfig, state: _RuleState, captured_at: datetime) -> bool:
    if state.last_alert_at is None:
        return False
    return captured_at - state.last_alert_at < timedelta(seconds=rule.cooldown_s)


def _to_contract(detection: DetectedObject) -> Detection:
    """The wire form of a detection; the box is clipped to [0, 1] as the contract requires."""
    x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in detection.box)
    return Detection(label=detection.label, score=float(detection.score), box=(x0, y0, x1, y1))
