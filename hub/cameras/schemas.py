"""Pydantic shapes of the cameras domain as the API reads and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

CameraName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]


class CameraOut(BaseModel):
    """A registered camera."""

    model_config = ConfigDict(from_attributes=True, frozen=True, title="Camera")

    id: str
    agent_id: str
    name: str
    lat: float | None
    lon: float | None
    heading_deg: float | None
    fov_deg: float | None
    range_m: float | None
    state: Literal["unknown", "online", "offline"]
    since: datetime
    last_seen: datetime
    last_health: dict


class CameraList(BaseModel):
    """Every registered camera, by id."""

    items: list[CameraOut]


class CameraUpdate(BaseModel):
    """What an admin sets on a camera (PUT replaces all of it; null clears a figure)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: CameraName
    lat: Annotated[float, Field(ge=-90.0, le=90.0)] | None = None
    lon: Annotated[float, Field(ge=-180.0, le=180.0)] | None = None
    heading_deg: (
        Annotated[float, Field(ge=0.0, lt=360.0, description="0 = north, 90 = east")] | None
    ) = None
    fov_deg: Annotated[float, Field(gt=0.0, le=360.0)] | None = None
    range_m: Annotated[float, Field(gt=0.0, le=10_000.0)] | None = None

    @model_validator(mode="after")
    def _position_is_whole(self) -> CameraUpdate:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together: give both or neither")
        return self
