"""Status, camera status and heartbeat messages, and the v1 topic grammar."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

from vigie_contract import (
    AgentStatusV1,
    CameraHealth,
    CameraStatusV1,
    ContractError,
    HeartbeatV1,
    TopicInfo,
    agent_topic_filters,
    camera_status_topic,
    event_topic,
    heartbeat_topic,
    parse_health,
    parse_topic,
    snapshot_topic,
    status_topic,
)
from vigie_contract.schemas import SCHEMA_DIR

PARIS = timezone(timedelta(hours=1))


def heartbeat() -> HeartbeatV1:
    """A full heartbeat with one camera."""
    return HeartbeatV1(
        agent_id="agent-1",
        sent_at=datetime(2026, 11, 26, 9, 0, tzinfo=PARIS),
        version="0.1.0",
        uptime_s=12.5,
        queue_depth=3,
        cpu_load=0.7,
        cpu_temp_c=51.0,
        cameras=[
            CameraHealth(
                camera_id="cam-1", state="online", fps=2.0, inference_ms=9.1, motion_ratio=0.02
            )
        ],
    )


def test_heartbeat_round_trip_and_schema_file():
    wire = heartbeat().to_json()
    parsed = parse_health(HeartbeatV1, wire)
    assert parsed == heartbeat()
    assert parsed.sent_at.isoformat() == "2026-11-26T08:00:00+00:00"
    schema = json.loads((SCHEMA_DIR / "heartbeat-v1.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(wire))


def test_last_will_needs_no_time():
    will = AgentStatusV1(agent_id="agent-1", state="offline")
    assert json.loads(will.to_json()) == {
        "schema": "vigie.status/1",
        "agent_id": "agent-1",
        "state": "offline",
    }
    assert parse_health(AgentStatusV1, will.to_json()) == will


def test_camera_status_round_trip():
    status = CameraStatusV1(
        agent_id="a",
        camera_id="c",
        state="offline",
        since=datetime(2026, 11, 26, tzinfo=timezone.utc),
        reason="connection refused",
    )
    assert parse_health(CameraStatusV1, status.to_json()) == status


@pytest.mark.parametrize(
    ("model", "payload", "reason"),
    [
        (HeartbeatV1, b"nope", "malformed_json"),
        (HeartbeatV1, AgentStatusV1(agent_id="a", state="online").to_json(), "unknown_schema"),
        (
            AgentStatusV1,
            b'{"schema": "vigie.status/1", "agent_id": "a", "state": "asleep"}',
            "schema",
        ),
        (
            HeartbeatV1,
            heartbeat().to_json().replace(b'"queue_depth":3', b'"queue_depth":-1'),
            "schema",
        ),
        (HeartbeatV1, heartbeat().to_json().replace(b"51.0", b"NaN"), "schema"),
        (CameraStatusV1, b"{" + b" " * 70_000 + b"}", "oversize"),
    ],
)
def test_bad_health_messages_are_rejected_with_a_reason(model, payload, reason):
    with pytest.raises(ContractError) as caught:
        parse_health(model, payload)
    assert caught.value.reason == reason


def test_topic_grammar():
    assert parse_topic(event_topic("a", "c")) == TopicInfo("event", "a", "c")
    assert parse_topic(snapshot_topic("a", "c", "e1")) == TopicInfo("snapshot", "a", "c", "e1")
    assert parse_topic(camera_status_topic("a", "c")) == TopicInfo("camera_status", "a", "c")
    assert parse_topic(status_topic("a")) == TopicInfo("status", "a")
    assert parse_topic(heartbeat_topic("a")) == TopicInfo("heartbeat", "a")
    for bad in [
        "vigie/v1/a",
        "vigie/v1/a/c/event/x",
        "other/v1/a/status",
        "vigie/v1//status",
        "xvigie/v1/a/status",
        "vigie/v1/a/c/snapshot",
    ]:
        assert parse_topic(bad) is None, bad


def test_filters_cover_every_kind():
    filters = agent_topic_filters()
    assert set(filters) == {"event", "snapshot", "camera_status", "status", "heartbeat"}
    assert all(f.startswith("vigie/v1/+/") for f in filters.values())
