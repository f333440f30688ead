"""Event v1: one JSON object per confirmed threat, published by an agent on its event topic."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Literal, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

SCHEMA_ID = "vigie.event/1"
# Far above a real event (a few KiB); an inline snapshot must travel on its own topic instead.
MAX_EVENT_BYTES = 64 * 1024

# Ids become MQTT topic levels, so they may not contain '/', '+', '#' or spaces.
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0)]


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        # e.g. 9999-12-31T23:59:59-14:00 is in year 10000 in UTC: a value error, not a crash.
        raise ValueError("out of range once converted to UTC") from None


# Any offset is accepted on the wire; the value is kept in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
# Detector text: no control characters (PostgreSQL cannot store NUL; log lines stay single).
PrintableText = r"^[^\x00-\x1f\x7f]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Detection(_Strict):
    """One detector output behind the threat."""

    label: Annotated[str, Field(min_length=1, max_length=64, pattern=PrintableText)]
    score: UnitFloat
    box: tuple[UnitFloat, UnitFloat, UnitFloat, UnitFloat] = Field(
        description="Normalised [x0, y0, x1, y1], origin at the top-left of the frame."
    )
    track_id: Annotated[int, Field(ge=0)] | None = None

    @field_validator("box")
    @classmethod
    def _ordered(cls, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if box[0] > box[2] or box[1] > box[3]:
            raise ValueError("box must be [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1")
        return box


class Location(_Strict):
    """Where the threat is on the ground (WGS84)."""

    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    source: Literal["camera", "homography"] = Field(
        description="'camera': the camera's own position; 'homography': the object's ground point."
    )
    accuracy_m: Annotated[float, Field(ge=0.0, le=100_000.0)]


class ModelInfo(_Strict):
    """The detector that produced the detections."""

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=PrintableText)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class SnapshotRef(_Strict):
    """A JPEG of the frame, published on the event's snapshot topic."""

    topic: Annotated[str, Field(min_length=1, max_length=256)]
    content_type: Literal["image/jpeg"] = "image/jpeg"
    bytes: Annotated[int, Field(ge=1, le=10_000_000)]


class EventV1(_Strict):
    """A confirmed threat seen by one camera of one agent."""

    schema_id: Literal["vigie.event/1"] = Field(SCHEMA_ID, alias="schema")
    event_id: UUID = Field(description="Idempotency key: re-deliveries carry the same id.")
    agent_id: Identifier
    camera_id: Identifier
    captured_at: UtcDatetime = Field(description="Capture time of the confirming frame, UTC.")
    threat_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    severity: Literal["low", "medium", "high", "critical"]
    detections: Annotated[list[Detection], Field(min_length=1, max_length=100)]
    location: Location
    perimeter_m: Annotated[float, Field(gt=0.0, le=10_000.0)]
    model: ModelInfo
    snapshot: SnapshotRef | None = None

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        frozen=True,
        populate_by_name=True,
        title="VigieEventV1",
    )

    def to_json(self) -> bytes:
        """Serialise as the wire JSON (aliases, UTC ISO 8601 times)."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    def to_dict(self) -> dict:
        """The wire JSON as a Python dict."""
        return json.loads(self.to_json())


class ContractError(ValueError):
    """A payload that is not a valid v1 event; `reason` is a short machine-readable class."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


WireModel = TypeVar("WireModel", bound=BaseModel)


def parse_message(model: type[WireModel], payload: bytes, max_bytes: int) -> WireModel:
    """Validate raw wire bytes as `model` (its `schema` id first), raising ContractError."""
    if len(payload) > max_bytes:
        raise ContractError("oversize", f"{len(payload)} bytes > limit {max_bytes}")
    expected = model.model_fields["schema_id"].default
    try:
        # Parsed and validated in one pass by pydantic-core: half the cost of json.loads first.
        message = model.model_validate_json(payload)
    except ValidationError as exc:
        raise _contract_error(exc.errors(), expected) from None
    # The schema id has a default for senders; a receiver insists on seeing it.
    if "schema_id" not in message.model_fields_set:
        raise ContractError("unknown_schema", f"schema=None, want {expected}")
    return message


def _contract_error(errors: list[ErrorDetails], expected: str) -> ContractError:
    first = errors[0]
    if first["type"] == "json_invalid":
        return ContractError("malformed_json", first["msg"][:200])
    if first["type"] == "model_type" and not first["loc"]:
        return ContractError("schema", "the message must be a JSON object")
    # A message of another schema fails on other fields too: its schema id says why.
    for error in errors:
        if error["loc"] == ("schema",):
            return ContractError("unknown_schema", f"schema={error['input']!r}, want {expected}")
    where = ".".join(str(part) for part in first["loc"]) or "(root)"
    return ContractError("schema", f"{where}: {first['msg']}")


def parse_event(payload: bytes, max_bytes: int = MAX_EVENT_BYTES) -> EventV1:
    """Validate raw wire bytes as a v1 event, raising ContractError with a reason."""
    return parse_message(EventV1, payload, max_bytes)


def json_schema(model: type[BaseModel]) -> dict:
    """The JSON Schema (2020-12) of a wire message model, generated from the model itself."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def utc_now() -> datetime:
    """The current time, aware and in UTC."""
    return datetime.now(timezone.utc)
