"""Tables of the events domain: stored events and rejected messages (dead letters)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, BigIntegerId, JsonDocument, UtcDateTime

# Enough of a rejected payload to diagnose it without letting one sender fill the disk.
DEAD_LETTER_PAYLOAD_LIMIT = 4096
DEAD_LETTER_DETAIL_LIMIT = 1000


class Event(Base):
    """One confirmed threat, stored once per event_id; `id` is the monotonic stream position."""

    __tablename__ = "events"
    # AUTOINCREMENT keeps SQLite from reusing the highest id after a delete: ids never go back.
    __table_args__ = (
        sa.Index("ix_events_captured_at", "captured_at"),
        # Spatial pages pick their ids from this index alone (index-only scans) before reading
        # rows; SQLite's index holds the id already (the rowid).
        sa.Index("ix_events_lat_lon", "lat", "lon", postgresql_include=["id"]),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True)
    agent_id: Mapped[str] = mapped_column(sa.String(64))
    camera_id: Mapped[str] = mapped_column(sa.String(64))
    captured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    threat_type: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(16))
    lat: Mapped[float] = mapped_column(sa.Double)
    lon: Mapped[float] = mapped_column(sa.Double)
    location_source: Mapped[str] = mapped_column(sa.String(16))
    accuracy_m: Mapped[float] = mapped_column(sa.Double)
    perimeter_m: Mapped[float] = mapped_column(sa.Double)
    detections: Mapped[list] = mapped_column(JsonDocument)
    model_name: Mapped[str] = mapped_column(sa.String(128))
    payload: Mapped[dict] = mapped_column(JsonDocument)


class DeadLetter(Base):
    """A message the hub refused, with why, and the start of its payload."""

    __tablename__ = "dead_letters"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    topic: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.String(32), index=True)
    detail: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    payload_size: Mapped[int] = mapped_column(sa.Integer)


# PostGIS only: the migrations also give events two points derived from lat/lon (generated
# columns geog and geom, GiST-indexed) that the models leave out; the hub's own queries use lat/lon.
