"""The wire contract between edge agents and the hub: one versioned event schema, shared by both."""

from vigie_contract.event import (
    MAX_EVENT_BYTES,
    SCHEMA_ID,
    ContractError,
    Detection,
    EventV1,
    Location,
    ModelInfo,
    SnapshotRef,
    parse_event,
)
from vigie_contract.topics import (
    TOPIC_ROOT,
    event_topic,
    event_topic_filter,
    parse_event_topic,
)

__all__ = [
    "MAX_EVENT_BYTES",
    "SCHEMA_ID",
    "TOPIC_ROOT",
    "ContractError",
    "Detection",
    "EventV1",
    "Location",
    "ModelInfo",
    "SnapshotRef",
    "event_topic",
    "event_topic_filter",
    "parse_event",
    "parse_event_topic",
]
