"""Grouping of sightings into incidents, their lifecycle and checklist, and incident queries.

Each function takes its Session explicitly and leaves the commit to the caller, so an event, its
incident and their audit entries are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from geoalchemy2 import Geography
from sqlalchemy.orm import Session

from hub.audit.models import SYSTEM_ACTOR
from hub.audit.service import audit_trail, record_audit
from hub.events.models import Event
from hub.events.schemas import StoredEvent
from hub.events.service import METRES_PER_DEGREE_LAT, haversine_m
from hub.incidents.grouping import GroupingPolicy
from hub.incidents.models import GEOGRAPHY_COLUMN, ChecklistItem, Incident, IncidentEvent
from hub.incidents.schemas import (
    ChecklistItemOut,
    ChecklistUpdate,
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    TransitionRequest,
)
from hub.playbooks.service import playbook_for

SEVERITIES = ("low", "medium", "high", "critical")
OPEN_STATUSES = ("new", "acknowledged", "dispatched")
CLOSED_STATUSES = ("resolved", "false_alarm")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged", "resolved", "false_alarm"),
    "acknowledged": ("dispatched", "resolved", "false_alarm"),
    "dispatched": ("resolved", "false_alarm"),
    "resolved": (),
    "false_alarm": (),
}
# Rows read per round when the exact radius test runs in Python (SQLite).
RADIUS_SCAN_BATCH = 500


class IncidentNotFound(LookupError):
    """No incident (or checklist item of it) has that id."""


class IncidentConflict(ValueError):
    """The change does not fit the incident's current status; the message says why."""


@dataclass(frozen=True)
class Sighting:
    """One occurrence to file under an incident: a stored event or a device outage."""

    threat_type: str
    source: str
    severity: str
    agent_id: str
    camera_id: str | None
    lat: float | None
    lon: float | None
    perimeter_m: float | None
    seen_at: datetime
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BoundingBox:
    """A latitude/longitude rectangle; west > east means it crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float


@dataclass(frozen=True)
class Circle:
    """A radius in metres around a point."""

    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class IncidentFilters:
    """Optional conditions on listed incidents (all must hold; a tuple means any of)."""

    statuses: tuple[str, ...] = ()
    threat_types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    camera_id: str | None = None
    agent_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    bbox: BoundingBox | None = None
    near: Circle | None = None


def attach_events(
    session: Session, events: Sequence[tuple[StoredEvent, datetime]], policy: GroupingPolicy
) -> list[IncidentOut]:
    """File just-stored events (each with its receipt time) under grouped or new incidents.

    One incident per event, in order, each as it stands after the whole batch; the caller
    commits, in the transaction that stored the events.
    """
    if not events:
        return []
    types = sorted({event.threat_type for event, _ in events})
    for threat_type in types:
        _serialise_grouping(session, threat_type)
    earliest = min(event.captured_at for event, _ in events)
    pools = {
        threat_type: list(
            session.scalars(
                _open_incidents(threat_type).where(Incident.last_seen >= earliest - policy.window)
            )
        )
        for threat_type in types
    }
    filed = []
    for event, received_at in events:
        sighting = _sighting_of(event)
        pool = pools[event.threat_type]
        incident = _best_match(pool, sighting, policy)
        if incident is None:
            incident = _open(session, sighting, received_at)
            pool.append(incident)
        else:
            _grow(incident, sighting, received_at)
        filed.append(incident)
    _link(session, [event.id for event, _ in events], [incident.id for incident in filed])
    # A batch often files many events under few incidents: build each incident's view once.
    distinct = {incident.id: incident for incident in filed}
    checklists = _checklists(session, distinct)
    outs = {key: _as_out(incident, checklists[key]) for key, incident in distinct.items()}
    return [outs[incident.id] for incident in filed]


# PostgreSQL: a batch's link rows as two arrays in one fixed statement, which psycopg parses once
# and PostgreSQL prepares; a row-per-parameter executemany cost 6 % of a hub ingesting flat out.
_UNNESTED_LINKS = sa.text(
    "INSERT INTO incident_events (event_id, incident_id) "
    "SELECT * FROM unnest(CAST(:event_ids AS bigint[]), CAST(:incident_ids AS bigint[]))"
)


def _link(session: Session, event_ids: list[int], incident_ids: list[int]) -> None:
    # Core, not the ORM's bulk insert: these link rows need no identity map.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_UNNESTED_LINKS, {"event_ids": event_ids, "incident_ids": incident_ids})
        return
    connection.execute(
        IncidentEvent.__table__.insert(),
        [
            {"event_id": event_id, "incident_id": incident_id}
            for event_id, incident_id in zip(event_ids, incident_ids, strict=True)
        ],
    )


def file_health_sighting(
    session: Session, sighting: Sighting, policy: GroupingPolicy, now: datetime
) -> IncidentOut:
    """File an agent or camera outage under its open incident or a new one."""
    return _out(session, _file(session, sighting, policy, now))


def note_back_online(
    session: Session, threat_type: str, agent_id: str, camera_id: str | None, now: datetime
) -> IncidentOut | None:
    """Mark the device's open outage incident as back online (people still close it)."""
    incident = session.scalars(
        _open_incidents(threat_type)
        .where(*_same_device(agent_id, camera_id))
        .order_by(Incident.last_seen.desc())
        .limit(1)
    ).first()
    if incident is None:
        return None
    incident.details = {**incident.details, "back_online_at": now.isoformat()}
    incident.updated_at = now
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="incident.back_online",
        target_type="incident",
        target_id=incident.id,
        at=now,
    )
    session.flush()
    return _out(session, incident)


def transition_incident(
    session: Session, incident_id: int, request: TransitionRequest, actor: str, now: datetime
) -> IncidentOut:
    """Move an incident along its lifecycle and audit who, when and why; the caller commits."""
    incident = _locked(session, incident_id)
    allowed = TRANSITIONS[incident.status]
    if request.to not in allowed:
        raise IncidentConflict(_refusal(incident, request.to))
    before = incident.status
    incident.status = request.to
    incident.updated_at = now
    if request.to in CLOSED_STATUSES:
        incident.closed_at = now
    record_audit(
        session,
        actor=actor,
        action="incident.transition",
        target_type="incident",
        target_id=incident.id,
        at=now,
        note=request.note,
        details={"from": before, "to": request.to},
    )
    session.flush()
    return _out(session, incident)


def update_checklist_item(
    session: Session,
    incident_id: int,
    item_id: int,
    update: ChecklistUpdate,
    actor: str,
    now: datetime,
) -> IncidentOut:
    """Tick or untick one action of an open incident and audit it; the caller commits."""
    incident = _locked(session, incident_id)
    item = session.get(ChecklistItem, item_id)
    if item is None or item.incident_id != incident_id:
        raise IncidentNotFound(f"incident {incident_id} has no checklist item {item_id}")
    if incident.status in CLOSED_STATUSES:
        raise IncidentConflict(f"incident {incident_id} is {incident.status}: it is read-only")
    if item.done != update.done:
        item.done = update.done
        item.done_by, item.done_at = (actor, now) if update.done else (None, None)
        incident.updated_at = now
        record_audit(
            session,
            actor=actor,
            action="incident.checklist",
            target_type="incident",
            target_id=incident.id,
            at=now,
            note=update.note,
            details={
                "item_id": item.id,
                "position": item.position,
                "text": item.text,
                "done": item.done,
            },
        )
        session.flush()
    return _out(session, incident)


def get_incident(session: Session, incident_id: int) -> IncidentDetail:
    """An incident with its events and audit trail; IncidentNotFound when there is none."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise IncidentNotFound(f"no incident with id {incident_id}")
    rows = session.execute(
        sa.select(Event.id, Event.received_at, Event.payload)
        .join(IncidentEvent, IncidentEvent.event_id == Event.id)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(Event.id)
    )
    events = [
        StoredEvent.model_validate({**row.payload, "id": row.id, "received_at": row.received_at})
        for row in rows
    ]
    return IncidentDetail(
        **_out(session, incident).model_dump(),
        events=events,
        audit=audit_trail(session, "incident", incident_id),
    )


def list_incidents(
    session: Session, filters: IncidentFilters, limit: int, before_id: int | None = None
) -> IncidentPage:
    """Incidents matching `filters`, newest first, `limit` at a time below before_id."""
    query = sa.select(Incident).where(*_conditions(session, filters)).order_by(Incident.id.desc())
    if before_id is not None:
        query = query.where(Incident.id < before_id)
    keep = _exact_radius_test(session, filters.near)
    found = _first_matching(session, query, keep, limit + 1)
    page = found[:limit]
    checklists = _checklists(session, [incident.id for incident in page])
    return IncidentPage(
        items=[_as_out(incident, checklists.get(incident.id, [])) for incident in page],
        next_before_id=page[-1].id if len(found) > limit else None,
    )


def _file(session: Session, sighting: Sighting, policy: GroupingPolicy, now: datetime) -> Incident:
    _serialise_grouping(session, sighting.threat_type)
    candidates = session.scalars(
        _open_incidents(sighting.threat_type).where(
            Incident.last_seen >= sighting.seen_at - policy.window
        )
    ).all()
    incident = _best_match(candidates, sighting, policy)
    if incident is None:
        return _open(session, sighting, now)
    _grow(incident, sighting, now)
    session.flush()
    return incident


def _serialise_grouping(session: Session, threat_type: str) -> None:
    # Two hub replicas filing the same threat at once would each open an incident; a lock per
    # threat type, held until commit, makes the second one see the first one's incident.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.select(
                sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"vigie.incident:{threat_type}"))
            )
        )


def _best_match(
    candidates: Iterable[Incident], sighting: Sighting, policy: GroupingPolicy
) -> Incident | None:
    in_window = [
        incident
        for incident in candidates
        if incident.last_seen >= sighting.seen_at - policy.window
        and incident.first_seen <= sighting.seen_at + policy.window
    ]
    same_device = [
        incident
        for incident in in_window
        if incident.agent_id == sighting.agent_id and incident.camera_id == sighting.camera_id
    ]
    if same_device or sighting.source != "event":
        # Outages group per device only: two dark cameras are two visits for maintenance.
        return max(same_device, key=_last_seen, default=None)
    nearby = [incident for incident in in_window if _within(incident, sighting, policy.radius_m)]
    return max(nearby, key=_last_seen, default=None)


def _last_seen(incident: Incident) -> datetime:
    return incident.last_seen


def _sighting_of(event: StoredEvent) -> Sighting:
    return Sighting(
        threat_type=event.threat_type,
        source="event",
        severity=event.severity,
        agent_id=event.agent_id,
        camera_id=event.camera_id,
        lat=event.location.lat,
        lon=event.location.lon,
        perimeter_m=event.perimeter_m,
        seen_at=event.captured_at,
    )


def _within(incident: Incident, sighting: Sighting, radius_m: float) -> bool:
    if None in (incident.lat, incident.lon, sighting.lat, sighting.lon):
        return False
    return haversine_m(incident.lat, incident.lon, sighting.lat, sighting.lon) <= radius_m


def _open(session: Session, sighting: Sighting, now: datetime) -> Incident:
    playbook = playbook_for(session, sighting.threat_type)
    incident = Incident(
        threat_type=sighting.threat_type,
        source=sighting.source,
        severity=_max_severity(playbook.severity, sighting.severity),
        status="new",
        agent_id=sighting.agent_id,
        camera_id=sighting.camera_id,
        lat=sighting.lat,
        lon=sighting.lon,
        # A danger perimeter never shrinks below what the playbook or the agent asks for.
        perimeter_m=max(playbook.perimeter_m, sighting.perimeter_m or 0.0),
        event_count=1,
        first_seen=sighting.seen_at,
        last_seen=sighting.seen_at,
        opened_at=now,
        updated_at=now,
        closed_at=None,
        details=sighting.details,
    )
    session.add(incident)
    session.flush()
    session.add_all(
        ChecklistItem(incident_id=incident.id, position=position, text=text, done=False)
        for position, text in enumerate(playbook.actions, start=1)
    )
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="incident.open",
        target_type="incident",
        target_id=incident.id,
        at=now,
        details={"threat_type": sighting.threat_type, "source": sighting.source},
    )
    session.flush()
    return incident


def _grow(incident: Incident, sighting: Sighting, now: datetime) -> None:
    incident.event_count += 1
    incident.severity = _max_severity(incident.severity, sighting.severity)
    incident.perimeter_m = max(incident.perimeter_m, sighting.perimeter_m or 0.0)
    incident.first_seen = min(incident.first_seen, sighting.seen_at)
    if sighting.seen_at >= incident.last_seen:
        # The latest sighting tells where the threat is now (and a device's latest figures).
        incident.last_seen = sighting.seen_at
        if sighting.lat is not None and sighting.lon is not None:
            incident.lat, incident.lon = sighting.lat, sighting.lon
        if sighting.details:
            incident.details = sighting.details
    incident.updated_at = now


def _max_severity(*severities: str) -> str:
    return max(severities, key=SEVERITIES.index)


def _open_incidents(threat_type: str) -> sa.Select[tuple[Incident]]:
    return sa.select(Incident).where(
        Incident.threat_type == threat_type, Incident.status.in_(OPEN_STATUSES)
    )


def _same_device(agent_id: str, camera_id: str | None) -> list[sa.ColumnElement[bool]]:
    camera = Incident.camera_id.is_(None) if camera_id is None else Incident.camera_id == camera_id
    return [Incident.agent_id == agent_id, camera]


def _locked(session: Session, incident_id: int) -> Incident:
    # FOR UPDATE: two dispatchers acting at once are served one after the other.
    incident = session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        raise IncidentNotFound(f"no incident with id {incident_id}")
    return incident


def _refusal(incident: Incident, to: str) -> str:
    if incident.status in CLOSED_STATUSES:
        return (
            f"incident {incident.id} is {incident.status} and cannot change again; "
            "a new event opens a new incident"
        )
    allowed = ", ".join(TRANSITIONS[incident.status])
    return f"incident {incident.id} cannot go from {incident.status} to {to} (allowed: {allowed})"


def _conditions(session: Session, filters: IncidentFilters) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    for column, values in (
        (Incident.status, filters.statuses),
        (Incident.threat_type, filters.threat_types),
        (Incident.severity, filters.severities),
    ):
        if values:
            conditions.append(column.in_(values))
    if filters.camera_id is not None:
        conditions.append(Incident.camera_id == filters.camera_id)
    if filters.agent_id is not None:
        conditions.append(Incident.agent_id == filters.agent_id)
    # A time window keeps the incidents active during it.
    if filters.since is not None:
        conditions.append(Incident.last_seen >= filters.since)
    if filters.until is not None:
        conditions.append(Incident.first_seen < filters.until)
    if filters.bbox is not None:
        conditions += _in_bbox(filters.bbox)
    if filters.near is not None:
        conditions += _near(session, filters.near)
    return conditions


def _in_bbox(bbox: BoundingBox) -> list[sa.ColumnElement[bool]]:
    within_lon = (
        Incident.lon.between(bbox.west, bbox.east)
        if bbox.west <= bbox.east
        else sa.or_(Incident.lon >= bbox.west, Incident.lon <= bbox.east)
    )
    return [Incident.lat.between(bbox.south, bbox.north), within_lon]


def _near(session: Session, circle: Circle) -> list[sa.ColumnElement[bool]]:
    if session.get_bind().dialect.name == "postgresql":
        centre = sa.cast(
            sa.func.ST_SetSRID(sa.func.ST_MakePoint(circle.lon, circle.lat), 4326),
            Geography(geometry_type="POINT", srid=4326),
        )
        geography = sa.literal_column(f"incidents.{GEOGRAPHY_COLUMN}")
        # use_spheroid false: the same sphere as haversine_m, so both backends agree.
        return [sa.func.ST_DWithin(geography, centre, circle.radius_m, False)]
    # SQLite: an index-friendly latitude band here, the exact distance in Python afterwards.
    dlat = circle.radius_m / METRES_PER_DEGREE_LAT
    return [Incident.lat.between(circle.lat - dlat, circle.lat + dlat), Incident.lon.is_not(None)]


def _exact_radius_test(
    session: Session, circle: Circle | None
) -> Callable[[Incident], bool] | None:
    if circle is None or session.get_bind().dialect.name == "postgresql":
        return None
    return lambda incident: (
        haversine_m(circle.lat, circle.lon, incident.lat, incident.lon) <= circle.radius_m
    )


def _first_matching(
    session: Session,
    query: sa.Select[tuple[Incident]],
    keep: Callable[[Incident], bool] | None,
    count: int,
) -> list[Incident]:
    if keep is None:
        return list(session.scalars(query.limit(count)))
    found: list[Incident] = []
    cursor: int | None = None
    while len(found) < count:
        batch_query = query if cursor is None else query.where(Incident.id < cursor)
        batch = list(session.scalars(batch_query.limit(max(count, RADIUS_SCAN_BATCH))))
        found += [incident for incident in batch if keep(incident)]
        if len(batch) < max(count, RADIUS_SCAN_BATCH):
            break
        cursor = batch[-1].id
    return found[:count]


def _checklists(session: Session, incident_ids: Iterable[int]) -> dict[int, list[ChecklistItem]]:
    ids = list(incident_ids)
    grouped: dict[int, list[ChecklistItem]] = {incident_id: [] for incident_id in ids}
    if not ids:
        return grouped
    query = (
        sa.select(ChecklistItem)
        .where(ChecklistItem.incident_id.in_(ids))
        .order_by(ChecklistItem.incident_id, ChecklistItem.position)
    )
    for item in session.scalars(query):
        grouped[item.incident_id].append(item)
    return grouped


def _out(session: Session, incident: Incident) -> IncidentOut:
    return _as_out(incident, _checklists(session, [incident.id])[incident.id])


def _as_out(incident: Incident, checklist: list[ChecklistItem]) -> IncidentOut:
    return IncidentOut.model_validate(
        {
            **{
                column: getattr(incident, column)
                for column in IncidentOut.model_fields
                if column != "checklist"
            },
            "checklist": [ChecklistItemOut.model_validate(item) for item in checklist],
        }
    )
