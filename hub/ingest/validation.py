"""Validation of one MQTT message of any v1 kind, sent by the agent (and camera) its topic names.

The broker's ACL vouches for the topic, not for what a payload claims: every identity in a
payload must match its topic, or the message is refused as `identity_mismatch`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from vigie_contract import (
    MAX_SNAPSHOT_BYTES,
    AgentStatusV1,
    CameraStatusV1,
    ContractError,
    EventV1,
    HeartbeatV1,
    TopicInfo,
    parse_event,
    parse_health,
    parse_topic,
    snapshot_topic,
)

# Every JPEG starts with an SOI marker followed by another marker.
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class SnapshotMessage:
    """A JPEG snapshot of one event; its identity comes from the topic alone."""

    event_id: uuid.UUID
    agent_id: str
    camera_id: str
    jpeg: bytes


@dataclass(frozen=True)
class TimeBounds:
    """How far an event's captured_at may lie from its arrival before it is `time_out_of_range`."""

    # A clock this far ahead is broken: storing the event would pin it atop every list.
    max_ahead: timedelta
    # Older than this, retention would have purged it already: it is a replay or a broken clock.
    max_age: timedelta


ValidMessage = EventV1 | SnapshotMessage | AgentStatusV1 | CameraStatusV1 | HeartbeatV1


def validate_message(
    topic: str,
    payload: bytes,
    max_event_bytes: int,
    received_at: datetime | None = None,
    time_bounds: TimeBounds | None = None,
) -> ValidMessage:
    """The message on `topic`, or ContractError when it is invalid or claims another identity.

    With time_bounds (and received_at), an event captured too far from its arrival is refused.
    """
    info = parse_topic(topic)
    if info is None:
        raise ContractError("bad_topic", f"{topic!r} is not a v1 topic")
    if info.kind == "snapshot":
        return _snapshot(info, payload)
    if info.kind == "event":
        message = parse_event(payload, max_bytes=max_event_bytes)
        _check_snapshot_reference(message)
        if time_bounds is not None and received_at is not None:
            check_capture_time(message.captured_at, received_at, time_bounds)
    elif info.kind == "status":
        message = parse_health(AgentStatusV1, payload)
    elif info.kind == "camera_status":
        message = parse_health(CameraStatusV1, payload)
    else:
        message = parse_health(HeartbeatV1, payload)
    _check_identity(info, message.agent_id, getattr(message, "camera_id", None))
    return message


def _check_identity(info: TopicInfo, agent_id: str, camera_id: str | None) -> None:
    if agent_id == info.agent_id and camera_id == info.camera_id:
        return
    claimed = "/".join(filter(None, (agent_id, camera_id)))
    expected = "/".join(filter(None, (info.agent_id, info.camera_id)))
    raise ContractError("identity_mismatch", f"payload says {claimed}, topic says {expected}")


def check_capture_time(captured_at: datetime, received_at: datetime, bounds: TimeBounds) -> None:
    """Refuse (time_out_of_range) an event captured too far ahead of or before its arrival."""
    # Differences of two datetimes always fit a timedelta; a sum may leave datetime's range.
    if captured_at - received_at > bounds.max_ahead:
        raise ContractError(
            "time_out_of_range",
            f"captured_at {captured_at.isoformat()} is more than {bounds.max_ahead} after "
            f"its arrival at {received_at.isoformat()}",
        )
    if received_at - captured_at > bounds.max_age:
        raise ContractError(
            "time_out_of_range",
            f"captured_at {captured_at.isoformat()} is more than {bounds.max_age} before "
            f"its arrival at {received_at.isoformat()}",
        )


def _check_snapshot_reference(event: EventV1) -> None:
    if event.snapshot is None:
        return
    expected = snapshot_topic(event.agent_id, event.camera_id, str(event.event_id))
    if event.snapshot.topic == expected:
        return
    named = parse_topic(event.snapshot.topic)
    if named is not None and (named.agent_id, named.camera_id) != (event.agent_id, event.camera_id):
        raise ContractError(
            "identity_mismatch",
            f"snapshot.topic {event.snapshot.topic!r} belongs to another agent or camera",
        )
    raise ContractError("schema", f"snapshot.topic: {event.snapshot.topic!r}, want {expected!r}")


def _snapshot(info: TopicInfo, payload: bytes) -> SnapshotMessage:
    try:
        event_id = uuid.UUID(info.event_id or "")
    except ValueError:
        raise ContractError(
            "bad_topic", f"snapshot of {info.event_id!r}: not an event id"
        ) from None
    if len(payload) > MAX_SNAPSHOT_BYTES:
        raise ContractError("oversize", f"{len(payload)} bytes > limit {MAX_SNAPSHOT_BYTES}")
    if not payload.startswith(JPEG_MAGIC):
        raise ContractError("not_jpeg", f"starts with {payload[:4].hex() or 'nothing'}, not a JPEG")
    return SnapshotMessage(
        event_id=event_id, agent_id=info.agent_id, camera_id=info.camera_id or "", jpeg=payload
    )
