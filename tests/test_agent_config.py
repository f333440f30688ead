"""The agent's YAML + environment configuration: valid files load, bad ones name the bad key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.config import (
    AgentConfig,
    ConfigError,
    FileSourceConfig,
    HttpSnapshotSourceConfig,
    load_config,
)

VALID: dict[str, Any] = {
    "agent_id": "agent-1",
    "mqtt": {"url": "mqtt://broker.local:1884", "username": "agent-1", "password": "s3cret"},
    "outbox_path": "state/outbox.sqlite3",
    "detector": {"model": "models/detector.tflite", "threads": 1},
    "cameras": [
        {
            "id": "gate",
            "source": {"type": "file", "path": "media/clip.mp4", "loop": True},
            "interval_s": 0.5,
            "position": {"lat": 48.8566, "lon": 2.3522},
            "rules": [
                {
                    "labels": ["backpack", "handbag", "suitcase"],
                    "threat_type": "abandoned_object",
                    "severity": "medium",
                    "min_score": 0.4,
                    "confirm_frames": 5,
                    "cooldown_s": 120,
                    "perimeter_m": 30,
                }
            ],
        },
        {
            "id": "hall",
            "source": {"type": "http_snapshot", "url": "http://10.0.0.7/snapshot.jpg"},
            "position": {"lat": 48.857, "lon": 2.353, "accuracy_m": 5},
            "rules": [{"labels": ["person"], "threat_type": "intrusion", "severity": "high"}],
        },
    ],
}


def write_config(folder: Path, document: Any) -> Path:
    """Write a YAML config file into folder and return its path."""
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def changed(**edits: Any) -> dict[str, Any]:
    """A deep copy of VALID with dotted keys set (value None deletes the key)."""
    document = copy.deepcopy(VALID)
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return document


def config_error(folder: Path, document: Any) -> str:
    """The ConfigError message that loading this document gives."""
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(folder, document))
    return str(caught.value)


def test_valid_file_loads_with_defaults_and_paths_anchored_at_the_yaml_folder(tmp_path):
    config = load_config(write_config(tmp_path, VALID))

    assert isinstance(config, AgentConfig)
    assert config.agent_id == "agent-1"
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("broker.local", 1884, False)
    assert config.mqtt.client_id == "agent-1"
    assert config.mqtt.password.get_secret_value() == "s3cret"
    assert config.outbox_path == tmp_path / "state/outbox.sqlite3"
    assert config.detector.model == tmp_path / "models/detector.tflite"
    gate, hall = config.cameras
    assert isinstance(gate.source, FileSourceConfig)
    assert gate.source.path == tmp_path / "media/clip.mp4"
    assert gate.source.loop and not gate.source.realtime
    assert gate.rules[0].labels == ["backpack", "handbag", "suitcase"]
    assert isinstance(hall.source, HttpSnapshotSourceConfig)
    assert hall.position.accuracy_m == 5
    assert gate.position.accuracy_m == 25
    assert hall.interval_s == 1.0


def test_absolute_paths_and_mqtts_are_kept(tmp_path):
    document = changed(
        outbox_path="/var/lib/vigie/outbox.sqlite3",
        mqtt={"url": "mqtts://broker.example", "client_id": "edge-7"},
    )
    config = load_config(write_config(tmp_path, document))

    assert config.outbox_path == Path("/var/lib/vigie/outbox.sqlite3")
    assert (config.mqtt.port, config.mqtt.tls, config.mqtt.client_id) == (8883, True, "edge-7")


def test_bad_type_names_the_key(tmp_path):
    message = config_error(tmp_path, changed(cameras__0__interval_s="fast"))
    assert message.startswith("cameras.0.interval_s: ")


def test_negative_interval_is_refused(tmp_path):
    assert "cameras.0.interval_s" in config_error(tmp_path, changed(cameras__0__interval_s=-1))


@pytest.mark.parametrize(
    ("edits", "key"),
    [
        ({"colour": "blue"}, "colour"),
        ({"cameras__1__fps": 5}, "cameras.1.fps"),
        ({"cameras__0__source__fps": 5}, "cameras.0.source.fps"),
        ({"cameras__0__rules__0__zone": "north"}, "cameras.0.rules.0.zone"),
        ({"detector__gpu": True}, "detector.gpu"),
        ({"_env_prefix": "OTHER_"}, "_env_prefix"),
    ],
)
def test_unknown_key_is_named(tmp_path, edits, key):
    assert f"{key}: unknown key" in config_error(tmp_path, changed(**edits))


def test_bad_severity_lists_the_allowed_values(tmp_path):
    message = config_error(tmp_path, changed(cameras__0__rules__0__severity="urgent"))
    assert "cameras.0.rules.0.severity" in message
    assert "'urgent'" in message
    assert "'low', 'medium', 'high' or 'critical'" in message


def test_bad_source_type_lists_the_allowed_values(tmp_path):
    message = config_error(tmp_path, changed(cameras__0__source={"type": "onvif", "url": "x"}))
    assert message == (
        "cameras.0.source.type: 'onvif' is not allowed; "
        "allowed values: file, folder, http_snapshot, mjpeg, rtsp, usb"
    )


def test_missing_source_type_lists_the_allowed_values(tmp_path):
    message = config_error(tmp_path, changed(cameras__0__source={"path": "clip.mp4"}))
    assert message == (
        "cameras.0.source.type: missing; "
        "allowed values: file, folder, http_snapshot, mjpeg, rtsp, usb"
    )


def test_missing_camera_id_is_named(tmp_path):
    message = config_error(tmp_path, changed(cameras__1__id=None))
    assert message == "cameras.1.id: required key is missing"


def test_every_problem_is_reported(tmp_path):
    document = changed(agent_id="bad/id", cameras__0__position__lat=91)
    message = config_error(tmp_path, document)
    assert "agent_id: " in message
    assert "cameras.0.position.lat: " in message


@pytest.mark.parametrize(
    "url", ["http://broker:1883", "mqtt://", "mqtt://broker:notaport", "broker:1883"]
)
def test_bad_broker_url_names_mqtt_url(tmp_path, url):
    assert config_error(tmp_path, changed(mqtt__url=url)).startswith("mqtt.url: ")


def test_threat_type_must_fit_the_wire_contract(tmp_path):
    message = config_error(tmp_path, changed(cameras__0__rules__0__threat_type="Abandoned Bag"))
    assert message.startswith("cameras.0.rules.0.threat_type: ")


def test_duplicate_camera_ids_are_refused(tmp_path):
    message = config_error(tmp_path, changed(cameras__1__id="gate"))
    assert message == "cameras: duplicate camera id(s): gate"


def test_empty_label_list_is_refused(tmp_path):
    assert "cameras.0.rules.0.labels" in config_error(
        tmp_path, changed(cameras__0__rules__0__labels=[])
    )


def test_environment_overrides_nested_and_top_level_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_AGENT_MQTT__URL", "mqtt://10.1.2.3:2883")
    monkeypatch.setenv("VIGIE_AGENT_AGENT_ID", "agent-from-env")
    monkeypatch.setenv("VIGIE_AGENT_DETECTOR__THREADS", "4")

    config = load_config(write_config(tmp_path, VALID))

    assert (config.mqtt.host, config.mqtt.port) == ("10.1.2.3", 2883)
    assert config.mqtt.username == "agent-1"  # keys not overridden stay from the YAML
    assert config.agent_id == "agent-from-env"
    assert config.mqtt.client_id == "agent-from-env"
    assert config.detector.threads == 4


def test_environment_can_supply_a_key_missing_from_the_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_AGENT_MQTT__URL", "mqtt://127.0.0.1:1883")
    config = load_config(write_config(tmp_path, changed(mqtt=None)))
    assert config.mqtt.port == 1883


def test_bad_environment_value_names_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_AGENT_MQTT__KEEPALIVE", "often")
    assert config_error(tmp_path, VALID).startswith("mqtt.keepalive: ")


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_invalid_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text("agent_id: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


@pytest.mark.parametrize("document", [["a", "list"], "just text", 42])
def test_top_level_must_be_a_mapping(tmp_path, document):
    assert "top level must be a mapping" in config_error(tmp_path, document)


def test_empty_file_reports_the_required_keys(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text("")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    for key in ("agent_id", "mqtt", "detector", "cameras"):
        assert f"{key}: required key is missing" in str(caught.value)


def test_bad_password_is_not_echoed(tmp_path):
    message = config_error(tmp_path, changed(mqtt__password=20240607))
    assert message.startswith("mqtt.password: ")
    assert "20240607" not in message


def test_environment_value_that_is_not_json_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_AGENT_CAMERAS", "not json")
    message = config_error(tmp_path, VALID)
    assert message == (
        'environment override: error parsing value for field "cameras" from source '
        '"EnvSettingsSource"'
    )


@pytest.mark.parametrize("pattern", ["/srv/frames/*.jpg", "a**b/*.jpg"])
def test_bad_folder_pattern_names_the_key(tmp_path, pattern):
    source = {"type": "folder", "path": "frames", "pattern": pattern}
    message = config_error(tmp_path, changed(cameras__0__source=source))
    assert message.startswith("cameras.0.source.pattern: not a relative glob pattern")


def test_folder_path_is_anchored_and_pattern_kept(tmp_path):
    source = {"type": "folder", "path": "frames", "pattern": "**/*.png"}
    config = load_config(write_config(tmp_path, changed(cameras__0__source=source)))
    assert config.cameras[0].source.path == tmp_path / "frames"
    assert config.cameras[0].source.pattern == "**/*.png"
