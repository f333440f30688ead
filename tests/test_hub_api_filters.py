"""Events API filters, keyset pages, exports and snapshots on both backends, against fixtures
whose expected answers are known: radius, bounding box (edges, antimeridian), time, type, ..."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from hub.db.engine import Database
from hub.events.service import (
    EARTH_RADIUS_M,
    BoundingBox,
    Circle,
    EventFilters,
    PageRequest,
    find_events,
    store_events,
)
from hub.ingest.pipeline import IngestOptions, ReceivedMessage, ingest_batch
from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    make_event,
    opened_database,
    running_hub,
)
from vigie_contract import MAX_EVENT_BYTES, EventV1, snapshot_topic

pytestmark = pytest.mark.mqtt
PARIS = (48.8566, 2.3522)
T0 = datetime(2026, 11, 26, 8, 0, 0, tzinfo=timezone.utc)
RECEIVED = datetime(2026, 11, 26, 9, 0, 0, tzinfo=timezone.utc)


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point north_m metres north and east_m metres east of (lat, lon), on the sphere."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def fixtures() -> dict[str, EventV1]:
    """Named events, stored in this order; each filter test names exactly what it expects."""
    specs = {
        "centre": dict(coords=PARIS, minutes=0),
        "north_300m": dict(coords=offset(*PARIS, 300, 0), minutes=10, severity="critical"),
        "on_bbox_edge": dict(coords=(48.8666, 2.3522), minutes=20, threat_type="fire"),
        "east_1100m": dict(coords=offset(*PARIS, 0, 1100), minutes=30, camera_id="cam-2"),
        "lyon": dict(coords=(45.764, 4.8357), minutes=40, agent_id="agent-2", severity="low"),
        "fiji_west": dict(coords=(-16.5, 179.9), minutes=50, agent_id="agent-3"),
        "fiji_east": dict(coords=(-16.5, -179.9), minutes=60, agent_id="agent-3"),
    }
    events = {}
    for name, spec in specs.items():
        (lat, lon), minutes = spec.pop("coords"), spec.pop("minutes")
        agent = spec.pop("agent_id", "agent-1")
        events[name] = make_event(
            agent_id=agent, lat=lat, lon=lon, captured_at=T0 + timedelta(minutes=minutes), **spec
        )
    return events


@pytest.fixture
def seeded(database_url: str) -> Iterator[tuple[Database, dict[str, EventV1]]]:
    """A database on each backend holding the fixtures."""
    events = fixtures()
    with opened_database(database_url) as database:
        with database.sessions.begin() as session:
            store_events(session, [(event, RECEIVED) for event in events.values()])
        yield database, events


def names_found(database: Database, events: dict[str, EventV1], filters: EventFilters) -> list:
    """Names of the events the filters select, newest first."""
    by_id = {event.event_id: name for name, event in events.items()}
    with database.sessions() as session:
        found = find_events(session, filters, PageRequest(limit=1000))
    return [by_id[item.event_id] for item in found]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (EventFilters(near=Circle(*PARIS, 1000)), ["north_300m", "centre"]),
        (
            EventFilters(near=Circle(*PARIS, 1200)),
            ["east_1100m", "on_bbox_edge", "north_300m", "centre"],
        ),
        (
            EventFilters(bbox=BoundingBox(2.3422, 48.8466, 2.3622, 48.8666)),
            ["on_bbox_edge", "north_300m", "centre"],
        ),
        (EventFilters(bbox=BoundingBox(179.5, -17, -179.5, -16)), ["fiji_east", "fiji_west"]),
        (EventFilters(bbox=BoundingBox(-179.85, -17, 179.85, -16)), []),
        (
            EventFilters(
                captured_from=T0 + timedelta(minutes=10), captured_to=T0 + timedelta(minutes=30)
            ),
            ["on_bbox_edge", "north_300m"],
        ),
        (EventFilters(threat_types=("fire",)), ["on_bbox_edge"]),
        (EventFilters(severities=("critical", "low")), ["lyon", "north_300m"]),
        (EventFilters(camera_id="cam-2"), ["east_1100m"]),
        (EventFilters(agent_id="agent-3"), ["fiji_east", "fiji_west"]),
        (
            EventFilters(near=Circle(*PARIS, 5000), severities=("high",), agent_id="agent-1"),
            ["east_1100m", "on_bbox_edge", "centre"],
        ),
    ],
)
def test_filters_select_exactly_the_expected_fixtures(
    seeded: tuple[Database, dict[str, EventV1]], filters: EventFilters, expected: list[str]
) -> None:
    assert names_found(*seeded, filters) == expected


def test_keyset_pages_cover_every_match_once_in_order(
    seeded: tuple[Database, dict[str, EventV1]],
) -> None:
    database, _ = seeded
    filters = EventFilters(agent_id="agent-1")
    pages, before = [], None
    with database.sessions() as session:
        while page := find_events(session, filters, PageRequest(limit=2, before_id=before)):
            pages.append([item.id for item in page])
            before = page[-1].id
        forward = find_events(session, filters, PageRequest(limit=2, after_id=pages[0][1]))

    flat = [item for page in pages for item in page]
    assert [len(page) for page in pages] == [2, 2]
    assert flat == sorted(flat, reverse=True)
    assert forward[0].id == pages[0][0]


@pytest.mark.parametrize(
    "filters",
    [EventFilters(near=Circle(*PARIS, 1200)), EventFilters(bbox=BoundingBox(2.3, 48.8, 2.4, 48.9))],
    ids=["radius", "bbox"],
)
def test_spatial_keyset_pages_go_both_ways_in_order(
    seeded: tuple[Database, dict[str, EventV1]], filters: EventFilters
) -> None:
    """Spatial pages pick their ids first: the page bounds and direction apply to that pick."""
    database, _ = seeded
    with database.sessions() as session:
        everything = [item.id for item in find_events(session, filters, PageRequest(limit=1000))]
        newest = find_events(session, filters, PageRequest(limit=2))
        older = find_events(session, filters, PageRequest(limit=2, before_id=newest[-1].id))
        forward = find_events(session, filters, PageRequest(limit=2, after_id=everything[-1]))

    assert len(everything) == 4
    assert [item.id for item in newest + older] == everything
    assert [item.id for item in forward] == everything[-2:-4:-1]


@pytest.fixture
def hub(database_url: str, mqtt_url: str) -> Iterator[tuple[str, dict[str, str], dict]]:
    """A running hub over the fixtures: its URL, a viewer's headers and the fixtures."""
    events = fixtures()
    with running_hub(hub_settings(database_url, mqtt_url)) as base_url:
        with opened_database(database_url) as database, database.sessions.begin() as session:
            store_events(session, [(event, RECEIVED) for event in events.values()])
        yield base_url, bearer(api_token(database_url)), events


def test_http_filters_and_exports_agree(hub: tuple[str, dict[str, str], dict]) -> None:
    base_url, viewer, events = hub
    query = {"bbox": "2.3422,48.8466,2.3622,48.8666", "severity": ["high", "critical"]}
    listed = httpx.get(f"{base_url}/api/events", params=query, headers=viewer)
    near = httpx.get(
        f"{base_url}/api/events",
        params={"lat": PARIS[0], "lon": PARIS[1], "radius_m": 1000, "limit": 1},
        headers=viewer,
    )
    exported = httpx.get(f"{base_url}/api/events/export.csv", params=query, headers=viewer)
    geojson = httpx.get(f"{base_url}/api/events/export.geojson", params=query, headers=viewer)

    expected = [events[name] for name in ("centre", "north_300m", "on_bbox_edge")]
    items = listed.json()["items"]
    assert [item["event_id"] for item in items] == [str(e.event_id) for e in expected[::-1]]
    assert [item["event_id"] for item in near.json()["items"]] == [
        str(events["north_300m"].event_id)
    ]
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["event_id"] for row in rows] == [str(e.event_id) for e in expected]
    assert [float(row["lat"]) for row in rows] == [e.location.lat for e in expected]
    assert rows[0]["labels"] == "knife"
    assert geojson.headers["content-type"] == "application/geo+json"
    features = geojson.json()["features"]
    assert [f["geometry"]["coordinates"] for f in features] == [
        [e.location.lon, e.location.lat] for e in expected
    ]
    assert [f["properties"]["id"] for f in features] == [int(row["id"]) for row in rows]


BAD_FILTERS = {
    "bbox=1,2,3": "bbox",
    "bbox=a,b,c,d": "bbox",
    "bbox=0,10,1,5": "bbox",
    "bbox=0,0,181,1": "bbox",
    "bbox=nan,0,1,1": "bbox",
    "lat=48&lon=2": "radius_m",
    "lat=48&radius_m=10": "lon",
    "radius_m=10": "lat",
    "captured_from=2026-11-26T10:00:00Z&captured_to=2026-11-26T09:00:00Z": "captured_to",
    "captured_from=2026-11-26T10:00:00": "captured_from",
    "severity=apocalyptic": "severity",
}


def test_bad_filters_are_refused_with_422_naming_the_parameter(
    sqlite_url: str, mqtt_url: str
) -> None:
    # Parsing does not depend on the backend: one hub answers every case.
    with running_hub(hub_settings(sqlite_url, mqtt_url)) as base_url:
        viewer = bearer(api_token(sqlite_url))
        answers = {
            (path, query): httpx.get(f"{base_url}{path}?{query}", headers=viewer)
            for query in [*BAD_FILTERS, "before_id=0"]
            for path in ("/api/events", "/api/events/export.csv", "/api/events/export.geojson")
            if query != "before_id=0" or path == "/api/events"
        }

    for (path, query), answer in answers.items():
        assert answer.status_code == 422, (path, query)
        parameter = BAD_FILTERS.get(query, "before_id")
        assert answer.json()["detail"][0]["loc"][:2] == ["query", parameter], (path, query)


def test_snapshot_route_serves_the_jpeg_to_viewers_only(
    hub: tuple[str, dict[str, str], dict], database_url: str, media: Path
) -> None:
    base_url, viewer, events = hub
    event = events["centre"]
    jpeg = (media / "backpackman.jpg").read_bytes()
    topic = snapshot_topic(event.agent_id, event.camera_id, str(event.event_id))
    with opened_database(database_url) as database:
        ingest_batch(
            database.sessions,
            [ReceivedMessage(topic, jpeg, RECEIVED)],
            IngestOptions(max_event_bytes=MAX_EVENT_BYTES),
        )
    url = f"{base_url}/api/events/{event.event_id}/snapshot"

    served = httpx.get(url, headers=viewer)
    missing = httpx.get(f"{base_url}/api/events/{events['lyon'].event_id}/snapshot", headers=viewer)
    not_an_id = httpx.get(f"{base_url}/api/events/42/snapshot", headers=viewer)
    anonymous = httpx.get(url)
    anonymous_export = httpx.get(f"{base_url}/api/events/export.csv")

    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == jpeg
    assert missing.status_code == 404
    assert not_an_id.status_code == 422
    assert anonymous.status_code == 401
    assert anonymous_export.status_code == 401
    assert json.loads(missing.text)["detail"] == "no snapshot of this event"
