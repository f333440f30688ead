"""MQTT topics of protocol v1: who sent a message is read from its topic, never from its payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TOPIC_ROOT = "vigie/v1"

TopicKind = Literal["event", "snapshot", "camera_status", "status", "heartbeat"]


@dataclass(frozen=True)
class TopicInfo:
    """What a v1 topic says: the message kind and the ids it names."""

    kind: TopicKind
    agent_id: str
    camera_id: str | None = None
    event_id: str | None = None


def event_topic(agent_id: str, camera_id: str) -> str:
    """The topic an agent publishes a camera's confirmed threats on."""
    return f"{TOPIC_ROOT}/{agent_id}/{camera_id}/event"


def snapshot_topic(agent_id: str, camera_id: str, event_id: str) -> str:
    """The topic of the JPEG snapshot of one event."""
    return f"{TOPIC_ROOT}/{agent_id}/{camera_id}/snapshot/{event_id}"


def camera_status_topic(agent_id: str, camera_id: str) -> str:
    """The retained topic of a camera's online/offline state."""
    return f"{TOPIC_ROOT}/{agent_id}/{camera_id}/status"


def status_topic(agent_id: str) -> str:
    """The retained topic of an agent's online/offline state (its last will says offline)."""
    return f"{TOPIC_ROOT}/{agent_id}/status"


def heartbeat_topic(agent_id: str) -> str:
    """The topic of an agent's periodic health report."""
    return f"{TOPIC_ROOT}/{agent_id}/heartbeat"


def event_topic_filter() -> str:
    """The subscription filter matching every agent's event topic."""
    return f"{TOPIC_ROOT}/+/+/event"


def agent_topic_filters() -> dict[TopicKind, str]:
    """One subscription filter per message kind, covering every agent."""
    return {
        "event": event_topic_filter(),
        "snapshot": f"{TOPIC_ROOT}/+/+/snapshot/+",
        "camera_status": f"{TOPIC_ROOT}/+/+/status",
        "status": f"{TOPIC_ROOT}/+/status",
        "heartbeat": f"{TOPIC_ROOT}/+/heartbeat",
    }


def parse_topic(topic: str) -> TopicInfo | None:
    """Read a v1 topic, or None when it is not one (wrong root, shape or empty level)."""
    root, _, rest = topic.partition(f"{TOPIC_ROOT}/")
    if root or not rest:
        return None
    levels = rest.split("/")
    if any(not level for level in levels):
        return None
    match levels:
        case [agent, camera, "event"]:
            return TopicInfo("event", agent, camera)
        case [agent, camera, "snapshot", event_id]:
            return TopicInfo("snapshot", agent, camera, event_id)
        case [agent, camera, "status"]:
            return TopicInfo("camera_status", agent, camera)
        case [agent, "status"]:
            return TopicInfo("status", agent)
        case [agent, "heartbeat"]:
            return TopicInfo("heartbeat", agent)
    return None


def parse_event_topic(topic: str) -> tuple[str, str] | None:
    """Return (agent_id, camera_id) of an event topic, or None when the topic is not one."""
    info = parse_topic(topic)
    if info is None or info.kind != "event" or info.camera_id is None:
        return None
    return info.agent_id, info.camera_id
