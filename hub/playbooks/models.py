"""Table of the playbooks domain: one playbook per threat type."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, JsonDocument, UtcDateTime


class Playbook(Base):
    """What to do about one threat type; `generic` covers the types without their own."""

    __tablename__ = "playbooks"

    threat_type: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    severity: Mapped[str] = mapped_column(sa.String(16))
    perimeter_m: Mapped[float] = mapped_column(sa.Double)
    actions: Mapped[list] = mapped_column(JsonDocument)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(sa.String(64))
