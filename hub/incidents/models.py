"""Tables of the incidents domain: incidents, the events grouped in them, their checklists."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, BigIntegerId, JsonDocument, UtcDateTime


class Incident(Base):
    """One threat people act on: events of one type from one camera or area, grouped."""

    __tablename__ = "incidents"
    __table_args__ = (
        sa.Index("ix_incidents_open_lookup", "status", "threat_type", "last_seen"),
        sa.Index("ix_incidents_lat_lon", "lat", "lon"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    threat_type: Mapped[str] = mapped_column(sa.String(32))
    # "event" for detections; "health" for agent or camera outages (no event row behind them).
    source: Mapped[str] = mapped_column(sa.String(8))
    severity: Mapped[str] = mapped_column(sa.String(16), index=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    agent_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    camera_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # An agent outage has no position when none of its cameras has one.
    lat: Mapped[float | None] = mapped_column(sa.Double)
    lon: Mapped[float | None] = mapped_column(sa.Double)
    perimeter_m: Mapped[float] = mapped_column(sa.Double)
    event_count: Mapped[int] = mapped_column(sa.Integer)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    details: Mapped[dict] = mapped_column(JsonDocument)
    # Under investigation: retention keeps its events and snapshots until an admin releases it.
    legal_hold: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())


class IncidentEvent(Base):
    """Which incident a stored event belongs to (exactly one)."""

    __tablename__ = "incident_events"

    event_id: Mapped[int] = mapped_column(
        BigIntegerId, sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    incident_id: Mapped[int] = mapped_column(
        BigIntegerId, sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )


class ChecklistItem(Base):
    """One playbook action of an incident, ticked off by a dispatcher."""

    __tablename__ = "incident_checklist"

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        BigIntegerId, sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(sa.Integer)
    text: Mapped[str] = mapped_column(sa.Text)
    done: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    done_by: Mapped[str | None] = mapped_column(sa.String(64))
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# PostGIS only: a geography point derived from lat/lon, GiST-indexed, created by the migrations.
GEOGRAPHY_COLUMN = "geog"
