"""Incidents on both backends: grouping, playbook effects, lifecycle, checklist, filters."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from hub.audit.models import SYSTEM_ACTOR
from hub.cameras.service import list_cameras
from hub.db.engine import Database
from hub.incidents.grouping import GroupingPolicy
from hub.incidents.schemas import ChecklistUpdate, IncidentOut, TransitionRequest
from hub.incidents.service import (
    CLOSED_STATUSES,
    TRANSITIONS,
    BoundingBox,
    Circle,
    IncidentConflict,
    IncidentFilters,
    IncidentNotFound,
    get_incident,
    list_incidents,
    transition_incident,
    update_checklist_item,
)
from hub.ingest.pipeline import IngestOptions, ReceivedMessage, ingest_batch, ingest_message
from hub.playbooks.defaults import DEFAULT_PLAYBOOKS, GENERIC_THREAT_TYPE
from hub.playbooks.service import seed_playbooks
from tests.hubserver import make_event, opened_database, topic_of
from vigie_contract import MAX_EVENT_BYTES, EventV1, Location

T0 = datetime(2026, 11, 26, 8, 30, tzinfo=timezone.utc)
POLICY = GroupingPolicy(window=timedelta(minutes=5), radius_m=100.0)
# Known positions around Paris' Hôtel de Ville; distances on the hub's sphere.
CENTRE = (48.8566, 2.3522)
NORTH_1KM = (48.865593, 2.3522)  # 1.0 km north of CENTRE
EAST_10KM = (48.8566, 2.488856)  # 10.0 km east of CENTRE (9,998 m)
LYON = (45.764, 4.8357)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The hub's database on each backend, schema created and playbooks seeded."""
    with opened_database(database_url) as database:
        with database.sessions.begin() as session:
            seed_playbooks(session, T0)
        yield database


def ingest(database: Database, event: EventV1, policy: GroupingPolicy = POLICY) -> IncidentOut:
    """Store one event through the real ingest pipeline; the incident it was filed under."""
    result = ingest_message(
        database.sessions,
        topic=topic_of(event),
        payload=event.to_json(),
        received_at=event.captured_at + timedelta(seconds=1),
        max_event_bytes=MAX_EVENT_BYTES,
        grouping=policy,
    )
    assert result.outcome == "stored", result
    (incident,) = result.incidents
    return incident


def event_at(seconds: float, **changes: object) -> EventV1:
    """A weapon event (agent-1/cam-1 at CENTRE unless changed) captured T0 + seconds."""
    return make_event(captured_at=T0 + timedelta(seconds=seconds), **changes)


def incidents(database: Database, **filters: object) -> list[IncidentOut]:
    """Every incident matching the filters, newest first."""
    with database.sessions() as session:
        return list_incidents(session, IncidentFilters(**filters), 1000).items


def test_repeats_within_the_window_make_one_incident(database: Database) -> None:
    filed = [
        ingest(database, event_at(0)),
        ingest(database, event_at(60, severity="critical")),
        ingest(database, event_at(120, perimeter_m=400.0)),
    ]

    assert len({incident.id for incident in filed}) == 1
    (incident,) = incidents(database)
    assert incident.event_count == 3
    assert (incident.first_seen, incident.last_seen) == (T0, T0 + timedelta(seconds=120))
    assert incident.severity == "critical"
    assert incident.perimeter_m == 400.0
    assert incident.status == "new"
    with database.sessions() as session:
        detail = get_incident(session, incident.id)
    assert len(detail.events) == 3
    assert [entry.action for entry in detail.audit] == ["incident.open"]


def test_one_batch_files_its_repeats_together_and_pushes_each_incident_once(
    database: Database,
) -> None:
    events = [
        event_at(0),
        event_at(10, camera_id="cam-2", lat=LYON[0], lon=LYON[1]),
        event_at(20),
        event_at(30),
    ]
    messages = [ReceivedMessage(topic_of(event), event.to_json(), T0) for event in events]
    results = ingest_batch(database.sessions, messages, IngestOptions(MAX_EVENT_BYTES, POLICY))

    pushed = [[(i.camera_id, i.event_count) for i in result.incidents] for result in results]
    assert pushed == [[], [("cam-2", 1)], [], [("cam-1", 3)]]
    assert sorted(i.event_count for i in incidents(database)) == [1, 3]


def test_an_out_of_order_repeat_joins_and_widens_the_window(database: Database) -> None:
    first = ingest(database, event_at(200))
    earlier = ingest(database, event_at(20))

    assert earlier.id == first.id
    assert (earlier.first_seen, earlier.last_seen) == (
        T0 + timedelta(seconds=20),
        T0 + timedelta(seconds=200),
    )


def test_after_the_window_a_repeat_opens_a_new_incident(database: Database) -> None:
    first = ingest(database, event_at(0))
    second = ingest(database, event_at(POLICY.window.total_seconds() + 1))

    assert first.id != second.id
    assert [incident.event_count for incident in incidents(database)] == [1, 1]


def test_another_camera_far_away_opens_another_incident(database: Database) -> None:
    here = ingest(database, event_at(0))
    there = ingest(database, event_at(10, camera_id="cam-2", lat=NORTH_1KM[0], lon=NORTH_1KM[1]))

    assert here.id != there.id
    assert there.camera_id == "cam-2"


def test_another_camera_within_the_radius_joins_the_incident(database: Database) -> None:
    here = ingest(database, event_at(0))
    # About 56 m north: inside the 100 m grouping radius.
    near = ingest(database, event_at(10, camera_id="cam-2", lat=CENTRE[0] + 0.0005))

    assert near.id == here.id
    assert near.event_count == 2
    # The incident follows the threat to its latest position.
    assert near.lat == pytest.approx(CENTRE[0] + 0.0005)


def test_another_threat_type_opens_another_incident(database: Database) -> None:
    weapon = ingest(database, event_at(0))
    loitering = ingest(database, event_at(5, threat_type="loitering", severity="low"))

    assert weapon.id != loitering.id


def test_a_closed_incident_is_never_reopened(database: Database) -> None:
    first = ingest(database, event_at(0))
    with database.sessions.begin() as session:
        transition_incident(session, first.id, TransitionRequest(to="resolved"), "ana", T0)
    again = ingest(database, event_at(30))

    assert again.id != first.id
    assert again.status == "new"


def test_a_redelivered_event_is_filed_once(database: Database) -> None:
    event = event_at(0)
    ingest(database, event)
    duplicate = ingest_message(
        database.sessions,
        topic=topic_of(event),
        payload=event.to_json(),
        received_at=T0,
        max_event_bytes=MAX_EVENT_BYTES,
    )

    assert duplicate.outcome == "duplicate"
    assert duplicate.incidents == ()
    assert [incident.event_count for incident in incidents(database)] == [1]


def test_the_playbook_sets_severity_perimeter_and_checklist(database: Database) -> None:
    incident = ingest(database, event_at(0, severity="high", perimeter_m=50.0))
    playbook = DEFAULT_PLAYBOOKS["weapon"]

    assert incident.severity == playbook.severity == "critical"
    assert incident.perimeter_m == playbook.perimeter_m == 150.0
    assert [item.text for item in incident.checklist] == playbook.actions
    assert [item.position for item in incident.checklist] == list(
        range(1, len(playbook.actions) + 1)
    )
    assert not any(item.done for item in incident.checklist)


def test_an_unknown_threat_type_gets_the_generic_playbook(database: Database) -> None:
    incident = ingest(database, event_at(0, threat_type="graffiti", severity="low"))
    generic = DEFAULT_PLAYBOOKS[GENERIC_THREAT_TYPE]

    assert [item.text for item in incident.checklist] == generic.actions
    assert incident.severity == generic.severity


def test_the_first_event_of_a_camera_registers_it_at_the_camera(database: Database) -> None:
    ingest(database, event_at(0, camera_id="cam-7", lat=LYON[0], lon=LYON[1]))
    ingest(database, event_at(0, camera_id="cam-7", lat=CENTRE[0], lon=CENTRE[1]))
    homography = Location(lat=CENTRE[0], lon=CENTRE[1], source="homography", accuracy_m=2.0)
    ingest(database, event_at(0, camera_id="cam-8", location=homography))

    with database.sessions() as session:
        cameras = {camera.id: camera for camera in list_cameras(session).items}
    assert (cameras["cam-7"].lat, cameras["cam-7"].lon) == LYON
    assert cameras["cam-7"].state == "online"
    # An object's ground point is not where the camera stands.
    assert (cameras["cam-8"].lat, cameras["cam-8"].lon) == (None, None)


def advance(session: Session, incident_id: int, path: list[str]) -> None:
    """Walk an incident through `path` (valid transitions), as dispatcher "walker"."""
    for status in path:
        transition_incident(session, incident_id, TransitionRequest(to=status), "walker", T0)


# The shortest valid path from "new" to each status.
PATH_TO = {
    "new": [],
    "acknowledged": ["acknowledged"],
    "dispatched": ["acknowledged", "dispatched"],
    "resolved": ["resolved"],
    "false_alarm": ["false_alarm"],
}


def test_lifecycle_matrix(database: Database) -> None:
    statuses = list(PATH_TO)
    allowed = {
        ("new", "acknowledged"),
        ("new", "resolved"),
        ("new", "false_alarm"),
        ("acknowledged", "dispatched"),
        ("acknowledged", "resolved"),
        ("acknowledged", "false_alarm"),
        ("dispatched", "resolved"),
        ("dispatched", "false_alarm"),
    }
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == allowed
    when = T0 + timedelta(hours=1)
    for number, (start, target) in enumerate(itertools.product(statuses, statuses)):
        # A camera per pair: each pair gets an incident of its own.
        incident = ingest(database, event_at(0, camera_id=f"cam-{number}", lat=number * 0.01))
        note = f"note for {start} -> {target} <b>not markup</b>"
        with database.sessions.begin() as session:
            advance(session, incident.id, PATH_TO[start])
        if (start, target) in allowed:
            with database.sessions.begin() as session:
                moved = transition_incident(
                    session, incident.id, TransitionRequest(to=target, note=note), "ana", when
                )
            assert moved.status == target
            assert (moved.closed_at is not None) == (target in CLOSED_STATUSES)
            with database.sessions() as session:
                last = get_incident(session, incident.id).audit[-1]
            assert (last.actor, last.at, last.note) == ("ana", when, note)
            assert (last.action, last.details) == (
                "incident.transition",
                {"from": start, "to": target},
            )
        else:
            with pytest.raises(IncidentConflict) as refused, database.sessions.begin() as session:
                transition_incident(session, incident.id, TransitionRequest(to=target), "ana", when)
            assert f"incident {incident.id}" in str(refused.value)
            with database.sessions() as session:
                detail = get_incident(session, incident.id)
            assert detail.status == start
            assert len(detail.audit) == 1 + len(PATH_TO[start])


def test_a_transition_of_a_missing_incident_is_refused(database: Database) -> None:
    with pytest.raises(IncidentNotFound), database.sessions.begin() as session:
        transition_incident(session, 999, TransitionRequest(to="acknowledged"), "ana", T0)


def test_checklist_items_are_ticked_and_audited(database: Database) -> None:
    incident = ingest(database, event_at(0))
    first, second = incident.checklist[:2]
    with database.sessions.begin() as session:
        update_checklist_item(
            session, incident.id, first.id, ChecklistUpdate(done=True, note="called"), "ana", T0
        )
        ticked = update_checklist_item(
            session, incident.id, second.id, ChecklistUpdate(done=True), "bob", T0
        )
        unticked = update_checklist_item(
            session, incident.id, second.id, ChecklistUpdate(done=False), "bob", T0
        )

    assert (ticked.checklist[1].done, ticked.checklist[1].done_by) == (True, "bob")
    assert (unticked.checklist[0].done, unticked.checklist[0].done_by) == (True, "ana")
    assert (unticked.checklist[1].done, unticked.checklist[1].done_by) == (False, None)
    with database.sessions() as session:
        trail = get_incident(session, incident.id).audit
    assert [(entry.actor, entry.action, entry.details["done"]) for entry in trail[1:]] == [
        ("ana", "incident.checklist", True),
        ("bob", "incident.checklist", True),
        ("bob", "incident.checklist", False),
    ]
    assert trail[0].actor == SYSTEM_ACTOR
    assert trail[1].note == "called"


def test_checklist_of_a_closed_incident_or_another_incident_is_refused(
    database: Database,
) -> None:
    mine = ingest(database, event_at(0))
    other = ingest(database, event_at(0, threat_type="loitering", severity="low"))
    with pytest.raises(IncidentNotFound), database.sessions.begin() as session:
        update_checklist_item(
            session, mine.id, other.checklist[0].id, ChecklistUpdate(done=True), "ana", T0
        )
    with database.sessions.begin() as session:
        advance(session, mine.id, ["false_alarm"])
    with pytest.raises(IncidentConflict, match="read-only"), database.sessions.begin() as session:
        update_checklist_item(
            session, mine.id, mine.checklist[0].id, ChecklistUpdate(done=True), "ana", T0
        )


@pytest.fixture
def placed(database: Database) -> dict[str, int]:
    """Four incidents at known places (one camera each), by name: their ids."""
    places = {"centre": CENTRE, "north": NORTH_1KM, "east": EAST_10KM, "lyon": LYON}
    ids = {}
    for number, (name, (lat, lon)) in enumerate(places.items()):
        event = event_at(number * 600, camera_id=f"cam-{name}", lat=lat, lon=lon)
        ids[name] = ingest(database, event).id
    return ids


def names(found: list[IncidentOut], ids: dict[str, int]) -> list[str]:
    """The place names of the incidents found, in the order found."""
    by_id = {incident_id: name for name, incident_id in ids.items()}
    return [by_id[incident.id] for incident in found]


RADIUS_CASES = {
    500.0: ["centre"],
    1_100.0: ["north", "centre"],
    9_900.0: ["north", "centre"],
    10_100.0: ["east", "north", "centre"],
    400_000.0: ["lyon", "east", "north", "centre"],
}
BBOX_CASES = [
    (BoundingBox(west=2.3, south=48.85, east=2.4, north=48.86), ["centre"]),
    (BoundingBox(west=2.3, south=48.85, east=2.5, north=48.87), ["east", "north", "centre"]),
    (BoundingBox(west=4.0, south=45.0, east=5.0, north=46.0), ["lyon"]),
    (BoundingBox(west=-10.0, south=0.0, east=0.0, north=60.0), []),
    # Across the antimeridian: from 170°E eastwards to 2.4°E.
    (BoundingBox(west=170.0, south=40.0, east=2.4, north=50.0), ["north", "centre"]),
]


def test_radius_and_bbox_filters_find_exactly_the_incidents_inside(
    database: Database, placed: dict[str, int]
) -> None:
    by_radius = {
        radius_m: names(incidents(database, near=Circle(*CENTRE, radius_m=radius_m)), placed)
        for radius_m in RADIUS_CASES
    }
    by_bbox = [names(incidents(database, bbox=bbox), placed) for bbox, _ in BBOX_CASES]

    assert by_radius == RADIUS_CASES
    assert by_bbox == [expected for _, expected in BBOX_CASES]


def test_filters_combine_and_pages_follow_the_cursor(
    database: Database, placed: dict[str, int]
) -> None:
    with database.sessions.begin() as session:
        advance(session, placed["north"], ["acknowledged"])
    loitering = ingest(database, event_at(0, threat_type="loitering", severity="low")).id

    assert names(incidents(database, statuses=("acknowledged",)), placed) == ["north"]
    assert [i.id for i in incidents(database, threat_types=("loitering",))] == [loitering]
    assert [i.id for i in incidents(database, severities=("low",))] == [loitering]
    assert names(incidents(database, camera_id="cam-east"), placed) == ["east"]
    window = {"since": T0 + timedelta(seconds=500), "until": T0 + timedelta(seconds=1300)}
    assert names(incidents(database, **window), placed) == ["east", "north"]
    near_centre = Circle(lat=CENTRE[0], lon=CENTRE[1], radius_m=2_000.0)
    assert [i.id for i in incidents(database, near=near_centre, severities=("low",))] == [loitering]

    pages, before_id = [], None
    with database.sessions() as session:
        while True:
            page = list_incidents(session, IncidentFilters(), 2, before_id)
            pages.append([incident.id for incident in page.items])
            before_id = page.next_before_id
            if before_id is None:
                break
    every_id = sorted([*placed.values(), loitering], reverse=True)
    assert pages == [every_id[:2], every_id[2:4], every_id[4:]]
