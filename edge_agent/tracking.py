"""A greedy tracker: follows detected objects from one detector run to the next.

Each track's box is first moved by the track's last velocity (constant velocity, as SORT does
without its Kalman filter), then matched to the detections by IoU. The tracks and detections
left over are matched by distance: a detection whose ground point lies within `max_speed` box
heights per elapsed second of the predicted one, and whose height is within `max_size_change`
of the track's, joins the nearest track. The second pass is what follows walkers at one capture
per second: a small, distant walker moves more than its own width in a second, so its boxes
from run to run do not overlap and IoU alone started a new track at every capture (148 track
ids for a 35 s street clip; docs/threat-quality.md). Both passes are greedy, best pair first:
deterministic, no dependency (SORT and ByteTrack add a Kalman filter and scipy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from edge_agent.config import TrackingConfig
from edge_agent.zones import Box, Point, ground_point

# Weight of the latest measured velocity against the previous estimate: smooths box jitter,
# which at 10 captures per second is as large as a walker's move between them.
VELOCITY_GAIN = 0.5


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
    velocity: Point = (0.0, 0.0)  # ground-point move per second, normalised image units

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

    def predicted_box(self, now: datetime) -> Box:
        """The latest box moved by the track's velocity up to `now`."""
        elapsed = (now - self.last_seen_at).total_seconds()
        dx, dy = self.velocity[0] * elapsed, self.velocity[1] * elapsed
        x0, y0, x1, y1 = self.detection.box
        return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def height(box: Box) -> float:
    """A box's height, never zero."""
    return max(box[3] - box[1], 1e-6)


def gated_distance(
    predicted: Box, box: Box, elapsed_s: float, config: TrackingConfig
) -> float | None:
    """Ground-point distance in box heights, or None when the move or the size change is too
    large to be the same object."""
    heights = height(predicted), height(box)
    if max(heights) / min(heights) > config.max_size_change:
        return None
    # Measured in box heights, so that the gate scales with how near the object is.
    distance = math.dist(ground_point(predicted), ground_point(box)) / (sum(heights) / 2)
    return distance if distance <= config.max_speed * elapsed_s else None


def greedy_pairs(scored: Iterable[tuple[float, int, int]]) -> list[tuple[int, int]]:
    """One-to-one (track, detection) pairs taken lowest cost first; ties by index."""
    pairs: list[tuple[int, int]] = []
    used_tracks: set[int] = set()
    used_detections: set[int] = set()
    for _, track_index, detection_index in sorted(scored):
        if track_index in used_tracks or detection_index in used_detections:
            continue
        used_tracks.add(track_index)
        used_detections.add(detection_index)
        pairs.append((track_index, detection_index))
    return pairs


class IouTracker:
    """Matches detections to tracks within a label group, by predicted IoU then by distance;
    no I/O, no clock."""

    def __init__(self, config: TrackingConfig, group_of: Callable[[str], str]) -> None:
        self.config = config
        self.group_of = group_of
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: Sequence[DetectedObject], now: datetime) -> list[Track]:
        """Feed one detector run; return the live tracks (seen now, or missed only briefly)."""
        groups = [self.group_of(detection.label) for detection in detections]
        boxes = [detection.box for detection in detections]
        predicted = [track.predicted_box(now) for track in self.tracks]
        candidates = [
            (track_index, detection_index)
            for track_index, track in enumerate(self.tracks)
            for detection_index, group in enumerate(groups)
            if track.group == group
        ]
        pairs = self._match_overlaps(predicted, boxes, candidates)
        taken_tracks, taken_detections = {t for t, _ in pairs}, {d for _, d in pairs}
        left = [
            (t, d) for t, d in candidates if t not in taken_tracks and d not in taken_detections
        ]
        pairs += self._match_distances(predicted, boxes, left, now)
        for track_index, detection_index in pairs:
            self._follow(self.tracks[track_index], detections[detection_index], now)
        matched_tracks = {track_index for track_index, _ in pairs}
        for track_index, track in enumerate(self.tracks):
            if track_index not in matched_tracks:
                track.missed += 1
        self.tracks = [track for track in self.tracks if track.missed <= self.config.max_missed]
        matched_detections = {detection_index for _, detection_index in pairs}
        for detection_index, detection in enumerate(detections):
            if detection_index not in matched_detections:
                self.tracks.append(self._start(detection, groups[detection_index], now))
        return list(self.tracks)

    def _match_overlaps(
        self, predicted: list[Box], boxes: list[Box], candidates: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """Pairs whose predicted and detected boxes overlap enough, best IoU first."""
        overlaps = ((iou(predicted[t], boxes[d]), t, d) for t, d in candidates)
        # Negated, so that greedy_pairs takes the largest overlap first.
        return greedy_pairs(
            (-overlap, t, d) for overlap, t, d in overlaps if overlap >= self.config.iou_threshold
        )

    def _match_distances(
        self,
        predicted: list[Box],
        boxes: list[Box],
        candidates: list[tuple[int, int]],
        now: datetime,
    ) -> list[tuple[int, int]]:
        """Pairs within the speed and size gates, nearest first."""
        scored = []
        for t, d in candidates:
            elapsed = (now - self.tracks[t].last_seen_at).total_seconds()
            distance = gated_distance(predicted[t], boxes[d], elapsed, self.config)
            if distance is not None:
                scored.append((distance, t, d))
        return greedy_pairs(scored)

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
        elapsed = (now - track.last_seen_at).total_seconds()
        point = ground_point(detection.box)
        if elapsed > 0:
            previous = track.ground
            measured = ((point[0] - previous[0]) / elapsed, (point[1] - previous[1]) / elapsed)
            gain = 1.0 if track.hits == 1 else VELOCITY_GAIN
            track.velocity = (
                track.velocity[0] + gain * (measured[0] - track.velocity[0]),
                track.velocity[1] + gain * (measured[1] - track.velocity[1]),
            )
        track.detection = detection
        track.last_seen_at = now
        track.missed = 0
        track.hits += 1
        box_height = height(detection.box)
        # Measured in box heights, so that jitter of a far (small) object is not taken for a move.
        if math.dist(point, track.anchor) > self.config.still_tolerance * box_height:
            track.anchor = point
            track.still_since = now
