"""Agent and camera health messages of protocol v1: status (retained, last will) and heartbeat."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from vigie_contract.event import (
    MAX_EVENT_BYTES,
    Identifier,
    PrintableText,
    UtcDatetime,
    WireModel,
    parse_message,
)

STATUS_SCHEMA_ID = "vigie.status/1"
CAMERA_STATUS_SCHEMA_ID = "vigie.camera_status/1"
HEARTBEAT_SCHEMA_ID = "vigie.heartbeat/1"
# A JPEG snapshot is published on its own topic; larger ones are refused by the hub.
MAX_SNAPSHOT_BYTES = 1024 * 1024

ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=PrintableText)]
Seconds = Annotated[float, Field(ge=0.0)]


class _Message(BaseModel):
    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, frozen=True, populate_by_name=True
    )

    def to_json(self) -> bytes:
        """Serialise as the wire JSON."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class AgentStatusV1(_Message):
    """Retained on the agent's status topic: online at connect, offline as its last will."""

    schema_id: Literal["vigie.status/1"] = Field(STATUS_SCHEMA_ID, alias="schema")
    agent_id: Identifier
    state: Literal["online", "offline"]
    # Absent in the last will, which is written at connect time.
    at: UtcDatetime | None = None
    version: ShortText | None = None


class CameraStatusV1(_Message):
    """Retained on a camera's status topic: a camera that goes dark may be sabotage."""

    schema_id: Literal["vigie.camera_status/1"] = Field(CAMERA_STATUS_SCHEMA_ID, alias="schema")
    agent_id: Identifier
    camera_id: Identifier
    state: Literal["online", "offline"]
    since: UtcDatetime
    reason: ShortText | None = None


class CameraHealth(_Message):
    """One camera's figures in a heartbeat."""

    camera_id: Identifier
    state: Literal["online", "offline"]
    fps: Annotated[float, Field(ge=0.0, le=1000.0)]
    inference_ms: Annotated[float, Field(ge=0.0)] | None = None
    motion_ratio: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    last_frame_at: UtcDatetime | None = None


class HeartbeatV1(_Message):
    """Sent every few seconds on the agent's heartbeat topic."""

    schema_id: Literal["vigie.heartbeat/1"] = Field(HEARTBEAT_SCHEMA_ID, alias="schema")
    agent_id: Identifier
    sent_at: UtcDatetime
    version: ShortText
    uptime_s: Seconds
    queue_depth: Annotated[int, Field(ge=0)]
    # Messages the agent's full or expired outbox dropped (oldest first) since it started.
    outbox_dropped: Annotated[int, Field(ge=0)] | None = None
    cpu_load: Annotated[float, Field(ge=0.0)] | None = None
    cpu_temp_c: Annotated[float, Field(ge=-50.0, le=150.0)] | None = None
    cameras: Annotated[list[CameraHealth], Field(max_length=256)] = []


def parse_health(model: type[WireModel], payload: bytes) -> WireModel:
    """Validate a status, camera status or heartbeat payload, raising ContractError."""
    return parse_message(model, payload, MAX_EVENT_BYTES)
