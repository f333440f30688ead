"""Pydantic shapes of the audit domain as the API shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class AuditRecord(BaseModel):
    """One audit log entry."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    note: str | None
    details: dict


class AuditPage(BaseModel):
    """A page of audit entries, newest first; pass next_before_id as before_id for the next."""

    items: list[AuditRecord]
    next_before_id: int | None
