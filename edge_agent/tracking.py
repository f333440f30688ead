"""A greedy IoU tracker: follows detected objects from one detector run to the next.

Frigate-style NVRs use IoU or centroid trackers too; at one capture per second or faster the
boxes of a walking person overlap from run to run, so IoU association is enough and needs no
extra dependency (SORT/ByteTrack add Kalman filters and scipy for crowded, fast scenes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from edge_agent.config import TrackingConfig
from edge_agent.zones import Box, Point, ground_point


class DetectedObject(Protocol):
    """What tracking and policy need of a detection (edge_agent.detectors.Detection has it)."""

    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def box(self) -> Box: ...


@dataclass
class Track:
    """One object followed across detector runs."""

    track_id: int
    group: str  # label group the tracker matches within (e.g. "bag" for backpack and suitcase)
    detection: DetectedObject  # the latest matched detection
    first_seen_at: datetime
    last_seen_at: datetime
    still_since: datetime  # since when the ground point has stayed near `anchor`
    anchor: Point
    missed: int = 0  # consecutive detector runs without a match
    hits: int = 1

    @property
    def seen(self) -> bool:
        """Whether the latest detector run matched this track."""
        return self.missed == 0

    @property
    def ground(self) -> Point:
        """The ground point of the latest matched box."""
        return ground_point(self.detection.box)

    def still_for_s(self, now: datetime) -> float:
        """How long, in seconds, the object has stood still."""
        return (now - self.still_since).total_seconds()


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


class IouTracker:
    """Matches detections to tracks by best IoU within a label group; no I/O, no clock."""

    def __init__(self, config: TrackingConfig, group_of: Callable[[str], str]) -> None:
        self.config = config
        self.group_of = group_of
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: Sequence[DetectedObject], now: datetime) -> list[Track]:
        """Feed one detector run; return the live tracks (seen now, or missed only briefly)."""
        groups = [self.group_of(detection.label) for detection in detections]
        pairs = sorted(
            (
                (iou(track.detection.box, detection.box), track_index, detection_index)
                for track_index, track in enumerate(self.tracks)
                for detection_index, detection in enumerate(detections)
                if track.group == groups[detection_index]
            ),
            reverse=True,
        )
        matched_tracks: set[int] = set()
        matched_detections: set[int] = set()
        for overlap, track_index, detection_index in pairs:
            if overlap < self.config.iou_threshold:
                break
            if track_index in matched_tracks or detection_index in matched_detections:
                continue
            matched_tracks.add(track_index)
            matched_detections.add(detection_index)
            self._follow(self.tracks[track_index], detections[detection_index], now)
        for track_index, track in enumerate(self.tracks):
            if track_index not in matched_tracks:
                track.missed += 1
        self.tracks = [track for track in self.tracks if track.missed <= self.config.max_missed]
        for detection_index, detection in enumerate(detections):
            if detection_index not in matched_detections:
                self.tracks.append(self._start(detection, groups[detection_index], now))
        return list(self.tracks)

    def _start(self, detection: DetectedObject, group: str, now: datetime) -> Track:
        track = Track(
            track_id=self._next_id,
            group=group,
            detection=detection,
            first_seen_at=now,
            last_seen_at=now,
            still_since=now,
            anchor=ground_point(detection.box),
        )
        self._next_id += 1
        return track

    def _follow(self, track: Track, detection: DetectedObject, now: datetime) -> None:
        track.detection = detection
        track.last_seen_at = now
        track.missed = 0
        track.hits += 1
        point = ground_point(detection.box)
        box_height = max(detection.box[3] - detection.box[1], 1e-6)
        # Measured in box heights, so that jitter of a far (small) object is not taken for a move.
        if math.dist(point, track.anchor) > self.config.still_tolerance * box_height:
            track.anchor = point
            track.still_since = now
