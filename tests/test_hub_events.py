"""Events storage on both backends: idempotent writes, listing, radius queries, dead letters."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from hub.db.engine import Database
from hub.events.models import DEAD_LETTER_PAYLOAD_LIMIT
from hub.events.service import (
    BOUNDS_MARGIN_DEG,
    EARTH_RADIUS_M,
    Circle,
    circle_bounds,
    events_within_radius,
    list_dead_letters,
    list_events,
    store_dead_letter,
    store_event,
)
from tests.hubserver import make_event, opened_database
from vigie_contract import EventV1

PARIS = (48.8566, 2.3522)
RECEIVED = datetime(2026, 11, 26, 9, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A fresh hub database on each backend."""
    with opened_database(database_url) as database:
        yield database


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point north_m metres north and east_m metres east of (lat, lon), on the sphere."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, (lon + dlon + 180.0) % 360.0 - 180.0


def store(database: Database, *events: EventV1) -> list[int]:
    """Store and commit events, returning their stream ids."""
    with database.sessions.begin() as session:
        return [store_event(session, event, received_at=RECEIVED).event.id for event in events]


def test_store_event_is_idempotent_on_event_id(database: Database) -> None:
    event = make_event()
    with database.sessions.begin() as session:
        first = store_event(session, event, received_at=RECEIVED)
    with database.sessions.begin() as session:
        again = store_event(session, event, received_at=RECEIVED + timedelta(seconds=5))

    assert not first.duplicate
    assert again.duplicate
    with database.sessions() as session:
        stored = list_events(session, limit=10)
    assert [item.id for item in stored] == [first.event.id]
    assert stored[0].received_at == RECEIVED


def test_stored_event_is_the_wire_event_plus_id_and_received_at(database: Database) -> None:
    event = make_event(severity="critical")
    (stream_id,) = store(database, event)
    with database.sessions() as session:
        (stored,) = list_events(session, limit=1)

    document = stored.to_dict()
    assert document.pop("id") == stream_id
    assert document.pop("received_at") == "2026-11-26T09:00:00.123456Z"
    assert document == event.to_dict()


def test_list_is_newest_first_and_after_id_replays_oldest_first(database: Database) -> None:
    ids = store(database, *(make_event() for _ in range(5)))
    assert ids == sorted(ids)

    with database.sessions() as session:
        newest = list_events(session, limit=3)
        replay = list_events(session, limit=10, after_id=ids[1])
        page = list_events(session, limit=2, after_id=ids[0])

    assert [item.id for item in newest] == ids[:-4:-1]
    assert [item.id for item in replay] == ids[2:]
    assert [item.id for item in page] == ids[1:3]


def test_naive_received_at_is_refused(database: Database) -> None:
    with database.sessions.begin() as session, pytest.raises(StatementError, match="naive"):
        store_event(session, make_event(), received_at=RECEIVED.replace(tzinfo=None))


def test_radius_query_returns_exactly_the_events_inside(database: Database) -> None:
    inside = {
        "centre": PARIS,
        "north_300m": offset(*PARIS, 300, 0),
        "west_900m": offset(*PARIS, 0, -900),
        "south_west_950m": offset(*PARIS, -650, -690),
    }
    outside = {
        "east_1100m": offset(*PARIS, 0, 1100),
        "south_2km": offset(*PARIS, -2000, 0),
        "lyon": (45.7640, 4.8357),
        "mirror_longitude": (PARIS[0], -PARIS[1]),
    }
    events = {name: make_event(lat=lat, lon=lon) for name, (lat, lon) in (inside | outside).items()}
    store(database, *events.values())

    with database.sessions() as session:
        found = events_within_radius(session, *PARIS, radius_m=1000)

    found_ids = {item.event_id for item in found}
    names = {name for name, event in events.items() if event.event_id in found_ids}
    assert names == set(inside)
    assert [item.id for item in found] == sorted((item.id for item in found), reverse=True)


def test_radius_query_across_the_antimeridian_and_near_a_pole(database: Database) -> None:
    fiji_west = make_event(lat=-16.5, lon=179.9995)
    fiji_east = make_event(lat=-16.5, lon=-179.9995)
    near_pole = make_event(lat=89.9995, lon=0.0)
    other_side_of_pole = make_event(lat=89.9995, lon=180.0)
    store(database, fiji_west, fiji_east, near_pole, other_side_of_pole)

    with database.sessions() as session:
        across = events_within_radius(session, -16.5, -179.9999, radius_m=500)
        across_from_west = events_within_radius(session, -16.5, 179.9999, radius_m=500)
        polar = events_within_radius(session, 89.9999, 90.0, radius_m=500)

    assert {item.event_id for item in across} == {fiji_west.event_id, fiji_east.event_id}
    assert {item.event_id for item in across_from_west} == {
        fiji_west.event_id,
        fiji_east.event_id,
    }
    assert {item.event_id for item in polar} == {near_pole.event_id, other_side_of_pole.event_id}


def destination(lat: float, lon: float, bearing_deg: float, distance_m: float) -> tuple:
    """The point distance_m metres from (lat, lon) along the initial bearing, on the sphere."""
    phi, theta, delta = math.radians(lat), math.radians(bearing_deg), distance_m / EARTH_RADIUS_M
    phi2 = math.asin(
        math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta)
    )
    dlambda = math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi),
        math.cos(delta) - math.sin(phi) * math.sin(phi2),
    )
    return math.degrees(phi2), lon + math.degrees(dlambda)


@pytest.mark.parametrize(
    "circle",
    [Circle(*PARIS, 1000), Circle(70.0, 20.0, 100_000), Circle(-45.0, -60.0, 25)],
    ids=["paris_1km", "north_70_100km", "south_45_25m"],
)
def test_circle_bounds_is_the_tightest_box_around_the_circle(circle: Circle) -> None:
    edge = [
        destination(circle.lat, circle.lon, step / 40, circle.radius_m) for step in range(14400)
    ]
    lats, lons = [lat for lat, _ in edge], [lon for _, lon in edge]
    box = circle_bounds(circle)

    assert box.min_lon < box.max_lon
    assert box.min_lat <= min(lats) and max(lats) <= box.max_lat
    assert box.min_lon <= min(lons) and max(lons) <= box.max_lon
    # Tight: on each side, an edge point lies within a millionth of the box's span of it.
    lat_slack = BOUNDS_MARGIN_DEG + 1e-6 * (box.max_lat - box.min_lat)
    lon_slack = BOUNDS_MARGIN_DEG + 1e-6 * (box.max_lon - box.min_lon)
    assert min(lats) - box.min_lat < lat_slack and box.max_lat - max(lats) < lat_slack
    assert min(lons) - box.min_lon < lon_slack and box.max_lon - max(lons) < lon_slack


def test_circle_bounds_wrap_past_the_antimeridian_and_open_at_the_poles() -> None:
    east_of_it = circle_bounds(Circle(-16.5, -179.9999, 500))
    west_of_it = circle_bounds(Circle(-16.5, 179.9999, 500))
    north_pole = circle_bounds(Circle(89.9999, 90.0, 500))
    south_pole = circle_bounds(Circle(-89.999, 0.0, 200))

    # min_lon > max_lon: the box runs east from min_lon across 180 to max_lon.
    assert 179.99 < east_of_it.min_lon < 180.0 and -180.0 < east_of_it.max_lon < -179.99
    assert 179.99 < west_of_it.min_lon < 180.0 and -180.0 < west_of_it.max_lon < -179.99
    assert (north_pole.min_lon, north_pole.max_lon, north_pole.max_lat) == (-180.0, 180.0, 90.0)
    assert (south_pole.min_lon, south_pole.max_lon, south_pole.min_lat) == (-180.0, 180.0, -90.0)
    assert north_pole.min_lat == pytest.approx(89.9999 - 500 / (EARTH_RADIUS_M * math.pi / 180))


@pytest.mark.postgis
def test_postgis_geography_column_is_derived_from_lat_lon(postgis_url: str) -> None:
    with opened_database(postgis_url) as database:
        store(database, make_event(lat=PARIS[0], lon=PARIS[1]), make_event(lat=45.764, lon=4.8357))
        with database.engine.connect() as connection:
            texts = connection.execute(sa.text("SELECT ST_AsText(geog) FROM events ORDER BY id"))
            near = connection.execute(
                sa.text(
                    "SELECT count(*) FROM events WHERE ST_DWithin(geog, "
                    "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 100)"
                ),
                {"lat": PARIS[0], "lon": PARIS[1]},
            ).scalar_one()
            column_type = connection.execute(
                sa.text(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'events'::regclass AND attname = 'geog'"
                )
            ).scalar_one()
            index = connection.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_geog'")
            ).scalar_one()

    assert texts.scalars().all() == ["POINT(2.3522 48.8566)", "POINT(4.8357 45.764)"]
    assert near == 1
    assert column_type == "geography(Point,4326)"
    assert "USING gist (geog)" in index


def test_dead_letter_keeps_a_bounded_payload_and_its_size(database: Database) -> None:
    payload = b"\x00" + b"x" * (3 * DEAD_LETTER_PAYLOAD_LIMIT)
    with database.sessions.begin() as session:
        store_dead_letter(
            session,
            topic="vigie/v1/agent-1/cam-1/event",
            reason="oversize",
            detail="nul \x00 inside",
            payload=payload,
            received_at=RECEIVED,
        )
    with database.sessions() as session:
        (letter,) = list_dead_letters(session)

    assert letter.reason == "oversize"
    assert letter.payload == payload[:DEAD_LETTER_PAYLOAD_LIMIT]
    assert letter.payload_size == len(payload)
    assert letter.detail == "nul \\x00 inside"
    assert letter.received_at == RECEIVED
