"""Pydantic shapes of the events domain as the API and the stream show them."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vigie_contract import EventV1


class StoredEvent(EventV1):
    """The wire event exactly as received (v1 JSON), plus where and when the hub stored it."""

    model_config = ConfigDict(title="StoredEvent")

    id: int = Field(ge=1, description="Monotonic stream position (the database id).")
    received_at: AwareDatetime = Field(description="When the hub received the event, UTC.")


class EventPage(BaseModel):
    """A page of stored events."""

    items: list[StoredEvent]


class DeadLetterRecord(BaseModel):
    """A rejected message as stored."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload: bytes
    payload_size: int
