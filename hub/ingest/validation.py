"""Validation of one MQTT message as a v1 event sent by the agent its topic names."""

from __future__ import annotations

from vigie_contract import ContractError, EventV1, parse_event, parse_event_topic


def validate_message(topic: str, payload: bytes, max_event_bytes: int) -> EventV1:
    """The event in `payload`, or ContractError when it is invalid or claims another identity."""
    identity = parse_event_topic(topic)
    if identity is None:
        raise ContractError("bad_topic", f"{topic!r} is not an event topic")
    event = parse_event(payload, max_bytes=max_event_bytes)
    # The broker's ACL vouches for the topic, not for what the payload claims.
    if (event.agent_id, event.camera_id) != identity:
        raise ContractError(
            "identity_mismatch",
            f"payload says {event.agent_id}/{event.camera_id}, "
            f"topic says {identity[0]}/{identity[1]}",
        )
    return event
