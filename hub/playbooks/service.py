"""Reads and edits of playbooks; each function takes its Session explicitly."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.audit.models import SYSTEM_ACTOR
from hub.audit.service import record_audit
from hub.playbooks.defaults import DEFAULT_PLAYBOOKS, GENERIC_THREAT_TYPE
from hub.playbooks.models import Playbook
from hub.playbooks.schemas import PlaybookList, PlaybookRecord, PlaybookSpec


def seed_playbooks(session: Session, now: datetime) -> None:
    """Store each default playbook whose threat type has none yet; never overwrites an edit."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            **spec.model_dump(),
            "threat_type": threat_type,
            "updated_at": now,
            "updated_by": SYSTEM_ACTOR,
        }
        for threat_type, spec in DEFAULT_PLAYBOOKS.items()
    ]
    # Several replicas may start together: inserting what is missing is the idempotent seed.
    session.execute(insert(Playbook).values(rows).on_conflict_do_nothing())


def list_playbooks(session: Session) -> PlaybookList:
    """Every stored playbook, by threat type."""
    rows = session.scalars(sa.select(Playbook).order_by(Playbook.threat_type))
    return PlaybookList(items=[PlaybookRecord.model_validate(row) for row in rows])


def get_playbook(session: Session, threat_type: str) -> PlaybookRecord | None:
    """The stored playbook of exactly this threat type, or None."""
    row = session.get(Playbook, threat_type)
    return None if row is None else PlaybookRecord.model_validate(row)


def playbook_for(session: Session, threat_type: str) -> PlaybookSpec:
    """The playbook that applies to a threat type: its own, else the generic one."""
    for key in (threat_type, GENERIC_THREAT_TYPE):
        row = session.get(Playbook, key)
        if row is not None:
            return PlaybookSpec.model_validate(row, from_attributes=True)
    # Only before the defaults are seeded (a fresh database in a tool or a test).
    return DEFAULT_PLAYBOOKS.get(threat_type, DEFAULT_PLAYBOOKS[GENERIC_THREAT_TYPE])


def save_playbook(
    session: Session, threat_type: str, spec: PlaybookSpec, actor: str, now: datetime
) -> PlaybookRecord:
    """Create or replace a threat type's playbook and audit the change; the caller commits."""
    row = session.get(Playbook, threat_type, with_for_update=True)
    before = None if row is None else PlaybookSpec.model_validate(row, from_attributes=True)
    if row is None:
        row = Playbook(threat_type=threat_type)
        session.add(row)
    row.severity, row.perimeter_m, row.actions = spec.severity, spec.perimeter_m, list(spec.actions)
    row.updated_at, row.updated_by = now, actor
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="playbook.update" if before else "playbook.create",
        target_type="playbook",
        target_id=threat_type,
        at=now,
        details={"before": before.model_dump() if before else None, "after": spec.model_dump()},
    )
    return PlaybookRecord.model_validate(row)
