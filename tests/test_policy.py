"""Threat confirmation over consecutive captures, cool-down, label groups, and the events made."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from edge_agent.config import CameraConfig
from edge_agent.detectors import Detection
from edge_agent.policy import ThreatPolicy
from vigie_contract import ModelInfo, parse_event

MODEL = ModelInfo(name="mobilenet_ssd_v2_coco_quant_postprocess", sha256="ab" * 32)
START = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc)

PERSON = Detection(label="person", class_id=0, score=0.81, box=(0.1, 0.2, 0.3, 0.9))
WEAK_PERSON = Detection(label="person", class_id=0, score=0.42, box=(0.1, 0.2, 0.3, 0.9))
CAR = Detection(label="car", class_id=2, score=0.9, box=(0.5, 0.5, 0.9, 0.8))
BACKPACK = Detection(label="backpack", class_id=26, score=0.6, box=(0.4, 0.3, 0.5, 0.5))
HANDBAG = Detection(label="handbag", class_id=30, score=0.55, box=(0.6, 0.6, 0.7, 0.7))
SUITCASE = Detection(label="suitcase", class_id=32, score=0.77, box=(0.2, 0.5, 0.4, 0.9))


def camera(*rules: dict[str, Any]) -> CameraConfig:
    """A camera at a fixed place with the given rules."""
    return CameraConfig.model_validate(
        {
            "id": "platform-3",
            "source": {"type": "folder", "path": "/frames"},
            "position": {"lat": 45.764, "lon": 4.8357, "accuracy_m": 12},
            "rules": list(rules),
        }
    )


def rule(**overrides: Any) -> dict[str, Any]:
    """A person-intrusion rule: 3 captures to confirm, 10 s cool-down."""
    return {
        "labels": ["person"],
        "threat_type": "intrusion",
        "severity": "high",
        "min_score": 0.5,
        "confirm_frames": 3,
        "cooldown_s": 10,
        "perimeter_m": 40,
        **overrides,
    }


def feed(policy: ThreatPolicy, captures: list[list[Detection]], start: datetime = START) -> list:
    """Observe one capture per second; return, per capture, the events it produced."""
    return [
        policy.observe(detections, start + timedelta(seconds=index))
        for index, detections in enumerate(captures)
    ]


def test_threat_is_confirmed_on_the_nth_consecutive_capture():
    policy = ThreatPolicy("agent-7", camera(rule()), MODEL)
    produced = feed(policy, [[PERSON], [PERSON, CAR], [PERSON]])
    assert [len(events) for events in produced] == [0, 0, 1]


def test_event_carries_the_capture_place_rule_and_model():
    policy = ThreatPolicy("agent-7", camera(rule()), MODEL)
    second_person = Detection(label="person", class_id=0, score=0.93, box=(0.6, 0.1, 0.7, 0.5))
    *_, [event] = feed(policy, [[PERSON], [PERSON], [PERSON, CAR, second_person]])

    assert event.event_id.version == 4
    assert (event.agent_id, event.camera_id) == ("agent-7", "platform-3")
    assert event.captured_at == START + timedelta(seconds=2)
    assert (event.threat_type, event.severity, event.perimeter_m) == ("intrusion", "high", 40)
    assert [(d.label, d.score, d.box) for d in event.detections] == [
        ("person", 0.93, (0.6, 0.1, 0.7, 0.5)),
        ("person", 0.81, (0.1, 0.2, 0.3, 0.9)),
    ]
    location = event.location
    assert (location.lat, location.lon, location.source, location.accuracy_m) == (
        45.764,
        4.8357,
        "camera",
        12,
    )
    assert event.model == MODEL
    assert parse_event(event.to_json()) == event


def test_each_event_gets_a_fresh_id():
    policy = ThreatPolicy("agent-7", camera(rule(confirm_frames=1, cooldown_s=0)), MODEL)
    events = [event for events in feed(policy, [[PERSON]] * 4) for event in events]
    assert len({event.event_id for event in events}) == 4


def test_a_gap_resets_the_count():
    policy = ThreatPolicy("agent-7", camera(rule()), MODEL)
    produced = feed(policy, [[PERSON], [PERSON], [CAR], [PERSON], [PERSON], [], [PERSON]])
    assert not any(produced)
    assert policy.observe([PERSON], START + timedelta(seconds=7)) == []
    assert len(policy.observe([PERSON], START + timedelta(seconds=8))) == 1


def test_detections_below_min_score_do_not_count():
    policy = ThreatPolicy("agent-7", camera(rule()), MODEL)
    produced = feed(policy, [[PERSON], [WEAK_PERSON], [PERSON], [PERSON]])
    assert [len(events) for events in produced] == [0, 0, 0, 0]


def test_min_score_is_inclusive():
    policy = ThreatPolicy("agent-7", camera(rule(min_score=0.42, confirm_frames=1)), MODEL)
    assert len(policy.observe([WEAK_PERSON], START)) == 1


def test_cooldown_holds_back_repeats_until_it_has_passed():
    policy = ThreatPolicy("agent-7", camera(rule(confirm_frames=2, cooldown_s=10)), MODEL)
    # Captures once per second at t = 0..13 with a person in every one.
    produced = feed(policy, [[PERSON]] * 14)
    alert_times = [index for index, events in enumerate(produced) if events]
    assert alert_times == [1, 11]


def test_cooldown_is_per_rule():
    policy = ThreatPolicy(
        "agent-7",
        camera(
            rule(confirm_frames=1, cooldown_s=60),
            rule(labels=["car"], threat_type="vehicle", severity="low", confirm_frames=1),
        ),
        MODEL,
    )
    first = policy.observe([PERSON], START)
    second = policy.observe([PERSON, CAR], START + timedelta(seconds=1))
    assert [event.threat_type for event in first] == ["intrusion"]
    assert [event.threat_type for event in second] == ["vehicle"]


def test_cooldown_counts_capture_time_not_captures():
    policy = ThreatPolicy("agent-7", camera(rule(confirm_frames=1, cooldown_s=10)), MODEL)
    assert len(policy.observe([PERSON], START)) == 1
    assert policy.observe([PERSON], START + timedelta(seconds=9.999)) == []
    assert len(policy.observe([PERSON], START + timedelta(seconds=10))) == 1


def test_a_label_group_confirms_across_its_labels():
    bags = rule(
        labels=["backpack", "handbag", "suitcase"],
        threat_type="abandoned_object",
        severity="medium",
        min_score=0.5,
    )
    policy = ThreatPolicy("agent-7", camera(bags), MODEL)
    produced = feed(policy, [[BACKPACK, PERSON], [SUITCASE], [HANDBAG, SUITCASE, CAR]])

    assert [len(events) for events in produced] == [0, 0, 1]
    [event] = produced[-1]
    assert event.threat_type == "abandoned_object"
    assert [d.label for d in event.detections] == ["suitcase", "handbag"]


def test_rules_of_one_camera_are_independent():
    bags = rule(labels=["backpack", "handbag", "suitcase"], threat_type="abandoned_object")
    policy = ThreatPolicy("agent-7", camera(rule(confirm_frames=2), bags), MODEL)
    produced = feed(policy, [[PERSON, BACKPACK], [PERSON, BACKPACK], [BACKPACK]])
    assert [[event.threat_type for event in events] for events in produced] == [
        [],
        ["intrusion"],
        ["abandoned_object"],
    ]


def test_boxes_slightly_outside_the_frame_are_clipped_to_the_contract():
    overflowing = Detection(label="person", class_id=0, score=0.7, box=(-0.02, 0.1, 0.5, 1.03))
    policy = ThreatPolicy("agent-7", camera(rule(confirm_frames=1)), MODEL)
    [event] = policy.observe([overflowing], START)
    assert event.detections[0].box == (0.0, 0.1, 0.5, 1.0)
    assert parse_event(event.to_json()) == event


def test_capture_times_in_other_zones_become_utc():
    paris = timezone(timedelta(hours=2))
    policy = ThreatPolicy("agent-7", camera(rule(confirm_frames=1)), MODEL)
    [event] = policy.observe([PERSON], datetime(2026, 5, 4, 14, 0, tzinfo=paris))
    assert event.captured_at == START
    assert event.captured_at.tzinfo == timezone.utc


def test_numpy_scores_become_plain_floats():
    detection = Detection(
        label="person", class_id=0, score=np.float32(0.75), box=(0.1, 0.1, 0.2, 0.2)
    )
    policy = ThreatPolicy("agent-7", camera(rule(confirm_frames=1)), MODEL)
    [event] = policy.observe([detection], START)
    assert event.to_dict()["detections"][0]["score"] == 0.75
