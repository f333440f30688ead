"""Pydantic shapes of the access log as the API shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class AccessRecord(BaseModel):
    """One access log entry."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    at: datetime
    username: str
    role: str
    action: str
    target_type: str
    target_id: str
    reason: str | None
    details: dict


class AccessPage(BaseModel):
    """A page of entries, newest first; pass next_before_id as before_id for the next."""

    items: list[AccessRecord]
    next_before_id: int | None
