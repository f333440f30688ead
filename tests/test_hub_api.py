"""The hub's HTTP API end to end: real Mosquitto, both databases, the app under uvicorn."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.engine import make_url
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from tests.hubserver import (
    allow_connections,
    api_token,
    bearer,
    block_connections,
    hub_settings,
    make_event,
    publish_events,
    running_hub,
    wait_until,
)
from tests.services import free_port

pytestmark = pytest.mark.mqtt
STORE_TIMEOUT_S = 15.0


def items(base_url: str, headers: dict[str, str], query: str = "") -> list[dict]:
    """GET /api/events with an optional query string; the items."""
    response = httpx.get(f"{base_url}/api/events{query}", headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()["items"]


def wire_part(item: dict) -> dict:
    """A StoredEvent JSON without the hub's own fields: what the agent sent."""
    return {key: value for key, value in item.items() if key not in ("id", "received_at")}


def test_published_events_are_stored_once_and_listed(database_url: str, mqtt_url: str) -> None:
    first, second, third = make_event(), make_event(severity="low"), make_event(lat=43.3, lon=5.4)
    with running_hub(hub_settings(database_url, mqtt_url)) as base_url:
        viewer = bearer(api_token(database_url))
        # `first` three times: QoS 1 re-deliveries must change nothing.
        publish_events(mqtt_url, [first, first, second, first, third])
        newest = wait_until(
            lambda: [i for i in items(base_url, viewer) if i["event_id"] == str(third.event_id)],
            STORE_TIMEOUT_S,
            "the last event",
        )
        listed = items(base_url, viewer)
        page = items(base_url, viewer, "?limit=1")
        replay = items(base_url, viewer, f"?after_id={listed[-1]['id']}")

    assert [wire_part(item) for item in listed] == [e.to_dict() for e in (third, second, first)]
    ids = [item["id"] for item in listed]
    assert ids == sorted(ids, reverse=True)
    assert all(item["received_at"].endswith("Z") for item in listed)
    assert page == newest
    assert replay == listed[-2::-1]


def test_nearby_lists_only_events_within_the_radius(sqlite_url: str, mqtt_url: str) -> None:
    paris, lyon = make_event(lat=48.8566, lon=2.3522), make_event(lat=45.764, lon=4.8357)
    with running_hub(hub_settings(sqlite_url, mqtt_url)) as base_url:
        viewer = bearer(api_token(sqlite_url))
        publish_events(mqtt_url, [paris, lyon])
        wait_until(lambda: len(items(base_url, viewer)) == 2, STORE_TIMEOUT_S, "both events")
        response = httpx.get(
            f"{base_url}/api/events/nearby",
            params={"lat": 48.86, "lon": 2.35, "radius_m": 5000},
            headers=viewer,
        )

    assert response.status_code == 200
    assert [wire_part(item) for item in response.json()["items"]] == [paris.to_dict()]


def test_bad_query_parameters_are_refused_with_422(sqlite_url: str, mqtt_url: str) -> None:
    bad = {
        "/api/events?limit=0": "limit",
        "/api/events?limit=1001": "limit",
        "/api/events?limit=ten": "limit",
        "/api/events?after_id=-1": "after_id",
        "/api/events/nearby?lat=91&lon=0&radius_m=10": "lat",
        "/api/events/nearby?lat=nan&lon=0&radius_m=10": "lat",
        "/api/events/nearby?lat=0&lon=0&radius_m=0": "radius_m",
        "/api/events/nearby?lat=0&radius_m=10": "lon",
    }
    with running_hub(hub_settings(sqlite_url, mqtt_url)) as base_url:
        viewer = bearer(api_token(sqlite_url))
        answers = {path: httpx.get(f"{base_url}{path}", headers=viewer) for path in bad}

    for path, parameter in bad.items():
        assert answers[path].status_code == 422, path
        assert answers[path].json()["detail"][0]["loc"] == ["query", parameter], path


def test_healthz_and_front_page(sqlite_url: str, mqtt_url: str) -> None:
    with running_hub(hub_settings(sqlite_url, mqtt_url)) as base_url:
        health = httpx.get(f"{base_url}/healthz")
        front = httpx.get(
            f"{base_url}/", headers=bearer(api_token(sqlite_url)), follow_redirects=False
        )

    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert (health.json()["database"], health.json()["mqtt"]) == ("ok", "connected")
    assert front.is_redirect
    assert front.headers["location"] == "/map/"


def test_healthz_is_503_while_the_broker_is_unreachable(sqlite_url: str) -> None:
    nobody_listens = f"mqtt://127.0.0.1:{free_port()}"
    with running_hub(hub_settings(sqlite_url, nobody_listens), require_healthy=False) as base_url:
        health = httpx.get(f"{base_url}/healthz")

    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert (health.json()["database"], health.json()["mqtt"]) == ("ok", "disconnected")


@pytest.mark.postgis
def test_database_outage_is_reported_not_crashed(
    postgis_server, postgis_url: str, mqtt_url: str
) -> None:
    if postgis_server is None:
        pytest.skip("needs the throw-away PostGIS cluster to cut connections")
    name = make_url(postgis_url).database
    with running_hub(hub_settings(postgis_url, mqtt_url)) as base_url:
        viewer = bearer(api_token(postgis_url))
        block_connections(postgis_server, name)
        try:
            health = httpx.get(f"{base_url}/healthz", timeout=10)
            with (
                connect(
                    f"ws{base_url[4:]}/ws/events?after_id=0", additional_headers=viewer
                ) as websocket,
                pytest.raises(ConnectionClosedError) as closed,
            ):
                websocket.recv(timeout=10)
        finally:
            allow_connections(postgis_server, name)
        recovered = wait_until(
            lambda: httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200,
            STORE_TIMEOUT_S,
            "the hub to see the database again",
        )

    assert health.status_code == 503
    assert (health.json()["database"], health.json()["mqtt"]) == ("unreachable", "connected")
    assert closed.value.rcvd.code == 1011
    assert recovered
