"""Table of the cameras domain."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, JsonDocument, UtcDateTime


class Camera(Base):
    """A camera, its ground position and field of view, and its last known state."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Unknown until an event located at the camera or an admin places it.
    lat: Mapped[float | None] = mapped_column(sa.Double)
    lon: Mapped[float | None] = mapped_column(sa.Double)
    heading_deg: Mapped[float | None] = mapped_column(sa.Double)
    fov_deg: Mapped[float | None] = mapped_column(sa.Double)
    range_m: Mapped[float | None] = mapped_column(sa.Double)
    # "unknown" until a status or heartbeat says online or offline.
    state: Mapped[str] = mapped_column(sa.String(8))
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_health: Mapped[dict] = mapped_column(JsonDocument)
