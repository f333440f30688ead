"""The tracker: stable ids while boxes overlap or a walker moves within the speed gate, groups,
misses, stillness, and its settings' errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge_agent.config import ConfigError, TrackingConfig, config_from_mapping
from edge_agent.detectors import Detection
from edge_agent.tracking import IouTracker, iou
from tests.test_agent_config import changed

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


def walker(x: float, height: float = 0.14, foot: float = 0.55) -> Detection:
    """A small, distant walker: a box 0.04 wide whose ground point is (x + 0.02, foot)."""
    return det("person", (x, foot - height, x + 0.04, foot))


def test_a_walker_whose_boxes_do_not_overlap_keeps_its_id_at_one_capture_a_second():
    # 0.1 a second is 2.5 box widths: consecutive boxes never overlap (as in the street clip).
    follow = tracker()
    ids = {
        track.track_id
        for step in range(8)
        for track in follow.update([walker(0.1 + 0.1 * step)], at(step))
    }
    assert ids == {1}
    assert follow.tracks[0].hits == 8


def test_with_max_speed_zero_only_overlapping_boxes_are_followed():
    follow = tracker(max_speed=0)
    for step in range(3):
        follow.update([walker(0.1 + 0.1 * step)], at(step))
    assert [track.track_id for track in follow.tracks if track.seen] == [3]


def test_a_move_beyond_the_speed_gate_or_a_different_size_starts_a_new_track():
    follow = tracker(max_speed=1.5, max_size_change=1.5)
    follow.update([walker(0.1)], at(0))
    # 0.25 in one second is 1.8 box heights of 0.14: faster than the gate.
    [_, far] = follow.update([walker(0.35)], at(1))
    assert far.track_id == 2
    # Next to track 2 but twice its height: another object (a nearer person, a partial box).
    tracks = follow.update([walker(0.45, height=0.28)], at(2))
    assert sorted(t.track_id for t in tracks if t.seen) == [3]


def test_the_gate_grows_with_the_time_since_the_track_was_last_seen():
    follow = tracker()
    follow.update([walker(0.1)], at(0))
    follow.update([], at(1))
    # 0.3 away after 2 s: 2.1 box heights, within 1.5 a second.
    [track] = follow.update([walker(0.4)], at(2))
    assert (track.track_id, track.hits) == (1, 2)


def test_two_walkers_crossing_keep_their_ids():
    # Face to face at 1 capture a second: just after they pass, each detection lies nearer the
    # other walker's last box than its own; only the predicted move tells them apart.
    follow = tracker()
    seen: dict[int, list[float]] = {1: [], 2: []}
    for step in range(7):
        left, right = walker(0.2 + 0.08 * step), walker(0.66 - 0.08 * step, foot=0.56)
        for track in follow.update([left, right], at(step)):
            seen[track.track_id].append(round(track.detection.box[0], 2))
    assert seen == {
        1: [0.2, 0.28, 0.36, 0.44, 0.52, 0.6, 0.68],
        2: [0.66, 0.58, 0.5, 0.42, 0.34, 0.26, 0.18],
    }


def test_two_people_walking_side_by_side_stay_two_tracks():
    # Half a box height apart across their way, each moving 2.5 box widths a second.
    follow = tracker()
    for step in range(6):
        pair = [walker(0.1 + 0.1 * step), walker(0.12 + 0.1 * step, foot=0.62)]
        tracks = follow.update(pair, at(step))
    assert [(t.track_id, t.hits, t.detection.box[3]) for t in tracks] == [
        (1, 6, 0.55),
        (2, 6, 0.62),
    ]


def test_a_still_object_is_not_predicted_away():
    follow = tracker()
    box = (0.4, 0.5, 0.5, 0.7)
    for second in range(5):
        [bag] = follow.update([det("suitcase", box)], at(second))
    assert bag.velocity == (0.0, 0.0) and bag.still_for_s(at(4)) == 4.0


@pytest.mark.parametrize(
    ("tracking", "key"),
    [
        ({"max_speed": -1}, "cameras.0.tracking.max_speed"),
        ({"max_speed": 25}, "cameras.0.tracking.max_speed"),
        ({"max_size_change": 0.5}, "cameras.0.tracking.max_size_change"),
    ],
)
def test_bad_tracking_settings_name_the_key(tracking, key):
    document = changed(cameras__0__tracking=tracking)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_mapping(document, base_dir=Path("/"))
