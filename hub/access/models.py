"""Table of the access domain: one row per access to personal data, never updated or deleted."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, BigIntegerId, JsonDocument, UtcDateTime

REASON_MAX_LENGTH = 500


class AccessEntry(Base):
    """One access: who, when, what kind (view, export, change), of what, and the reason given."""

    __tablename__ = "access_log"
    __table_args__ = (
        sa.Index("ix_access_log_target", "target_type", "target_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    username: Mapped[str] = mapped_column(sa.String(64), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(48), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.String(REASON_MAX_LENGTH))
    details: Mapped[dict] = mapped_column(JsonDocument)
