"""The IoU tracker: stable ids while boxes overlap, groups, misses, stillness."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from edge_agent.config import TrackingConfig
from edge_agent.detectors import Detection
from edge_agent.tracking import IouTracker, iou

START = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc)
GROUPS = {"backpack": "bag", "suitcase": "bag"}


def det(label: str, box: tuple[float, float, float, float], score: float = 0.8) -> Detection:
    """A detector output."""
    return Detection(label=label, class_id=0, score=score, box=box)


def tracker(**settings) -> IouTracker:
    """A tracker grouping backpack and suitcase as one bag."""
    return IouTracker(TrackingConfig(**settings), lambda label: GROUPS.get(label, label))


def at(seconds: float) -> datetime:
    """START plus some seconds."""
    return START + timedelta(seconds=seconds)


def test_iou_of_boxes():
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert iou((0, 0, 0.5, 1), (0.5, 0, 1, 1)) == 0.0
    assert iou((0, 0, 0.2, 0.2), (0.1, 0, 0.3, 0.2)) == pytest.approx(1 / 3)


def test_a_walking_object_keeps_its_id_and_a_newcomer_gets_the_next():
    follow = tracker()
    for step in range(10):
        [track] = follow.update(
            [det("person", (0.1 + step * 0.02, 0.2, 0.3 + step * 0.02, 0.9))], at(step)
        )
    assert track.track_id == 1 and track.hits == 10
    tracks = follow.update(
        [det("person", (0.3, 0.2, 0.5, 0.9)), det("person", (0.7, 0.1, 0.8, 0.4))], at(10)
    )
    assert sorted(t.track_id for t in tracks) == [1, 2]


def test_each_detection_goes_to_the_best_overlapping_track():
    follow = tracker()
    left, right = det("person", (0.1, 0.1, 0.3, 0.9)), det("person", (0.25, 0.1, 0.45, 0.9))
    follow.update([left, right], at(0))
    tracks = follow.update(
        [det("person", (0.26, 0.1, 0.46, 0.9)), det("person", (0.11, 0.1, 0.31, 0.9))], at(1)
    )
    assert {t.track_id: t.detection.box[0] for t in tracks} == {1: 0.11, 2: 0.26}


def test_labels_of_one_group_share_a_track_and_other_labels_do_not():
    follow = tracker()
    box = (0.4, 0.5, 0.5, 0.7)
    follow.update([det("backpack", box)], at(0))
    [bag] = follow.update([det("suitcase", box)], at(1))
    assert (bag.track_id, bag.detection.label) == (1, "suitcase")
    tracks = follow.update([det("suitcase", box), det("dog", box)], at(2))
    assert sorted((t.track_id, t.group) for t in tracks) == [(1, "bag"), (2, "dog")]


def test_a_track_survives_max_missed_runs_then_ends():
    follow = tracker(max_missed=2)
    box = (0.4, 0.5, 0.5, 0.7)
    follow.update([det("person", box)], at(0))
    assert [t.missed for t in follow.update([], at(1))] == [1]
    assert [t.seen for t in follow.update([], at(2))] == [False]
    assert follow.update([det("person", box)], at(3))[0].track_id == 1
    for second in (4, 5, 6):
        remaining = follow.update([], at(second))
    assert remaining == []


def test_stillness_is_measured_in_box_heights():
    follow = tracker(still_tolerance=0.2)
    follow.update([det("suitcase", (0.4, 0.5, 0.5, 0.9))], at(0))  # ground point (0.45, 0.9)
    # Ground point moved 0.054, under 0.2 box heights (0.09): still.
    [jitter] = follow.update([det("suitcase", (0.42, 0.5, 0.52, 0.95))], at(5))
    assert jitter.still_for_s(at(5)) == 5.0
    # Moved 0.102 from where it stood still, over 0.2 box heights (0.08): moving again.
    [moved] = follow.update([det("suitcase", (0.42, 0.6, 0.52, 1.0))], at(10))
    assert (moved.track_id, moved.still_for_s(at(10))) == (1, 0.0)
