"""Frigate input adapter: a Frigate NVR's `frigate/events` messages become Vigie v1 events.

Frigate publishes one JSON message per change of a tracked object (https://docs.frigate.video/
integrations/mqtt/): {"type": "new"|"update"|"end", "before": {...}, "after": {...}}, where
"after" holds the object's current state: "id", "camera", "label", "top_score"/"score", "box"
(pixels [x0, y0, x1, y1] in the detect resolution), "start_time" (UNIX seconds),
"false_positive". Every message of one tracked object maps to the same event id (uuid5 of the
Frigate camera and id), so the first one stored wins and the rest are harmless duplicates.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigie_contract import ContractError, Detection, EventV1, Location, ModelInfo

DEFAULT_TOPIC = "frigate/events"
# Fixed forever: event ids derived from it must stay the same across hub versions.
FRIGATE_NAMESPACE = uuid.UUID("6f0b1c2e-58a4-4c55-9d0e-3f1a8c7b2d90")
FRIGATE_MODEL_NAME = "frigate"
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class FrigateCamera(BaseModel):
    """Where a Frigate camera sits, under which Vigie agent/camera ids, and its detect size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: Identifier
    camera_id: Identifier
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    accuracy_m: float = Field(25.0, ge=0.0, le=100_000.0)
    # Frigate's detect resolution: its boxes are in these pixels.
    frame_width: int = Field(ge=1, le=16384)
    frame_height: int = Field(ge=1, le=16384)


class FrigateThreat(BaseModel):
    """The Vigie threat a Frigate label stands for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threat_type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    severity: Literal["low", "medium", "high", "critical"]
    perimeter_m: float = Field(50.0, gt=0.0, le=10_000.0)


class FrigateSettings(BaseModel):
    """The Frigate adapter of one site: off unless enabled, with its camera and label mappings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    topic: str = Field(DEFAULT_TOPIC, pattern=r"^[^#+\s]+$")
    # Frigate camera name -> Vigie identity and position.
    cameras: dict[str, FrigateCamera] = Field(default_factory=dict)
    # Frigate label (e.g. "knife") -> Vigie threat.
    labels: dict[str, FrigateThreat] = Field(default_factory=dict)


class _FrigateObject(BaseModel):
    """The fields of a Frigate tracked object ("after") the adapter reads; others are ignored."""

    id: str = Field(min_length=1, max_length=128)
    camera: str = Field(min_length=1, max_length=128)
    label: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    start_time: float = Field(gt=0.0, lt=32503680000.0)
    top_score: float | None = Field(None, ge=0.0, le=1.0)
    score: float | None = Field(None, ge=0.0, le=1.0)
    box: tuple[float, float, float, float]
    false_positive: bool = False


class _FrigateMessage(BaseModel):
    type: Literal["new", "update", "end"]
    after: _FrigateObject


def frigate_event(payload: bytes, settings: FrigateSettings, max_bytes: int) -> EventV1:
    """The Vigie event a Frigate `frigate/events` message reports; ContractError if it cannot."""
    if len(payload) > max_bytes:
        raise ContractError("oversize", f"{len(payload)} bytes > limit {max_bytes}")
    tracked = _parse(payload).after
    if tracked.false_positive:
        raise ContractError("frigate_false_positive", f"Frigate marks {tracked.id} false positive")
    camera = settings.cameras.get(tracked.camera)
    if camera is None:
        raise ContractError(
            "frigate_unknown_camera", f"Frigate camera {tracked.camera!r} is not mapped"
        )
    threat = settings.labels.get(tracked.label)
    if threat is None:
        raise ContractError(
            "frigate_unmapped_label", f"Frigate label {tracked.label!r} is not mapped"
        )
    try:
        detection = Detection(
            label=tracked.label,
            score=_score(tracked),
            box=_normalised_box(tracked.box, camera),
        )
    except ValidationError as exc:
        raise ContractError("frigate_schema", f"after: {exc.errors()[0]['msg']}") from None
    return EventV1(
        event_id=frigate_event_id(tracked.camera, tracked.id),
        agent_id=camera.agent_id,
        camera_id=camera.camera_id,
        captured_at=datetime.fromtimestamp(tracked.start_time, timezone.utc),
        threat_type=threat.threat_type,
        severity=threat.severity,
        detections=[detection],
        location=Location(
            lat=camera.lat, lon=camera.lon, source="camera", accuracy_m=camera.accuracy_m
        ),
        perimeter_m=threat.perimeter_m,
        model=ModelInfo(name=FRIGATE_MODEL_NAME),
    )


def frigate_event_id(camera: str, frigate_id: str) -> uuid.UUID:
    """The Vigie event id of one Frigate tracked object: the same for all its messages."""
    return uuid.uuid5(FRIGATE_NAMESPACE, f"{camera}/{frigate_id}")


def _parse(payload: bytes) -> _FrigateMessage:
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ContractError("malformed_json", str(exc)[:200]) from None
    try:
        return _FrigateMessage.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise ContractError("frigate_schema", f"{where}: {first['msg']}") from None


def _score(tracked: _FrigateObject) -> float:
    # top_score is the object's best score so far; older Frigate versions send only score.
    score = tracked.top_score if tracked.top_score is not None else tracked.score
    if score is None:
        raise ContractError("frigate_schema", "after: neither top_score nor score")
    return score


def _normalised_box(
    box: tuple[float, float, float, float], camera: FrigateCamera
) -> tuple[float, float, float, float]:
    # Boxes touching the frame edge may overshoot it by a pixel: clamp into the frame.
    x0, y0, x1, y1 = box
    width, height = camera.frame_width, camera.frame_height
    return (
        min(max(x0 / width, 0.0), 1.0),
        min(max(y0 / height, 0.0), 1.0),
        min(max(x1 / width, 0.0), 1.0),
        min(max(y1 / height, 0.0), 1.0),
    )
