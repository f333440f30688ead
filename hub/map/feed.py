"""The map's event feed: stored events with the incident each belongs to, light enough for 10k."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.events.models import Event
from hub.incidents.models import Incident, IncidentEvent

MAX_FEED_PAGE = 5000


@dataclass(frozen=True)
class FeedQuery:
    """Which events the map asks for: a capture-time window and a keyset page.

    With after_id the page goes forward (oldest first); otherwise it is the newest below
    before_id (or the newest of all), newest first.
    """

    captured_from: datetime | None = None
    captured_to: datetime | None = None
    after_id: int | None = None
    before_id: int | None = None
    limit: int = 1000


def feed_page(session: Session, query: FeedQuery) -> dict:
    """One page of map events as JSON-ready dicts, and the cursor of the next (older) page.

    Rows skip pydantic on purpose: they were validated on ingest, and the map reads thousands.
    """
    statement = (
        sa.select(
            Event.id,
            Event.received_at,
            Event.payload,
            Incident.id.label("incident_id"),
            Incident.status.label("incident_status"),
            Incident.updated_at.label("incident_updated_at"),
        )
        .outerjoin(IncidentEvent, IncidentEvent.event_id == Event.id)
        .outerjoin(Incident, Incident.id == IncidentEvent.incident_id)
        .where(*_conditions(query))
        .order_by(Event.id.asc() if query.after_id is not None else Event.id.desc())
        .limit(query.limit + 1)
    )
    rows = session.execute(statement).all()
    page = rows[: query.limit]
    more = len(rows) > query.limit and query.after_id is None
    return {
        "items": [_item(row) for row in page],
        "next_before_id": page[-1].id if more else None,
    }


def _conditions(query: FeedQuery) -> list[sa.ColumnElement[bool]]:
    conditions = []
    if query.captured_from is not None:
        conditions.append(Event.captured_at >= query.captured_from)
    if query.captured_to is not None:
        conditions.append(Event.captured_at < query.captured_to)
    if query.after_id is not None:
        conditions.append(Event.id > query.after_id)
    if query.before_id is not None:
        conditions.append(Event.id < query.before_id)
    return conditions


def _item(row: sa.Row) -> dict:
    incident = None
    if row.incident_id is not None:
        incident = {
            "id": row.incident_id,
            "status": row.incident_status,
            "updated_at": row.incident_updated_at.isoformat(),
        }
    return {
        **row.payload,
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "incident": incident,
    }
