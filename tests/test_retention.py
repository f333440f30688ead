"""Retention: the purge deletes what is past its maximum age, except what a legal hold keeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.access.models import AccessEntry
from hub.app import retention_policy
from hub.audit.service import audit_trail
from hub.config import HubSettings
from hub.db.engine import Database
from hub.events.models import DeadLetter, Event
from hub.incidents.models import Incident, IncidentEvent
from hub.incidents.service import get_incident
from hub.ingest.pipeline import IngestOptions, ReceivedMessage, ingest_batch
from hub.retention.schedule import purge_once
from hub.retention.service import IncidentMissing, purge_expired, set_legal_hold
from hub.snapshots.models import Snapshot
from hub.users.roles import Role
from hub.users.service import AuthMethod, Principal
from tests.hubserver import make_event, opened_database
from vigie_contract import MAX_EVENT_BYTES, EventV1, snapshot_topic
from vigie_contract.event import utc_now

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
POLICY = retention_policy(HubSettings())  # the defaults: snapshots 30 days, events 90
ADMIN = Principal(user_id=1, username="ana", role=Role.ADMIN, method=AuthMethod.TOKEN)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The hub's database on each backend with its schema."""
    with opened_database(database_url) as database:
        yield database


def receive(
    database: Database, event: EventV1, days_ago: float, jpeg: bytes | None, now: datetime = NOW
) -> None:
    """Ingest an event (filing its incident) and its snapshot as if received `days_ago`."""
    received_at = now - timedelta(days=days_ago)
    messages = [
        ReceivedMessage(
            f"vigie/v1/{event.agent_id}/{event.camera_id}/event", event.to_json(), received_at
        )
    ]
    if jpeg is not None:
        topic = snapshot_topic(event.agent_id, event.camera_id, str(event.event_id))
        messages.insert(0, ReceivedMessage(topic, jpeg, received_at))
    ingest_batch(database.sessions, messages, IngestOptions(max_event_bytes=MAX_EVENT_BYTES))


def reject(database: Database, days_ago: float) -> None:
    """Ingest a malformed message `days_ago`: a dead letter."""
    topic = "vigie/v1/agent-1/cam-1/event"
    ingest_batch(
        database.sessions,
        [ReceivedMessage(topic, b"{not json", NOW - timedelta(days=days_ago))],
        IngestOptions(max_event_bytes=MAX_EVENT_BYTES),
    )


def incident_of(database: Database, event: EventV1) -> int:
    """The id of the incident an event was filed in."""
    with database.sessions() as session:
        return session.scalar(
            sa.select(IncidentEvent.incident_id)
            .join(Event, Event.id == IncidentEvent.event_id)
            .where(Event.event_id == event.event_id)
        )


def kept(database: Database) -> dict[str, set]:
    """What is left: event_ids of events and snapshots, ages of dead letters in days."""
    with database.sessions() as session:
        return {
            "events": set(session.scalars(sa.select(Event.event_id))),
            "snapshots": set(session.scalars(sa.select(Snapshot.event_id))),
            "dead_letters": {
                round((NOW - at).days) for at in session.scalars(sa.select(DeadLetter.received_at))
            },
            "incident_events": set(session.scalars(sa.select(IncidentEvent.event_id))),
        }


def test_the_purge_keeps_only_what_is_recent_or_on_legal_hold(database, media: Path):
    jpeg = (media / "grace_hopper.jpg").read_bytes()
    # Far apart and on their own cameras: one incident each.
    old = make_event(camera_id="cam-old", lat=45.0, lon=5.0)
    held = make_event(camera_id="cam-held", lat=43.0, lon=1.0)
    month = make_event(camera_id="cam-month", lat=47.0, lon=3.0)
    today = make_event(camera_id="cam-today", lat=49.0, lon=4.0)
    receive(database, old, days_ago=100, jpeg=jpeg)
    receive(database, held, days_ago=100, jpeg=jpeg)
    receive(database, month, days_ago=40, jpeg=jpeg)
    receive(database, today, days_ago=1, jpeg=jpeg)
    reject(database, days_ago=40)
    reject(database, days_ago=1)
    with database.sessions.begin() as session:
        set_legal_hold(session, incident_of(database, held), True, "inquiry 2026-118", ADMIN, NOW)

    with database.sessions.begin() as session:
        report = purge_expired(session, POLICY, NOW)

    left = kept(database)
    assert left["events"] == {held.event_id, month.event_id, today.event_id}
    # The month-old event stays (90 days) but its image goes (30 days); held data stays whole.
    assert left["snapshots"] == {held.event_id, today.event_id}
    assert left["dead_letters"] == {1}
    assert len(left["incident_events"]) == 3
    assert (report.events, report.snapshots, report.dead_letters) == (1, 2, 1)

    with database.sessions.begin() as session:
        set_legal_hold(session, incident_of(database, held), False, "inquiry closed", ADMIN, NOW)
        purge_expired(session, POLICY, NOW)
    assert kept(database)["events"] == {month.event_id, today.event_id}
    assert kept(database)["snapshots"] == {today.event_id}


def test_a_legal_hold_is_audited_and_access_logged(database):
    event = make_event()
    receive(database, event, days_ago=1, jpeg=None)
    incident_id = incident_of(database, event)

    with database.sessions.begin() as session:
        set_legal_hold(session, incident_id, True, "court order 42", ADMIN, NOW)

    with database.sessions() as session:
        trail = audit_trail(session, "incident", incident_id)
        assert session.get(Incident, incident_id).legal_hold is True
        # What the API and the stream show of the incident says so too.
        assert get_incident(session, incident_id).legal_hold is True
        access = session.scalars(sa.select(AccessEntry)).one()
    hold = [entry for entry in trail if entry.action == "incident.legal_hold"]
    assert len(hold) == 1 and hold[0].actor == "ana" and hold[0].note == "court order 42"
    assert (access.username, access.action, access.target_id, access.reason) == (
        "ana",
        "incident.legal_hold",
        str(incident_id),
        "court order 42",
    )


def test_a_legal_hold_on_a_missing_incident_is_refused(database):
    with pytest.raises(IncidentMissing), database.sessions.begin() as session:
        set_legal_hold(session, 999_999, True, "no such thing", ADMIN, NOW)


def test_the_scheduled_purge_commits_and_reports(database):
    event = make_event()
    receive(database, event, days_ago=200, jpeg=None, now=utc_now())

    report = purge_once(database, POLICY)

    assert report.events == 1
    assert kept(database)["events"] == set()


def test_retention_settings_are_checked():
    with pytest.raises(ValueError, match="retention_snapshots_days"):
        HubSettings(retention_snapshots_days=0)
