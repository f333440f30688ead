"""The snapshots table: one JPEG per event, keyed by the identity its topic named.

Snapshots live in the database rather than a directory: they are committed (and the MQTT message
acknowledged) in the same transaction as the rest of a batch, every replica reads them without a
shared disk, and retention deletes them with a query. They are at most MAX_SNAPSHOT_BYTES each.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UtcDateTime

SNAPSHOT_CONTENT_TYPE = "image/jpeg"


class Snapshot(Base):
    """A JPEG published on vigie/v1/<agent_id>/<camera_id>/snapshot/<event_id>.

    The key includes the agent and camera of the topic, so a snapshot sent under another agent's
    identity can neither replace nor be served as the real one.
    """

    __tablename__ = "snapshots"

    event_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    agent_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    size: Mapped[int] = mapped_column(sa.Integer)
    jpeg: Mapped[bytes] = mapped_column(sa.LargeBinary)
