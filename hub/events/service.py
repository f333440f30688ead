"""Queries and writes of the events domain; each function takes its Session explicitly."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from hub.db.base import UtcDateTime
from hub.events.models import (
    DEAD_LETTER_DETAIL_LIMIT,
    DEAD_LETTER_PAYLOAD_LIMIT,
    DeadLetter,
    Event,
)
from hub.events.schemas import DeadLetterRecord, StoredEvent
from vigie_contract import EventV1

# Mean Earth radius (IUGG), the sphere PostGIS uses when use_spheroid is false: both backends then
# measure the same distance, and 0.3 % off the ellipsoid is far below a camera's accuracy_m.
EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_M / 180.0
# Added to each side of a circle's bounding box (about 0.1 mm), so that rounding never leaves out
# a point the distance test itself would keep.
BOUNDS_MARGIN_DEG = 1e-9
# Rows read per round when a radius is tested exactly in Python (SQLite) or exported.
SCAN_PAGE_SIZE = 1000
# PostgreSQL: the channel on which each committed batch of events announces its highest id.
EVENTS_CHANNEL = "vigie_events"
# Key of the transaction-level advisory lock that orders event writers (see lock_event_stream).
EVENT_STREAM_LOCK_KEY = 0x56494749  # "VIGI"


@dataclass(frozen=True)
class BoundingBox:
    """A lon/lat rectangle, edges included; min_lon > max_lon means it crosses the antimeridian."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True)
class Circle:
    """A radius in metres around a point."""

    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class EventFilters:
    """Conditions on listed events; all must hold, a tuple means any of its values."""

    # captured_from <= captured_at < captured_to
    captured_from: datetime | None = None
    captured_to: datetime | None = None
    bbox: BoundingBox | None = None
    near: Circle | None = None
    threat_types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    camera_id: str | None = None
    agent_id: str | None = None


@dataclass(frozen=True)
class PageRequest:
    """Keyset pagination: ids above after_id oldest first, else the newest below before_id."""

    limit: int = 100
    after_id: int | None = None
    before_id: int | None = None

    @property
    def ascending(self) -> bool:
        """True when the page goes forward from after_id (a replay), oldest first."""
        return self.after_id is not None


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
    stored = store_events(session, [(event, received_at)])
    return StoreResult(event=stored.get(event.event_id))


def store_events(
    session: Session, events: Sequence[tuple[EventV1, datetime]]
) -> dict[uuid.UUID, StoredEvent]:
    """Insert (event, received_at) pairs in one statement, skipping event_ids already stored.

    Returns the newly stored events by event_id, in the order given; the caller commits.
    """
    first_of_each: dict[uuid.UUID, tuple[EventV1, datetime]] = {}
    for event, received_at in events:
        first_of_each.setdefault(event.event_id, (event, received_at))
    if not first_of_each:
        return {}
    if _dialect(session) == "postgresql":
        new_ids = _insert_unnested(session, list(first_of_each.values()))
    else:
        rows = [_row(event, at, _wire(event)) for event, at in first_of_each.values()]
        statement = (
            sqlite.insert(Event.__table__)
            .on_conflict_do_nothing(index_elements=[Event.event_id])
            .returning(Event.id, Event.event_id)
        )
        # Core executemany: multi-row INSERTs ("insertmanyvalues") from one cached statement.
        new_ids = {
            event_id: new_id for new_id, event_id in session.connection().execute(statement, rows)
        }
    stored = {}
    for event_id, (event, received_at) in first_of_each.items():
        if event_id in new_ids:
            stored[event_id] = _stored_from_event(event, new_ids[event_id], received_at)
    return stored


# One array per column, whatever the batch size: the statement text never changes, so psycopg
# parses it once and the server prepares it, where a multi-row VALUES list is new text per batch.
# The documents travel as one JSON array (no per-element array quoting); ROWS FROM zips it with
# the column arrays in order, so ids follow the order of arrival.
_UNNESTED_INSERT = sa.text(
    """
    INSERT INTO events (event_id, agent_id, camera_id, captured_at, received_at, threat_type,
        severity, lat, lon, location_source, accuracy_m, perimeter_m, model_name, detections,
        payload)
    SELECT event_id, agent_id, camera_id, captured_at, received_at, threat_type, severity, lat,
        lon, location_source, accuracy_m, perimeter_m, model_name, payload -> 'detections', payload
    FROM ROWS FROM (
        unnest(CAST(:event_id AS uuid[])), unnest(CAST(:agent_id AS text[])),
        unnest(CAST(:camera_id AS text[])), unnest(CAST(:captured_at AS timestamptz[])),
        unnest(CAST(:received_at AS timestamptz[])), unnest(CAST(:threat_type AS text[])),
        unnest(CAST(:severity AS text[])), unnest(CAST(:lat AS float8[])),
        unnest(CAST(:lon AS float8[])), unnest(CAST(:location_source AS text[])),
        unnest(CAST(:accuracy_m AS float8[])), unnest(CAST(:perimeter_m AS float8[])),
        unnest(CAST(:model_name AS text[])), jsonb_array_elements(CAST(:payloads AS jsonb))
    ) AS batch(event_id, agent_id, camera_id, captured_at, received_at, threat_type, severity,
        lat, lon, location_source, accuracy_m, perimeter_m, model_name, payload)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING id, event_id
    """
).bindparams(
    # Each time goes through UtcDateTime, which refuses naive datetimes.
    sa.bindparam("captured_at", type_=postgresql.ARRAY(UtcDateTime)),
    sa.bindparam("received_at", type_=postgresql.ARRAY(UtcDateTime)),
)

_UNNESTED_COLUMNS = (
    "event_id",
    "agent_id",
    "camera_id",
    "captured_at",
    "received_at",
    "threat_type",
    "severity",
    "lat",
    "lon",
    "location_source",
    "accuracy_m",
    "perimeter_m",
    "model_name",
)


def _insert_unnested(
    session: Session, events: Sequence[tuple[EventV1, datetime]]
) -> dict[uuid.UUID, int]:
    """PostgreSQL: insert the events as column arrays; the new id of each event_id stored."""
    rows = [
        (
            event.event_id,
            event.agent_id,
            event.camera_id,
            event.captured_at,
            received_at,
            event.threat_type,
            event.severity,
            event.location.lat,
            event.location.lon,
            event.location.source,
            event.location.accuracy_m,
            event.perimeter_m,
            event.model.name,
        )
        for event, received_at in events
    ]
    columns = zip(
        _UNNESTED_COLUMNS, (list(column) for column in zip(*rows, strict=True)), strict=True
    )
    # Serialised by pydantic-core; PostgreSQL parses it once into the JSONB column.
    payloads = b"[" + b",".join(event.to_json() for event, _ in events) + b"]"
    result = session.connection().execute(
        _UNNESTED_INSERT, {**dict(columns), "payloads": payloads.decode()}
    )
    return {event_id: new_id for new_id, event_id in result}


def lock_event_stream(session: Session) -> int | None:
    """On PostgreSQL, wait for the event writers' lock until this transaction ends.

    Writers then commit in the order they draw ids, so whoever sees id N committed also sees
    every id below it: "everything above the last id I saw" is a gap-free cursor across replicas.
    Returns the highest id stored before this transaction (None on other databases).
    """
    if _dialect(session) != "postgresql":
        return None
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(EVENT_STREAM_LOCK_KEY)))
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(Event.id), 0)))


def notify_stored(session: Session, after_id: int, last_id: int) -> None:
    """On PostgreSQL, announce at commit that this process stored the ids in (after_id, last_id].

    A replica that has handed on every id up to after_id, and holds this process's batch in
    memory, needs no read; any other replica reads the ids above its last one.
    """
    if _dialect(session) == "postgresql":
        announcement = sa.func.json_build_object(
            "origin",
            sa.func.current_setting("application_name"),
            "after",
            after_id,
            "last",
            last_id,
        )
        session.execute(
            sa.select(sa.func.pg_notify(EVENTS_CHANNEL, sa.cast(announcement, sa.Text)))
        )


def event_identities(
    session: Session, event_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """(agent_id, camera_id) of each stored event among event_ids."""
    if not event_ids:
        return {}
    query = sa.select(Event.event_id, Event.agent_id, Event.camera_id).where(
        Event.event_id.in_(set(event_ids))
    )
    return {row.event_id: (row.agent_id, row.camera_id) for row in session.execute(query)}


def list_events(session: Session, limit: int, after_id: int | None = None) -> list[StoredEvent]:
    """The newest `limit` events, or with after_id the next `limit` after it, oldest first."""
    return find_events(session, EventFilters(), PageRequest(limit=limit, after_id=after_id))


def events_within_radius(
    session: Session, lat: float, lon: float, radius_m: float, limit: int = 1000
) -> list[StoredEvent]:
    """Events located within radius_m metres of (lat, lon), newest first."""
    return find_events(session, EventFilters(near=Circle(lat, lon, radius_m)), PageRequest(limit))


def find_events(session: Session, filters: EventFilters, page: PageRequest) -> list[StoredEvent]:
    """One page of the events matching `filters`, in id order (see PageRequest)."""
    dialect = _dialect(session)
    spatial = filters.bbox is not None or filters.near is not None
    if dialect == "postgresql" and spatial:
        # A spatial page reads thousands of rows at most; parallel workers, which the planner
        # picks for some of them, took longer to start than the page (55 ms instead of 25 ms
        # over 1,000,000 events on 2 cores). Until this transaction ends.
        session.execute(sa.select(sa.func.set_config("max_parallel_workers_per_gather", "0", True)))
    order = Event.id.asc() if page.ascending else Event.id.desc()
    conditions = [*_conditions(dialect, filters), *_page_bounds(page)]
    if _needs_exact_radius(dialect, filters):
        return _exact_radius_page(session, filters.near, conditions, order, page.limit)
    if spatial:
        conditions = [Event.id.in_(_page_ids(conditions, order, page.limit))]
    rows = session.execute(_SELECTED.where(*conditions).order_by(order).limit(page.limit))
    return [_stored(row.payload, row.id, row.received_at) for row in rows]


def _page_bounds(page: PageRequest) -> list[sa.ColumnElement[bool]]:
    bounds = []
    if page.after_id is not None:
        bounds.append(Event.id > page.after_id)
    if page.before_id is not None:
        bounds.append(Event.id < page.before_id)
    return bounds


def _page_ids(
    conditions: list[sa.ColumnElement[bool]], order: sa.ColumnElement, limit: int
) -> sa.Select:
    # Ids first, rows after: the spatial conditions only need lat, lon and id, which the lat/lon
    # index holds (INCLUDE id on PostgreSQL, the rowid on SQLite), so the candidates are tested
    # in the index alone and only the page's rows are read from the table. Read whole, a 500 m
    # circle over 1,000,000 events touched 3,300 table pages for its 100 rows (p50 26 ms).
    return sa.select(Event.id).where(*conditions).order_by(order).limit(limit)


def _exact_radius_page(
    session: Session,
    circle: Circle,
    conditions: list[sa.ColumnElement[bool]],
    order: sa.ColumnElement,
    limit: int,
) -> list[StoredEvent]:
    # The SQL prefilter is a box around the circle: read on until enough rows are inside.
    query = _SELECTED.where(*conditions).order_by(order)
    found = []
    for row in session.execute(query.execution_options(yield_per=SCAN_PAGE_SIZE)):
        if _inside(circle, row):
            found.append(_stored(row.payload, row.id, row.received_at))
            if len(found) == limit:
                break
    return found


def iter_events(sessions: sessionmaker[Session], filters: EventFilters) -> Iterator[StoredEvent]:
    """Every event matching `filters`, oldest first, read page by page (for exports)."""
    last_id = 0
    while True:
        with sessions() as session:
            dialect = _dialect(session)
            query = _filtered(dialect, filters).where(Event.id > last_id).order_by(Event.id.asc())
            rows = session.execute(query.limit(SCAN_PAGE_SIZE)).all()
        exact = _needs_exact_radius(dialect, filters)
        for row in rows:
            if not exact or _inside(filters.near, row):
                yield _stored(row.payload, row.id, row.received_at)
        if len(rows) < SCAN_PAGE_SIZE:
            return
        last_id = rows[-1].id


# The columns a page is built from (lat and lon for SQLite's distance test).
_SELECTED = sa.select(Event.id, Event.received_at, Event.payload, Event.lat, Event.lon)


def _filtered(dialect: str, filters: EventFilters) -> sa.Select:
    return _SELECTED.where(*_conditions(dialect, filters))


def _conditions(dialect: str, filters: EventFilters) -> list[sa.ColumnElement[bool]]:
    conditions = []
    if filters.captured_from is not None:
        conditions.append(Event.captured_at >= filters.captured_from)
    if filters.captured_to is not None:
        conditions.append(Event.captured_at < filters.captured_to)
    if filters.threat_types:
        conditions.append(Event.threat_type.in_(filters.threat_types))
    if filters.severities:
        conditions.append(Event.severity.in_(filters.severities))
    if filters.camera_id is not None:
        conditions.append(Event.camera_id == filters.camera_id)
    if filters.agent_id is not None:
        conditions.append(Event.agent_id == filters.agent_id)
    if filters.bbox is not None:
        conditions.extend(_in_bbox(filters.bbox))
    if filters.near is not None:
        conditions.extend(_near(dialect, filters.near))
    return conditions


def _in_bbox(bbox: BoundingBox) -> list[sa.ColumnElement[bool]]:
    # Plain lat/lon ranges, which the lat/lon index serves and the planner estimates from the
    # columns' statistics on both backends.
    if bbox.min_lon > bbox.max_lon:
        lon = sa.or_(Event.lon >= bbox.min_lon, Event.lon <= bbox.max_lon)
    else:
        lon = Event.lon.between(bbox.min_lon, bbox.max_lon)
    return [Event.lat.between(bbox.min_lat, bbox.max_lat), lon]


def _near(dialect: str, circle: Circle) -> list[sa.ColumnElement[bool]]:
    # The box around the circle, then (PostgreSQL) the distance as haversine_m measures it;
    # SQLite has no trigonometry in SQL, so find_events tests the distance in Python there.
    box = _in_bbox(circle_bounds(circle))
    if dialect != "postgresql":
        return box
    return [*box, _haversine_sql(circle.lat, circle.lon) <= circle.radius_m]


def _haversine_sql(lat: float, lon: float) -> sa.ColumnElement[float]:
    # haversine_m(lat, lon, events.lat, events.lon), term for term.
    phi1, phi2 = math.radians(lat), sa.func.radians(Event.lat)
    dphi = phi2 - phi1
    dlambda = sa.func.radians(Event.lon - lon)
    h = sa.func.power(sa.func.sin(dphi / 2.0), 2) + math.cos(phi1) * sa.func.cos(
        phi2
    ) * sa.func.power(sa.func.sin(dlambda / 2.0), 2)
    return 2 * EARTH_RADIUS_M * sa.func.asin(sa.func.least(1.0, sa.func.sqrt(h)))


def _needs_exact_radius(dialect: str, filters: EventFilters) -> bool:
    return filters.near is not None and dialect != "postgresql"


def _inside(circle: Circle | None, row: sa.Row) -> bool:
    if circle is None:
        return True
    return haversine_m(circle.lat, circle.lon, row.lat, row.lon) <= circle.radius_m


@dataclass(frozen=True)
class Rejection:
    """A refused message, as the dead-letter table keeps it."""

    topic: str
    reason: str
    detail: str
    payload: bytes
    received_at: datetime


def store_dead_letter(
    session: Session, *, topic: str, reason: str, detail: str, payload: bytes, received_at: datetime
) -> int:
    """Record a rejected message (payload truncated to a bound); the caller commits."""
    letter = DeadLetter(**_dead_letter_row(Rejection(topic, reason, detail, payload, received_at)))
    session.add(letter)
    session.flush()
    return letter.id


def store_dead_letters(session: Session, rejections: Sequence[Rejection]) -> None:
    """Record rejected messages in one statement, in order; the caller commits."""
    if rejections:
        session.execute(sa.insert(DeadLetter), [_dead_letter_row(r) for r in rejections])


def list_dead_letters(session: Session, limit: int = 100) -> list[DeadLetterRecord]:
    """The newest `limit` dead letters."""
    query = sa.select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    return [DeadLetterRecord.model_validate(row) for row in session.scalars(query)]


def _stored(wire: dict, event_id: int, received_at: datetime) -> StoredEvent:
    return StoredEvent.model_validate({**wire, "id": event_id, "received_at": received_at})


def _stored_from_event(event: EventV1, event_id: int, received_at: datetime) -> StoredEvent:
    # The event is validated already: reuse its parts instead of validating them again.
    fields = {name: getattr(event, name) for name in event.model_fields_set}
    return StoredEvent.model_construct(
        _fields_set={*event.model_fields_set, "id", "received_at"},
        **fields,
        id=event_id,
        received_at=received_at,
    )


def _wire(event: EventV1) -> dict:
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def _row(event: EventV1, received_at: datetime, wire: dict) -> dict:
    return {
        "event_id": event.event_id,
        "agent_id": event.agent_id,
        "camera_id": event.camera_id,
        "captured_at": event.captured_at,
        "received_at": received_at,
        "threat_type": event.threat_type,
        "severity": event.severity,
        "lat": event.location.lat,
        "lon": event.location.lon,
        "location_source": event.location.source,
        "accuracy_m": event.location.accuracy_m,
        "perimeter_m": event.perimeter_m,
        "detections": wire["detections"],
        "model_name": event.model.name,
        "payload": wire,
    }


def _dead_letter_row(rejection: Rejection) -> dict:
    return {
        "received_at": rejection.received_at,
        "topic": _storable_text(rejection.topic),
        "reason": rejection.reason,
        "detail": _storable_text(rejection.detail)[:DEAD_LETTER_DETAIL_LIMIT],
        "payload": rejection.payload[:DEAD_LETTER_PAYLOAD_LIMIT],
        "payload_size": len(rejection.payload),
    }


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def circle_bounds(circle: Circle) -> BoundingBox:
    """The smallest lon/lat box holding the circle, widened by BOUNDS_MARGIN_DEG on each side."""
    angle = circle.radius_m / EARTH_RADIUS_M
    dlat = math.degrees(angle) + BOUNDS_MARGIN_DEG
    south, north = circle.lat - dlat, circle.lat + dlat
    if south <= -90.0 or north >= 90.0:
        # The circle holds a pole (or touches it): every longitude.
        return BoundingBox(-180.0, max(south, -90.0), 180.0, min(north, 90.0))
    # The widest longitude offset of a circle of angular radius `angle` on the sphere (below 90
    # degrees, as the circle stays off the poles).
    sine = math.sin(angle) / math.cos(math.radians(circle.lat))
    dlon = math.degrees(math.asin(sine)) + BOUNDS_MARGIN_DEG
    west, east = circle.lon - dlon, circle.lon + dlon
    # Past the antimeridian the box wraps round: min_lon > max_lon.
    if west < -180.0:
        west += 360.0
    if east > 180.0:
        east -= 360.0
    return BoundingBox(west, south, east, north)


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
