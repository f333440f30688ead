"""Threat policy: turns tracked objects into confirmed threats; pure (no I/O, no clock).

A rule confirms a tracked object when it is seen now with score >= min_score, the median of
its last confirm_frames scores (0 for runs where it was missed or out of the rule's zones) is
>= min_score, and the rule's own condition (zone, time window, dwell, left behind) holds. The
same track then waits cooldown_s, and needs confirm_frames fresh captures, before it re-alerts.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge_agent.config import (
    DEFAULT_LABEL_GROUPS,
    ActiveHoursConfig,
    CameraConfig,
    RuleConfig,
    ZoneConfig,
)
from edge_agent.tracking import DetectedObject, IouTracker, Track
from edge_agent.zones import Box, Point, zones_containing
from vigie_contract import Detection, EventV1, Location, ModelInfo, SnapshotRef


@dataclass(frozen=True)
class Threat:
    """A rule confirmed on one tracked object at one capture."""

    rule: RuleConfig
    track_id: int
    detection: DetectedObject
    captured_at: datetime
    # loitering: time inside the rule's zones; abandoned: time standing still unattended.
    duration_s: float | None = None


@dataclass
class _TrackProgress:
    """One rule's memory of one track."""

    scores: deque[float]
    inside_since: datetime | None = None
    last_alert_at: datetime | None = None


@dataclass
class _RuleState:
    rule: RuleConfig
    labels: frozenset[str]
    owner_labels: frozenset[str]
    zones: tuple[ZoneConfig, ...]
    progress: dict[int, _TrackProgress] = field(default_factory=dict)


def expand_labels(labels: Sequence[str], groups: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """Detector labels named by a rule: group names are replaced by their members."""
    expanded: set[str] = set()
    for label in labels:
        expanded.update(groups.get(label, [label]))
    return frozenset(expanded)


def group_lookup(groups: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Each grouped label's group name (the first group listing it wins)."""
    lookup: dict[str, str] = {}
    for name, members in groups.items():
        for member in members:
            lookup.setdefault(member, name)
    return lookup


class ThreatPolicy:
    """Tracks one camera's objects and applies its rules to them."""

    def __init__(
        self,
        camera: CameraConfig,
        label_groups: Mapping[str, Sequence[str]] = DEFAULT_LABEL_GROUPS,
    ) -> None:
        self.camera = camera
        lookup = group_lookup(label_groups)
        self.tracker = IouTracker(camera.tracking, lambda label: lookup.get(label, label))
        zones_by_name = {zone.name: zone for zone in camera.zones}
        self._rules = [
            _RuleState(
                rule=rule,
                labels=expand_labels(rule.labels, label_groups),
                owner_labels=expand_labels(rule.owner_labels, label_groups),
                zones=tuple(zones_by_name[name] for name in rule.zones),
            )
            for rule in camera.rules
        ]

    @property
    def tracks(self) -> list[Track]:
        """The live tracks after the latest observation."""
        return list(self.tracker.tracks)

    def observe(self, detections: Sequence[DetectedObject], captured_at: datetime) -> list[Threat]:
        """Feed one detector run's detections; return the threats it confirms."""
        tracks = self.tracker.update(detections, captured_at)
        threats: list[Threat] = []
        for state in self._rules:
            threats.extend(_apply_rule(state, tracks, captured_at))
        return threats


def _apply_rule(state: _RuleState, tracks: list[Track], now: datetime) -> list[Threat]:
    rule = state.rule
    active = rule.active_hours is None or within_hours(rule.active_hours, now)
    owners = [t.detection.box for t in tracks if t.seen and t.detection.label in state.owner_labels]
    threats = []
    for track in tracks:
        if track.detection.label not in state.labels:
            continue
        progress = state.progress.setdefault(
            track.track_id, _TrackProgress(scores=deque(maxlen=rule.confirm_frames))
        )
        inside = track.seen and (
            not state.zones or bool(zones_containing(state.zones, track.ground))
        )
        progress.inside_since = (progress.inside_since or now) if inside else None
        counts = inside and active
        progress.scores.append(track.detection.score if counts else 0.0)
        holds, duration_s = _kind_condition(rule, track, progress, owners, now)
        if not (counts and holds and _confirmed(rule, progress, track, now)):
            continue
        progress.scores.clear()
        progress.last_alert_at = now
        threats.append(
            Threat(
                rule=rule,
                track_id=track.track_id,
                detection=track.detection,
                captured_at=now,
                duration_s=duration_s,
            )
        )
    live = {track.track_id for track in tracks}
    state.progress = {tid: p for tid, p in state.progress.items() if tid in live}
    return threats


def _kind_condition(
    rule: RuleConfig,
    track: Track,
    progress: _TrackProgress,
    owners: list[Box],
    now: datetime,
) -> tuple[bool, float | None]:
    """Whether the rule kind's own condition holds, and the time it measures (if any)."""
    if rule.kind == "loitering":
        if progress.inside_since is None or rule.dwell_s is None:
            return False, None
        dwell = (now - progress.inside_since).total_seconds()
        return dwell >= rule.dwell_s, dwell
    if rule.kind == "abandoned":
        still = track.still_for_s(now)
        attended = any(
            distance_to_box(track.ground, owner) <= rule.owner_distance for owner in owners
        )
        return not attended and still >= (rule.unattended_s or 0.0), still
    return True, None


def distance_to_box(point: Point, box: Box) -> float:
    """Distance from a point to a box (0 inside it): a carried bag lies within its owner's box."""
    x, y = point
    dx = max(box[0] - x, 0.0, x - box[2])
    dy = max(box[1] - y, 0.0, y - box[3])
    return math.hypot(dx, dy)


def _confirmed(rule: RuleConfig, progress: _TrackProgress, track: Track, now: datetime) -> bool:
    if len(progress.scores) < rule.confirm_frames or track.detection.score < rule.min_score:
        return False
    if statistics.median(progress.scores) < rule.min_score:
        return False
    last = progress.last_alert_at
    return last is None or now - last >= timedelta(seconds=rule.cooldown_s)


def within_hours(hours: ActiveHoursConfig, now: datetime) -> bool:
    """Whether an aware time falls in a daily window, read in the window's own time zone."""
    local = now.astimezone(ZoneInfo(hours.timezone)).time()
    if hours.start <= hours.end:
        return hours.start <= local < hours.end
    return local >= hours.start or local < hours.end


def threat_event(
    agent_id: str,
    camera_id: str,
    threat: Threat,
    location: Location,
    model: ModelInfo,
    event_id: uuid.UUID,
    snapshot: SnapshotRef | None = None,
) -> EventV1:
    """The wire event reporting a confirmed threat."""
    rule = threat.rule
    return EventV1(
        event_id=event_id,
        agent_id=agent_id,
        camera_id=camera_id,
        captured_at=threat.captured_at,
        threat_type=rule.threat_type,
        severity=rule.severity,
        detections=[to_contract(threat.detection, threat.track_id)],
        location=location,
        perimeter_m=rule.perimeter_m,
        model=model,
        snapshot=snapshot,
    )


def to_contract(detection: DetectedObject, track_id: int | None = None) -> Detection:
    """The wire form of a detection; the box is clipped to [0, 1] as the contract requires."""
    x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in detection.box)
    return Detection(
        label=detection.label, score=float(detection.score), box=(x0, y0, x1, y1), track_id=track_id
    )
