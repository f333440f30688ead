"""Pydantic shapes of the incidents domain as the API and the stream show them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.audit.schemas import AuditRecord
from hub.events.schemas import StoredEvent

IncidentStatus = Literal["new", "acknowledged", "dispatched", "resolved", "false_alarm"]
Note = Annotated[str, Field(max_length=2000)]


class ChecklistItemOut(BaseModel):
    """One playbook action of an incident and whether it is done."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    position: int
    text: str
    done: bool
    done_by: str | None
    done_at: datetime | None


class IncidentOut(BaseModel):
    """An incident as listed and streamed: {"type": "incident", "data": IncidentOut}."""

    model_config = ConfigDict(from_attributes=True, frozen=True, title="Incident")

    id: int
    threat_type: str
    source: Literal["event", "health"]
    severity: Literal["low", "medium", "high", "critical"]
    status: IncidentStatus
    agent_id: str
    camera_id: str | None
    lat: float | None
    lon: float | None
    perimeter_m: float
    event_count: int
    first_seen: datetime
    last_seen: datetime
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    details: dict = Field(description="Health incidents: the last health figures and reason.")
    legal_hold: bool = Field(description="Kept past retention, with its events, until released.")
    checklist: list[ChecklistItemOut]


class IncidentDetail(IncidentOut):
    """An incident with its events (oldest first) and its audit trail."""

    model_config = ConfigDict(title="IncidentDetail")

    events: list[StoredEvent]
    audit: list[AuditRecord]


class IncidentPage(BaseModel):
    """A page of incidents, newest first; pass next_before_id as before_id for the next page."""

    items: list[IncidentOut]
    next_before_id: int | None


class TransitionRequest(BaseModel):
    """Move an incident to another status, saying why."""

    model_config = ConfigDict(extra="forbid")

    to: IncidentStatus
    note: Note | None = None


class ChecklistUpdate(BaseModel):
    """Tick or untick one checklist item."""

    model_config = ConfigDict(extra="forbid")

    done: bool
    note: Note | None = None
