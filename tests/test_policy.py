"""Threat policy on tracks: median confirmation, per-track cool-down, rule kinds, events."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from edge_agent.config import CameraConfig
from edge_agent.detectors import Detection
from edge_agent.policy import ThreatPolicy, threat_event, within_hours
from vigie_contract import Location, ModelInfo, parse_event

MODEL = ModelInfo(name="mobilenet_ssd_v2_coco_quant_postprocess", sha256="ab" * 32)
START = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc)
HERE = Location(lat=45.764, lon=4.8357, source="camera", accuracy_m=12)
# A zone over the lower-left quarter of the image.
SOUTH_WEST = {"name": "south-west", "include": [[[0, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]]]}


def det(label: str, score: float, box: tuple[float, float, float, float]) -> Detection:
    """A detector output."""
    return Detection(label=label, class_id=0, score=score, box=box)


PERSON = det("person", 0.81, (0.1, 0.2, 0.3, 0.9))  # ground point (0.2, 0.9): in SOUTH_WEST
CAR = det("car", 0.9, (0.55, 0.5, 0.95, 0.8))


def camera(*rules: dict[str, Any], zones: list[dict] | None = None) -> CameraConfig:
    """A camera at a fixed place with the given rules and zones."""
    return CameraConfig.model_validate(
        {
            "id": "platform-3",
            "source": {"type": "folder", "path": "/frames"},
            "position": {"lat": 45.764, "lon": 4.8357, "accuracy_m": 12},
            "rules": list(rules),
            "zones": zones or [],
        }
    )


def rule(**overrides: Any) -> dict[str, Any]:
    """A person presence rule: 3 captures to confirm, 10 s cool-down."""
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


def feed(policy: ThreatPolicy, captures: list[list[Detection]], step_s: float = 1.0) -> list:
    """Observe one capture every step_s seconds; return, per capture, the threats it confirmed."""
    return [
        policy.observe(detections, START + timedelta(seconds=index * step_s))
        for index, detections in enumerate(captures)
    ]


def alert_indexes(produced: list) -> list[int]:
    """The capture indexes that confirmed at least one threat."""
    return [index for index, threats in enumerate(produced) if threats]


def test_a_track_is_confirmed_on_its_nth_capture():
    policy = ThreatPolicy(camera(rule()))
    produced = feed(policy, [[PERSON], [PERSON, CAR], [PERSON]])
    assert [len(threats) for threats in produced] == [0, 0, 1]
    [threat] = produced[2]
    assert (threat.rule.threat_type, threat.detection, threat.track_id) == ("intrusion", PERSON, 1)


def test_the_median_forgives_one_weak_capture_but_not_two():
    weak = det("person", 0.42, PERSON.box)
    assert alert_indexes(feed(ThreatPolicy(camera(rule())), [[PERSON], [weak], [PERSON]])) == [2]
    assert alert_indexes(feed(ThreatPolicy(camera(rule())), [[weak], [weak], [PERSON]])) == []


def test_no_alert_on_a_capture_where_the_object_itself_is_weak():
    weak = det("person", 0.42, PERSON.box)
    policy = ThreatPolicy(camera(rule()))
    assert alert_indexes(feed(policy, [[PERSON], [PERSON], [weak], [PERSON]])) == [3]


def test_a_missed_capture_counts_as_zero():
    policy = ThreatPolicy(camera(rule()))
    produced = feed(policy, [[PERSON], [], [], [PERSON], [PERSON]])
    # [0, 0, 0.81] then [0, 0.81, 0.81]: the track survives the misses and confirms on 4.
    assert alert_indexes(produced) == [4]
    assert {threat.track_id for threats in produced for threat in threats} == {1}


def test_the_same_track_waits_out_its_cooldown():
    policy = ThreatPolicy(camera(rule(confirm_frames=2, cooldown_s=10)))
    assert alert_indexes(feed(policy, [[PERSON]] * 14)) == [1, 11]


def test_cooldown_counts_capture_time_not_captures():
    policy = ThreatPolicy(camera(rule(confirm_frames=1, cooldown_s=10)))
    assert len(policy.observe([PERSON], START)) == 1
    assert policy.observe([PERSON], START + timedelta(seconds=9.999)) == []
    assert len(policy.observe([PERSON], START + timedelta(seconds=10))) == 1


def test_each_new_track_alerts_on_its_own():
    other = det("person", 0.9, (0.6, 0.1, 0.7, 0.5))
    policy = ThreatPolicy(camera(rule(confirm_frames=2, cooldown_s=3600)))
    produced = feed(policy, [[PERSON], [PERSON], [PERSON, other], [PERSON, other]])
    assert [[t.track_id for t in threats] for threats in produced] == [[], [1], [], [2]]


def test_a_label_group_keeps_one_track_through_relabelling():
    bags = rule(labels=["bag"], threat_type="suspect_bag", severity="medium")
    box = (0.4, 0.3, 0.5, 0.5)
    captures = [
        [det("backpack", 0.6, box)],
        [det("suitcase", 0.7, box)],
        [det("handbag", 0.6, box)],
    ]
    produced = feed(ThreatPolicy(camera(bags)), captures)
    assert alert_indexes(produced) == [2]
    assert produced[2][0].track_id == 1


def test_rules_of_one_camera_are_independent():
    vehicles = rule(labels=["vehicle"], threat_type="vehicle_intrusion", confirm_frames=1)
    policy = ThreatPolicy(camera(rule(confirm_frames=2), vehicles))
    produced = feed(policy, [[PERSON, CAR], [PERSON, CAR]])
    assert [[t.rule.threat_type for t in threats] for threats in produced] == [
        ["vehicle_intrusion"],
        ["intrusion"],
    ]


def test_intrusion_counts_only_captures_inside_the_zone():
    outside = det("person", 0.81, (0.6, 0.2, 0.8, 0.9))
    policy = ThreatPolicy(camera(rule(kind="intrusion", zones=["south-west"]), zones=[SOUTH_WEST]))
    produced = feed(policy, [[outside]] * 3 + [[PERSON]] * 3)
    # One walker (0.7 box heights in 1 s, so one track): its captures outside count 0, and the
    # median of the last 3 passes at its 2nd capture inside, not at the 1st.
    assert alert_indexes(produced) == [4]


def test_an_exclude_polygon_carves_a_hole_in_the_zone():
    zone = {**SOUTH_WEST, "exclude": [[[0.1, 0.8], [0.3, 0.8], [0.3, 0.95], [0.1, 0.95]]]}
    policy = ThreatPolicy(camera(rule(kind="intrusion", zones=["south-west"]), zones=[zone]))
    assert alert_indexes(feed(policy, [[PERSON]] * 5)) == []


def test_after_hours_rule_fires_only_in_its_window():
    night = {"start": "19:00", "end": "07:00", "timezone": "Europe/Paris"}
    policy = ThreatPolicy(camera(rule(confirm_frames=1, active_hours=night)))
    # 12:00 UTC is 14:00 in Paris (summer time): outside the window.
    assert policy.observe([PERSON], START) == []
    assert len(policy.observe([PERSON], START + timedelta(hours=8))) == 1  # 22:00 in Paris


def test_daily_windows_wrap_past_midnight():
    from edge_agent.config import ActiveHoursConfig

    night = ActiveHoursConfig(start="22:00", end="06:00")
    day = ActiveHoursConfig(start="08:00", end="18:00")
    at = {hour: START.replace(hour=hour) for hour in (3, 12, 23)}
    assert [within_hours(night, at[h]) for h in (3, 12, 23)] == [True, False, True]
    assert [within_hours(day, at[h]) for h in (3, 12, 23)] == [False, True, False]


def test_loitering_needs_the_dwell_time_inside_the_zone():
    loiter = rule(kind="loitering", zones=["south-west"], dwell_s=30, threat_type="loitering")
    policy = ThreatPolicy(camera(loiter, zones=[SOUTH_WEST]))
    produced = feed(policy, [[PERSON]] * 8, step_s=5)
    assert alert_indexes(produced) == [6]
    assert produced[6][0].duration_s == 30.0


def test_leaving_the_zone_restarts_the_dwell_clock():
    outside = det("person", 0.81, (0.1, 0.2, 0.3, 0.45))  # same track, ground point above zone
    loiter = rule(kind="loitering", zones=["south-west"], dwell_s=20, threat_type="loitering")
    policy = ThreatPolicy(camera(loiter, zones=[SOUTH_WEST]))
    produced = feed(policy, [[PERSON]] * 3 + [[outside]] + [[PERSON]] * 6, step_s=5)
    # Inside from t=20 again; 20 s later is t=40 (capture 8).
    assert alert_indexes(produced) == [8]


def abandoned(**overrides: Any) -> dict[str, Any]:
    """A left-behind bag rule: still for 30 s with nobody within 0.1."""
    return rule(
        kind="abandoned",
        labels=["bag"],
        threat_type="abandoned_object",
        severity="medium",
        unattended_s=30,
        **overrides,
    )


BAG = det("suitcase", 0.77, (0.4, 0.6, 0.5, 0.9))


def test_a_still_bag_with_nobody_near_is_abandoned():
    produced = feed(ThreatPolicy(camera(abandoned())), [[BAG]] * 8, step_s=5)
    assert alert_indexes(produced) == [6]
    assert produced[6][0].duration_s == 30.0


def test_a_bag_next_to_a_person_is_not_abandoned():
    owner = det("person", 0.9, (0.52, 0.2, 0.65, 0.92))  # 0.02 right of the bag's ground point
    produced = feed(ThreatPolicy(camera(abandoned())), [[BAG, owner]] * 10, step_s=5)
    assert alert_indexes(produced) == []


def test_a_moving_bag_is_not_abandoned():
    moving = [
        [det("suitcase", 0.77, (0.4, 0.6 - i * 0.03, 0.5, 0.9 - i * 0.03))] for i in range(10)
    ]
    assert alert_indexes(feed(ThreatPolicy(camera(abandoned())), moving, step_s=5)) == []


def test_the_event_carries_rule_track_place_and_model():
    policy = ThreatPolicy(camera(rule(confirm_frames=1)))
    [threat] = policy.observe([PERSON], START)
    event_id = uuid.uuid4()
    event = threat_event("agent-7", "platform-3", threat, HERE, MODEL, event_id)

    assert (event.event_id, event.agent_id, event.camera_id) == (event_id, "agent-7", "platform-3")
    assert event.captured_at == START
    assert (event.threat_type, event.severity, event.perimeter_m) == ("intrusion", "high", 40)
    assert [(d.label, d.score, d.box, d.track_id) for d in event.detections] == [
        ("person", 0.81, (0.1, 0.2, 0.3, 0.9), 1)
    ]
    assert (event.location, event.model, event.snapshot) == (HERE, MODEL, None)
    assert parse_event(event.to_json()) == event


def test_event_boxes_are_clipped_and_scores_are_plain_floats():
    overflowing = det("person", np.float32(0.75), (-0.02, 0.1, 0.5, 1.03))
    [threat] = ThreatPolicy(camera(rule(confirm_frames=1))).observe([overflowing], START)
    event = threat_event("agent-7", "platform-3", threat, HERE, MODEL, uuid.uuid4())
    assert event.detections[0].box == (0.0, 0.1, 0.5, 1.0)
    assert event.to_dict()["detections"][0]["score"] == 0.75
    assert parse_event(event.to_json()) == event


def test_capture_times_in_other_zones_become_utc():
    paris = timezone(timedelta(hours=2))
    [threat] = ThreatPolicy(camera(rule(confirm_frames=1))).observe(
        [PERSON], datetime(2026, 5, 4, 14, 0, tzinfo=paris)
    )
    event = threat_event("agent-7", "platform-3", threat, HERE, MODEL, uuid.uuid4())
    assert event.captured_at == START
    assert event.captured_at.tzinfo == timezone.utc
