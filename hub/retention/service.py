"""The purge of old events, snapshots and dead letters; the legal hold that exempts incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.access.service import LEGAL_HOLD, Access, record_access
from hub.audit.service import record_audit
from hub.events.models import DeadLetter, Event
from hub.incidents.models import Incident, IncidentEvent
from hub.snapshots.models import Snapshot
from hub.users.service import Principal


class IncidentMissing(LookupError):
    """No incident has this id."""


@dataclass(frozen=True)
class RetentionPolicy:
    """The maximum age of each kind of stored data, counted from its arrival at the hub."""

    events: timedelta
    snapshots: timedelta
    dead_letters: timedelta


@dataclass(frozen=True)
class PurgeReport:
    """How many rows of each kind one purge deleted."""

    events: int
    snapshots: int
    dead_letters: int


def purge_expired(session: Session, policy: RetentionPolicy, now: datetime) -> PurgeReport:
    """Delete what is older than the policy allows, in the caller's transaction; held data stays."""
    held_events = (
        sa.select(IncidentEvent.event_id)
        .join(Incident, Incident.id == IncidentEvent.incident_id)
        .where(Incident.legal_hold)
    )
    expired_events = sa.select(Event.id).where(
        Event.received_at < now - policy.events, Event.id.not_in(held_events)
    )
    held_event_ids = sa.select(Event.event_id).where(Event.id.in_(held_events))
    expired_event_ids = sa.select(Event.event_id).where(Event.id.in_(expired_events))
    snapshots = session.execute(
        sa.delete(Snapshot).where(
            sa.or_(
                Snapshot.received_at < now - policy.snapshots,
                Snapshot.event_id.in_(expired_event_ids),
            ),
            Snapshot.event_id.not_in(held_event_ids),
        )
    ).rowcount
    # Explicitly, not by ON DELETE CASCADE: SQLite does not enforce foreign keys by default.
    session.execute(sa.delete(IncidentEvent).where(IncidentEvent.event_id.in_(expired_events)))
    events = session.execute(
        sa.delete(Event).where(
            Event.received_at < now - policy.events, Event.id.not_in(held_events)
        )
    ).rowcount
    dead_letters = session.execute(
        sa.delete(DeadLetter).where(DeadLetter.received_at < now - policy.dead_letters)
    ).rowcount
    return PurgeReport(events=events, snapshots=snapshots, dead_letters=dead_letters)


def set_legal_hold(
    session: Session,
    incident_id: int,
    hold: bool,
    reason: str,
    principal: Principal,
    now: datetime,
) -> bool:
    """Put an incident on legal hold (or release it), audited and access-logged; the new state."""
    incident = session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        raise IncidentMissing(f"no incident {incident_id}")
    previous = incident.legal_hold
    incident.legal_hold = hold
    incident.updated_at = now
    action = "incident.legal_hold" if hold else "incident.legal_hold_released"
    record_audit(
        session,
        actor=principal.username,
        action=action,
        target_type="incident",
        target_id=incident_id,
        at=now,
        note=reason,
        details={"legal_hold": hold, "was": previous},
    )
    record_access(
        session,
        principal,
        Access(LEGAL_HOLD, "incident", incident_id, reason, {"legal_hold": hold}),
        now,
    )
    return hold
