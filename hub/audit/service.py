"""Writes and queries of the audit log; each function takes its Session explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.audit.models import AuditEntry
from hub.audit.schemas import AuditPage, AuditRecord


@dataclass(frozen=True)
class AuditFilters:
    """Optional conditions on the listed entries (all must hold)."""

    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | int,
    at: datetime,
    note: str | None = None,
    details: dict | None = None,
) -> AuditRecord:
    """Append one entry in the caller's transaction, so it commits or rolls back with the change."""
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        note=note,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return AuditRecord.model_validate(entry)


def list_audit(
    session: Session, filters: AuditFilters, limit: int, before_id: int | None = None
) -> AuditPage:
    """Entries matching `filters`, newest first, `limit` at a time below before_id."""
    query = sa.select(AuditEntry).where(*_conditions(filters)).order_by(AuditEntry.id.desc())
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    items = [AuditRecord.model_validate(row) for row in rows[:limit]]
    return AuditPage(items=items, next_before_id=items[-1].id if len(rows) > limit else None)


def audit_trail(session: Session, target_type: str, target_id: str | int) -> list[AuditRecord]:
    """Every entry about one target, oldest first."""
    query = (
        sa.select(AuditEntry)
        .where(AuditEntry.target_type == target_type, AuditEntry.target_id == str(target_id))
        .order_by(AuditEntry.id)
    )
    return [AuditRecord.model_validate(row) for row in session.scalars(query)]


def _conditions(filters: AuditFilters) -> list[sa.ColumnElement[bool]]:
    conditions = []
    equal = {
        AuditEntry.actor: filters.actor,
        AuditEntry.action: filters.action,
        AuditEntry.target_type: filters.target_type,
        AuditEntry.target_id: filters.target_id,
    }
    conditions += [column == value for column, value in equal.items() if value is not None]
    if filters.since is not None:
        conditions.append(AuditEntry.at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEntry.at < filters.until)
    return conditions
