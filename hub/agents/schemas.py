"""Pydantic shapes of the agents domain as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class AgentOut(BaseModel):
    """A registered agent."""

    model_config = ConfigDict(from_attributes=True, frozen=True, title="Agent")

    id: str
    state: Literal["unknown", "online", "offline"]
    state_since: datetime
    version: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    last_status_at: datetime | None
    last_heartbeat_at: datetime | None
    last_health: dict


class AgentList(BaseModel):
    """Every registered agent, by id."""

    items: list[AgentOut]
