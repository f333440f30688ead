"""Config of rules, zones, motion, tracking, calibration and snapshots: errors name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import DEFAULT_LABEL_GROUPS, ConfigError, config_from_mapping


def agent(camera_overrides: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    """A valid agent mapping with one camera, changed by the overrides."""
    camera = {
        "id": "gate",
        "source": {"type": "folder", "path": "/frames"},
        "position": {"lat": 48.8566, "lon": 2.3522},
        "rules": [{"labels": ["person"], "threat_type": "intrusion", "severity": "high"}],
        **(camera_overrides or {}),
    }
    return {
        "agent_id": "agent-1",
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "detector": {"model": "/models/m.tflite"},
        "cameras": [camera],
        **top,
    }


def error(document: dict[str, Any]) -> str:
    """The ConfigError message of an invalid mapping."""
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(document, base_dir=Path("/"))
    return str(caught.value)


ZONE = {"name": "tracks", "include": [[[0, 0.5], [1, 0.5], [1, 1], [0, 1]]]}
CALIBRATION = {
    "points": [
        {"image": [0.1, 0.9], "gps": [48.85650, 2.35210]},
        {"image": [0.9, 0.9], "gps": [48.85650, 2.35230]},
        {"image": [0.7, 0.5], "gps": [48.85680, 2.35228]},
        {"image": [0.3, 0.5], "gps": [48.85680, 2.35212]},
    ]
}


def test_defaults_keep_the_old_rule_shape_working():
    config = config_from_mapping(agent(), base_dir=Path("/"))
    camera = config.cameras[0]
    assert camera.rules[0].kind == "presence"
    assert camera.motion.enabled and camera.zones == [] and camera.calibration is None
    assert camera.snapshot.enabled
    assert config.label_groups == DEFAULT_LABEL_GROUPS


def test_a_full_camera_loads():
    rules = [
        {"kind": "intrusion", "labels": ["person"], "threat_type": "intrusion", "severity": "high",
         "zones": ["tracks"], "active_hours": {"start": "22:00", "end": "05:30",
                                               "timezone": "Europe/Paris"}},
        {"kind": "abandoned", "labels": ["bag"], "threat_type": "abandoned_object",
         "severity": "medium", "unattended_s": 60},
    ]  # fmt: skip
    document = agent(
        {
            "rules": rules,
            "zones": [ZONE],
            "calibration": CALIBRATION,
            "motion": {"masks": [[[0, 0], [0.2, 0], [0.2, 0.2]]], "check_interval_s": 5},
            "snapshot": {"enabled": True, "quality": 70},
        },
        label_groups={"blade": ["knife", "scissors"]},
    )
    config = config_from_mapping(document, base_dir=Path("/"))
    camera = config.cameras[0]
    assert camera.rules[0].active_hours.end.isoformat() == "05:30:00"
    assert camera.calibration is not None and len(camera.calibration.points) == 4
    assert config.label_groups["blade"] == ["knife", "scissors"]
    assert config.label_groups["bag"] == DEFAULT_LABEL_GROUPS["bag"]


@pytest.mark.parametrize(
    ("camera_overrides", "expected"),
    [
        (
            {"rules": [{"kind": "intrusion", "labels": ["person"], "threat_type": "x",
                        "severity": "low"}]},
            "cameras.0.rules.0: kind intrusion needs zones",
        ),
        (
            {"rules": [{"kind": "loitering", "labels": ["person"], "threat_type": "x",
                        "severity": "low", "zones": ["tracks"]}], "zones": [ZONE]},
            "cameras.0.rules.0: dwell_s is required for, and only for, kind loitering",
        ),
        (
            {"rules": [{"labels": ["person"], "threat_type": "x", "severity": "low",
                        "unattended_s": 5}]},
            "cameras.0.rules.0: unattended_s is required for, and only for, kind abandoned",
        ),
        (
            {"rules": [{"labels": ["person"], "threat_type": "x", "severity": "low",
                        "zones": ["platform"]}], "zones": [ZONE]},
            "cameras.0: rules.0.zones: unknown zone(s) platform; defined: tracks",
        ),
        ({"zones": [ZONE, ZONE]}, "cameras.0: duplicate zone name(s): tracks"),
        (
            {"rules": [{"labels": ["person"], "threat_type": "x", "severity": "low",
                        "active_hours": {"start": "22:00", "end": "06:00",
                                         "timezone": "Mars/Olympus"}}]},
            "cameras.0.rules.0.active_hours.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            {"rules": [{"kind": "lurking", "labels": ["person"], "threat_type": "x",
                        "severity": "low"}]},
            "cameras.0.rules.0.kind: got 'lurking'; allowed values: 'presence', 'intrusion', "
            "'loitering' or 'abandoned'",
        ),
        ({"zones": [{"name": "z", "include": [[[0, 0], [1, 1]]]}]}, "cameras.0.zones.0.include.0"),
        ({"zones": [{"name": "z", "include": [[[0, 0], [1.5, 0], [1, 1]]]}]},
         "cameras.0.zones.0.include.0.1.0"),
        ({"motion": {"pixel_threshold": 0}}, "cameras.0.motion.pixel_threshold"),
        ({"tracking": {"iou_threshold": 0}}, "cameras.0.tracking.iou_threshold"),
        ({"snapshot": {"quality": 101}}, "cameras.0.snapshot.quality"),
        ({"calibration": {"points": CALIBRATION["points"][:3]}}, "cameras.0.calibration.points"),
        (
            {"calibration": {"points": [
                {"image": [0.1 * i, 0.1 * i], "gps": [48.8565 + i * 1e-4, 2.3521 + i * 1e-4]}
                for i in range(1, 6)
            ]}},
            "cameras.0.calibration: the image points lie on one line",
        ),
        ({"position": {"lat": 48.8, "lon": 2.3, "heading_deg": 360}},
         "cameras.0.position.heading_deg"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_key(camera_overrides, expected):
    assert expected in error(agent(camera_overrides))
