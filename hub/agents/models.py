"""Table of the agents domain."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, JsonDocument, UtcDateTime


class Agent(Base):
    """An edge agent, its state and its last health report."""

    __tablename__ = "agents"
    __table_args__ = (sa.Index("ix_agents_state_last_seen", "state", "last_seen_at"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    # "unknown" until a status or heartbeat says online or offline.
    state: Mapped[str] = mapped_column(sa.String(8))
    state_since: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[str | None] = mapped_column(sa.String(200))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The hub's clock, not the agent's: staleness must not depend on a drifting agent clock.
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_health: Mapped[dict] = mapped_column(JsonDocument)
