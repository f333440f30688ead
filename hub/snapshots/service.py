"""Writes and reads of snapshots; each function takes its Session explicitly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.events.models import Event
from hub.ingest.validation import SnapshotMessage
from hub.snapshots.models import Snapshot


def store_snapshots(
    session: Session, snapshots: Sequence[tuple[SnapshotMessage, datetime]]
) -> None:
    """Insert (snapshot, received_at) pairs in one statement; a re-delivery changes nothing."""
    if not snapshots:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "event_id": snapshot.event_id,
            "agent_id": snapshot.agent_id,
            "camera_id": snapshot.camera_id,
            "received_at": received_at,
            "size": len(snapshot.jpeg),
            "jpeg": snapshot.jpeg,
        }
        for snapshot, received_at in snapshots
    ]
    session.execute(insert(Snapshot).on_conflict_do_nothing(), rows)


def load_snapshot(session: Session, event_id: uuid.UUID) -> bytes | None:
    """The JPEG of a stored event, sent by the agent and camera of the event itself; else None."""
    query = (
        sa.select(Snapshot.jpeg)
        .join(
            Event,
            sa.and_(
                Event.event_id == Snapshot.event_id,
                Event.agent_id == Snapshot.agent_id,
                Event.camera_id == Snapshot.camera_id,
            ),
        )
        .where(Snapshot.event_id == event_id)
    )
    return session.scalar(query)
