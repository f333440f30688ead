"""Queries and writes of the events domain; each function takes its Session explicitly."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.events.models import (
    DEAD_LETTER_DETAIL_LIMIT,
    DEAD_LETTER_PAYLOAD_LIMIT,
    GEOGRAPHY_COLUMN,
    DeadLetter,
    Event,
)
from hub.events.schemas import DeadLetterRecord, StoredEvent
from vigie_contract import EventV1

# Mean Earth radius (IUGG), the sphere PostGIS uses when use_spheroid is false: both backends then
# measure the same distance, and 0.3 % off the ellipsoid is far below a camera's accuracy_m.
EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_M / 180.0


@dataclass(frozen=True)
class StoreResult:
    """What store_event did: stored a new row (`event` set) or found a duplicate."""

    event: StoredEvent | None

    @property
    def duplicate(self) -> bool:
        """True when the event_id was already stored and nothing changed."""
        return self.event is None


def store_event(session: Session, event: EventV1, *, received_at: datetime) -> StoreResult:
    """Insert the event unless its event_id is already stored; the caller commits."""
    wire = event.to_dict()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(Event)
        .values(
            event_id=event.event_id,
            agent_id=event.agent_id,
            camera_id=event.camera_id,
            captured_at=event.captured_at,
            received_at=received_at,
            threat_type=event.threat_type,
            severity=event.severity,
            lat=event.location.lat,
            lon=event.location.lon,
            location_source=event.location.source,
            accuracy_m=event.location.accuracy_m,
            perimeter_m=event.perimeter_m,
            detections=wire["detections"],
            model_name=event.model.name,
            payload=wire,
        )
        .on_conflict_do_nothing(index_elements=[Event.event_id])
        .returning(Event.id)
    )
    new_id = session.execute(statement).scalar_one_or_none()
    if new_id is None:
        return StoreResult(event=None)
    return StoreResult(event=_stored(wire, new_id, received_at))


def list_events(session: Session, limit: int, after_id: int | None = None) -> list[StoredEvent]:
    """The newest `limit` events, or with after_id the next `limit` after it, oldest first."""
    query = sa.select(Event.id, Event.received_at, Event.payload).limit(limit)
    if after_id is None:
        query = query.order_by(Event.id.desc())
    else:
        query = query.where(Event.id > after_id).order_by(Event.id.asc())
    return [_stored(row.payload, row.id, row.received_at) for row in session.execute(query)]


def events_within_radius(
    session: Session, lat: float, lon: float, radius_m: float, limit: int = 1000
) -> list[StoredEvent]:
    """Events located within radius_m metres of (lat, lon), newest first."""
    if session.get_bind().dialect.name == "postgresql":
        return _within_radius_postgis(session, lat, lon, radius_m, limit)
    return _within_radius_haversine(session, lat, lon, radius_m, limit)


def store_dead_letter(
    session: Session, *, topic: str, reason: str, detail: str, payload: bytes, received_at: datetime
) -> int:
    """Record a rejected message (payload truncated to a bound); the caller commits."""
    letter = DeadLetter(
        received_at=received_at,
        topic=_storable_text(topic),
        reason=reason,
        detail=_storable_text(detail)[:DEAD_LETTER_DETAIL_LIMIT],
        payload=payload[:DEAD_LETTER_PAYLOAD_LIMIT],
        payload_size=len(payload),
    )
    session.add(letter)
    session.flush()
    return letter.id


def list_dead_letters(session: Session, limit: int = 100) -> list[DeadLetterRecord]:
    """The newest `limit` dead letters."""
    query = sa.select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    return [DeadLetterRecord.model_validate(row) for row in session.scalars(query)]


def _stored(wire: dict, event_id: int, received_at: datetime) -> StoredEvent:
    return StoredEvent.model_validate({**wire, "id": event_id, "received_at": received_at})


def _within_radius_postgis(
    session: Session, lat: float, lon: float, radius_m: float, limit: int
) -> list[StoredEvent]:
    centre = sa.cast(
        sa.func.ST_SetSRID(sa.func.ST_MakePoint(lon, lat), 4326),
        Geography(geometry_type="POINT", srid=4326),
    )
    geography = sa.literal_column(f"events.{GEOGRAPHY_COLUMN}")
    query = (
        sa.select(Event.id, Event.received_at, Event.payload)
        .where(sa.func.ST_DWithin(geography, centre, radius_m, False))
        .order_by(Event.id.desc())
        .limit(limit)
    )
    return [_stored(row.payload, row.id, row.received_at) for row in session.execute(query)]


def _within_radius_haversine(
    session: Session, lat: float, lon: float, radius_m: float, limit: int
) -> list[StoredEvent]:
    query = sa.select(Event.id, Event.received_at, Event.payload, Event.lat, Event.lon).order_by(
        Event.id.desc()
    )
    query = query.where(*_bounding_box(lat, lon, radius_m))
    found = []
    for row in session.execute(query):
        if haversine_m(lat, lon, row.lat, row.lon) <= radius_m:
            found.append(_stored(row.payload, row.id, row.received_at))
            if len(found) == limit:
                break
    return found


def _bounding_box(lat: float, lon: float, radius_m: float) -> list[sa.ColumnElement[bool]]:
    # A cheap index-friendly prefilter; exact distances are checked in Python afterwards.
    dlat = radius_m / METRES_PER_DEGREE_LAT
    conditions = [Event.lat.between(lat - dlat, lat + dlat)]
    cos_lat = math.cos(math.radians(lat))
    # Near a pole or across the antimeridian a longitude window is not one interval: skip it.
    if lat + dlat < 90.0 and lat - dlat > -90.0 and cos_lat > 0.0:
        dlon = dlat / cos_lat
        if lon - dlon > -180.0 and lon + dlon < 180.0:
            conditions.append(Event.lon.between(lon - dlon, lon + dlon))
    return conditions


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on the mean-radius sphere."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _storable_text(text: str) -> str:
    # PostgreSQL text cannot hold NUL; a dead letter must always be storable.
    return text.replace("\x00", "\\x00")
