"""Writes and queries of the access log; each function takes its Session explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from hub.access.models import AccessEntry
from hub.access.schemas import AccessPage, AccessRecord
from hub.db.engine import Database
from hub.users.service import Principal
from vigie_contract.event import utc_now

# The kinds of access recorded (the `action` column).
VIEW_SNAPSHOT = "snapshot.view"
VIEW_INCIDENT = "incident.view"
EXPORT_EVENTS = "events.export"
EXPORT_ACCESS_LOG = "access_log.export"
CHANGE_INCIDENT = "incident.change"
LEGAL_HOLD = "incident.legal_hold"
EXPORT_CHUNK = 500


@dataclass(frozen=True)
class Access:
    """What one request did to which personal data, and the reason its user gave, if any."""

    action: str
    target_type: str
    target_id: str | int
    reason: str | None = None
    details: dict | None = None


@dataclass(frozen=True)
class AccessFilters:
    """Optional conditions on the listed entries (all must hold)."""

    username: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def record_access(session: Session, principal: Principal, access: Access, at: datetime) -> None:
    """Append one entry in the caller's transaction, so it commits with the change it records."""
    session.add(
        AccessEntry(
            at=at,
            username=principal.username,
            role=principal.role.value,
            action=access.action,
            target_type=access.target_type,
            target_id=str(access.target_id),
            reason=access.reason,
            details=access.details or {},
        )
    )
    session.flush()


def log_access(database: Database, principal: Principal, access: Access) -> None:
    """Record one read-only access in its own transaction, now."""
    with database.sessions.begin() as session:
        record_access(session, principal, access, utc_now())


def list_access(
    session: Session, filters: AccessFilters, limit: int, before_id: int | None = None
) -> AccessPage:
    """Entries matching `filters`, newest first, `limit` at a time below before_id."""
    query = sa.select(AccessEntry).where(*_conditions(filters)).order_by(AccessEntry.id.desc())
    if before_id is not None:
        query = query.where(AccessEntry.id < before_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    items = [AccessRecord.model_validate(row) for row in rows[:limit]]
    return AccessPage(items=items, next_before_id=items[-1].id if len(rows) > limit else None)


def iter_access(sessions: sessionmaker[Session], filters: AccessFilters) -> Iterator[AccessRecord]:
    """Every entry matching `filters`, oldest first, read in chunks (for exports)."""
    last_id = 0
    while True:
        with sessions() as session:
            query = (
                sa.select(AccessEntry)
                .where(*_conditions(filters), AccessEntry.id > last_id)
                .order_by(AccessEntry.id)
                .limit(EXPORT_CHUNK)
            )
            chunk = [AccessRecord.model_validate(row) for row in session.scalars(query)]
        yield from chunk
        if len(chunk) < EXPORT_CHUNK:
            return
        last_id = chunk[-1].id


def _conditions(filters: AccessFilters) -> list[sa.ColumnElement[bool]]:
    equal = {
        AccessEntry.username: filters.username,
        AccessEntry.action: filters.action,
        AccessEntry.target_type: filters.target_type,
        AccessEntry.target_id: filters.target_id,
    }
    conditions = [column == value for column, value in equal.items() if value is not None]
    if filters.since is not None:
        conditions.append(AccessEntry.at >= filters.since)
    if filters.until is not None:
        conditions.append(AccessEntry.at < filters.until)
    return conditions
