"""Table of the audit domain: one row per recorded action, never updated or deleted."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, BigIntegerId, JsonDocument, UtcDateTime

# Who acts when nobody does: not a valid username (see hub.users), so it cannot be impersonated.
SYSTEM_ACTOR = "@hub"
NOTE_MAX_LENGTH = 2000


class AuditEntry(Base):
    """One action: actor, time, what, on which target, an optional note and structured details."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_target", "target_type", "target_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(sa.String(64), index=True)
    action: Mapped[str] = mapped_column(sa.String(48), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str] = mapped_column(sa.String(64))
    note: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict] = mapped_column(JsonDocument)
