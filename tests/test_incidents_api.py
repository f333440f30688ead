"""Incidents through the running hub: real Mosquitto, PostGIS, the API and the WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    make_event,
    publish_events,
    running_hub,
    wait_until,
)

pytestmark = pytest.mark.mqtt
STORE_TIMEOUT_S = 15.0
RECEIVE_TIMEOUT_S = 15.0
Roles = dict[str, dict[str, str]]


@pytest.fixture
def hub(postgis_url: str, mqtt_url: str) -> Iterator[tuple[str, Roles]]:
    """A running hub on PostGIS and the bearer headers of a viewer, dispatcher and admin."""
    with running_hub(hub_settings(postgis_url, mqtt_url)) as base_url:
        roles = ("viewer", "dispatcher", "admin")
        yield base_url, {role: bearer(api_token(postgis_url, role)) for role in roles}


def listed(client: httpx.Client, **params: object) -> list[dict]:
    """GET /api/incidents with the client's credentials; the items."""
    response = client.get("/api/incidents", params=params)
    response.raise_for_status()
    return response.json()["items"]


def test_published_repeats_become_one_incident_that_dispatchers_act_on(
    hub: tuple[str, Roles], mqtt_url: str
) -> None:
    base_url, as_role = hub
    first = make_event()
    repeats = [make_event(captured_at=first.captured_at + timedelta(seconds=s)) for s in (20, 40)]
    publish_events(mqtt_url, [first, *repeats])
    viewer = httpx.Client(base_url=base_url, headers=as_role["viewer"], timeout=10)
    dispatcher = httpx.Client(base_url=base_url, headers=as_role["dispatcher"], timeout=10)
    with viewer, dispatcher:
        (incident,) = wait_until(
            lambda: [i for i in listed(viewer, camera_id="cam-1") if i["event_count"] == 3],
            STORE_TIMEOUT_S,
            "the three events in one incident",
        )
        path = f"/api/incidents/{incident['id']}"
        item = incident["checklist"][0]
        refused = {
            "anonymous": httpx.post(f"{base_url}{path}/transition", json={"to": "acknowledged"}),
            "viewer": viewer.post(f"{path}/transition", json={"to": "acknowledged"}),
            "viewer_checklist": viewer.put(f"{path}/checklist/{item['id']}", json={"done": True}),
        }
        acknowledged = dispatcher.post(
            f"{path}/transition", json={"to": "acknowledged", "note": "seen on camera"}
        )
        again = dispatcher.post(f"{path}/transition", json={"to": "acknowledged"})
        ticked = dispatcher.put(f"{path}/checklist/{item['id']}", json={"done": True})
        missing = {
            "incident": dispatcher.post("/api/incidents/99999/transition", json={"to": "resolved"}),
            "item": dispatcher.put(f"{path}/checklist/999999", json={"done": True}),
        }
        detail = viewer.get(path).json()

    assert {name: response.status_code for name, response in refused.items()} == {
        "anonymous": 401,
        "viewer": 403,
        "viewer_checklist": 403,
    }
    assert acknowledged.status_code == 200
    assert acknowledged.json()["status"] == "acknowledged"
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"incident {incident['id']} cannot go from acknowledged to acknowledged "
        "(allowed: dispatched, resolved, false_alarm)"
    )
    assert ticked.status_code == 200
    assert ticked.json()["checklist"][0]["done"] is True
    assert {name: response.status_code for name, response in missing.items()} == {
        "incident": 404,
        "item": 404,
    }
    assert [event["event_id"] for event in detail["events"]] == [
        str(event.event_id) for event in (first, *repeats)
    ]
    assert detail["status"] == "acknowledged"
    assert detail["checklist"][0]["done_by"].startswith("dispatcher-")
    assert [(entry["action"], entry["note"]) for entry in detail["audit"]] == [
        ("incident.open", None),
        ("incident.transition", "seen on camera"),
        ("incident.checklist", None),
    ]
    assert detail["audit"][1]["actor"] == detail["checklist"][0]["done_by"]


def test_incident_filters_through_the_api(hub: tuple[str, Roles], mqtt_url: str) -> None:
    base_url, as_role = hub
    paris, lyon = (
        make_event(camera_id="cam-paris"),
        make_event(camera_id="cam-lyon", lat=45.764, lon=4.8357, threat_type="intrusion"),
    )
    publish_events(mqtt_url, [paris, lyon])
    # Only these types: whatever agent reaches this broker, its outages are incidents too.
    types = ["weapon", "intrusion"]
    with httpx.Client(base_url=base_url, headers=as_role["viewer"], timeout=10) as viewer:
        wait_until(
            lambda: len(listed(viewer, threat_type=types)) == 2, STORE_TIMEOUT_S, "both incidents"
        )
        near_paris = listed(viewer, lat=48.86, lon=2.35, radius_m=5000)
        in_lyon_box = listed(viewer, bbox="4.5,45.5,5.0,46.0")
        intrusions = listed(viewer, threat_type="intrusion", status=["new", "acknowledged"])
        high = listed(viewer, severity="high", threat_type=types)

    assert [i["camera_id"] for i in near_paris] == ["cam-paris"]
    assert [i["camera_id"] for i in in_lyon_box] == ["cam-lyon"]
    assert [i["camera_id"] for i in intrusions] == ["cam-lyon"]
    # The weapon playbook raises its incident to critical; the intrusion one stays high.
    assert [i["camera_id"] for i in high] == ["cam-lyon"]


BAD_QUERIES = [
    {"bbox": "1,2,3"},
    {"bbox": "a,b,c,d"},
    {"bbox": "2,49,3,48"},
    {"bbox": "2,48,200,49"},
    {"lat": 48.0, "lon": 2.0},
    {"radius_m": 10},
    {"lat": 48.0, "lon": 2.0, "radius_m": 0},
    {"status": "reopened"},
    {"severity": "extreme"},
    {"since": "2026-11-26T08:00:00"},
    {"limit": 0},
    {"before_id": 0},
]


def test_bad_incident_queries_and_bodies_are_refused(hub: tuple[str, Roles]) -> None:
    base_url, as_role = hub
    with httpx.Client(base_url=base_url, headers=as_role["dispatcher"], timeout=10) as client:
        statuses = [client.get("/api/incidents", params=q).status_code for q in BAD_QUERIES]
        bodies = [
            client.post("/api/incidents/987654321/transition", json=body).status_code
            for body in ({"to": "reopened"}, {"to": "resolved", "note": "x" * 2001}, {})
        ]
        not_found = client.get("/api/incidents/987654321").status_code
        too_large = client.get(f"/api/incidents/{2**64}").status_code

    assert statuses == [422] * len(BAD_QUERIES)
    assert bodies == [422, 422, 422]
    assert not_found == 404
    assert too_large == 422


def next_incident_of(websocket: ClientConnection, camera_id: str) -> dict:
    """The data of the next incident message about one camera, skipping every other message."""
    while True:
        message = json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
        if message["type"] == "incident" and message["data"]["camera_id"] == camera_id:
            return message["data"]


def test_websocket_clients_receive_every_incident_change(
    hub: tuple[str, Roles], mqtt_url: str
) -> None:
    base_url, as_role = hub
    url = f"ws{base_url.removeprefix('http')}/ws/events"
    event, repeat = make_event(camera_id="cam-ws"), make_event(camera_id="cam-ws")
    with connect(url, additional_headers=as_role["viewer"]) as websocket:
        publish_events(mqtt_url, [event])
        opened = next_incident_of(websocket, "cam-ws")
        publish_events(mqtt_url, [repeat])
        grown = next_incident_of(websocket, "cam-ws")
        httpx.post(
            f"{base_url}/api/incidents/{opened['id']}/transition",
            json={"to": "false_alarm", "note": "a toy"},
            headers=as_role["dispatcher"],
            timeout=10,
        ).raise_for_status()
        closed = next_incident_of(websocket, "cam-ws")

    assert (opened["status"], opened["event_count"]) == ("new", 1)
    assert opened["checklist"][0]["text"] == "Notify the police with the GPS coordinates"
    assert (grown["id"], grown["event_count"]) == (opened["id"], 2)
    assert (closed["id"], closed["status"]) == (opened["id"], "false_alarm")
    assert closed["closed_at"] is not None
