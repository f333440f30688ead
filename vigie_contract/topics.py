"""MQTT topics of protocol v1."""

from __future__ import annotations

TOPIC_ROOT = "vigie/v1"


def event_topic(agent_id: str, camera_id: str) -> str:
    """The topic an agent publishes a camera's confirmed threats on."""
    return f"{TOPIC_ROOT}/{agent_id}/{camera_id}/event"


def event_topic_filter() -> str:
    """The subscription filter matching every agent's event topic."""
    return f"{TOPIC_ROOT}/+/+/event"


def parse_event_topic(topic: str) -> tuple[str, str] | None:
    """Return (agent_id, camera_id) of an event topic, or None when the topic is not one."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or parts[4] != "event":
        return None
    if not parts[2] or not parts[3]:
        return None
    return parts[2], parts[3]
