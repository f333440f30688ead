"""Pydantic shapes of the playbooks domain as the API reads and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Severity = Literal["low", "medium", "high", "critical"]
ActionText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]


class PlaybookSpec(BaseModel):
    """The editable part of a playbook: what PUT takes."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    severity: Severity
    perimeter_m: Annotated[float, Field(gt=0.0, le=10_000.0)]
    actions: Annotated[list[ActionText], Field(min_length=1, max_length=50)]


class PlaybookRecord(PlaybookSpec):
    """A stored playbook."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    threat_type: str
    updated_at: datetime
    updated_by: str


class PlaybookList(BaseModel):
    """Every stored playbook, by threat type."""

    items: list[PlaybookRecord]
