"""Fleet health through the running hub: real Mosquitto, PostGIS, the API and the WebSocket."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    publish,
    running_hub,
    wait_until,
)
from vigie_contract import (
    CameraHealth,
    CameraStatusV1,
    HeartbeatV1,
    camera_status_topic,
    heartbeat_topic,
)
from vigie_contract.event import utc_now

pytestmark = pytest.mark.mqtt
RECEIVE_TIMEOUT_S = 15.0
STALE_AFTER_S = 1.0
Roles = dict[str, dict[str, str]]


@pytest.fixture
def hub(postgis_url: str, mqtt_url: str) -> Iterator[tuple[str, Roles]]:
    """A hub that calls an agent offline after 1 s of silence; viewer/dispatcher/admin headers."""
    settings = hub_settings(
        postgis_url,
        mqtt_url,
        agent_stale_after_s=STALE_AFTER_S,
        health_sweep_interval_s=0.2,
    )
    with running_hub(settings) as base_url:
        roles = ("viewer", "dispatcher", "admin")
        yield base_url, {role: bearer(api_token(postgis_url, role)) for role in roles}


def heartbeat(agent_id: str) -> bytes:
    """A heartbeat of `agent_id` with one online camera, as sent on the wire."""
    camera = CameraHealth(camera_id=f"{agent_id}-cam", state="online", fps=5.0, inference_ms=40.0)
    message = HeartbeatV1(
        agent_id=agent_id,
        sent_at=utc_now(),
        version="0.3.1",
        uptime_s=12.0,
        queue_depth=7,
        cameras=[camera],
    )
    return message.to_json()


def next_incident(websocket: ClientConnection, threat_type: str, agent_id: str) -> dict:
    """The data of the next incident message of one type and agent, skipping every other one."""
    while True:
        message = json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
        data = message["data"]
        if message["type"] == "incident" and (data["threat_type"], data["agent_id"]) == (
            threat_type,
            agent_id,
        ):
            return data


def agents(base_url: str, headers: dict[str, str]) -> dict[str, dict]:
    """GET /api/agents by id."""
    response = httpx.get(f"{base_url}/api/agents", headers=headers, timeout=10)
    response.raise_for_status()
    return {agent["id"]: agent for agent in response.json()["items"]}


def test_an_agent_that_stops_heart_beating_becomes_an_offline_incident(
    hub: tuple[str, Roles], mqtt_url: str
) -> None:
    base_url, as_role = hub
    viewer = as_role["viewer"]
    url = f"ws{base_url.removeprefix('http')}/ws/events"
    with connect(url, additional_headers=viewer) as websocket:
        # One heartbeat, then silence: the sweep finds it stale.
        publish(mqtt_url, [(heartbeat_topic("agent-hb"), heartbeat("agent-hb"))])
        incident = next_incident(websocket, "agent_offline", "agent-hb")
    agent = agents(base_url, viewer)["agent-hb"]

    assert (incident["threat_type"], incident["agent_id"]) == ("agent_offline", "agent-hb")
    assert incident["details"]["last_health"]["queue_depth"] == 7
    assert "no heartbeat" in incident["details"]["reason"]
    assert agent["state"] == "offline"
    assert agent["last_health"]["cameras"][0]["fps"] == 5.0


def test_a_camera_status_offline_becomes_a_camera_offline_incident(
    hub: tuple[str, Roles], mqtt_url: str
) -> None:
    base_url, as_role = hub
    url = f"ws{base_url.removeprefix('http')}/ws/events"
    dark = CameraStatusV1(
        agent_id="agent-cam", camera_id="cam-dark", state="offline", since=utc_now(), reason="lens"
    )
    with connect(url, additional_headers=as_role["viewer"]) as websocket:
        publish(mqtt_url, [(camera_status_topic("agent-cam", "cam-dark"), dark.to_json())])
        incident = next_incident(websocket, "camera_offline", "agent-cam")
    cameras = httpx.get(
        f"{base_url}/api/cameras",
        params={"agent_id": "agent-cam"},
        headers=as_role["viewer"],
        timeout=10,
    ).json()

    assert (incident["threat_type"], incident["camera_id"]) == ("camera_offline", "cam-dark")
    assert incident["details"]["reason"] == "lens"
    assert [(c["id"], c["state"]) for c in cameras["items"]] == [("cam-dark", "offline")]


def test_only_admins_place_cameras(hub: tuple[str, Roles], mqtt_url: str) -> None:
    base_url, as_role = hub
    viewer = as_role["viewer"]
    publish(mqtt_url, [(heartbeat_topic("agent-pl"), heartbeat("agent-pl"))])
    wait_until(lambda: "agent-pl" in agents(base_url, viewer), RECEIVE_TIMEOUT_S, "the agent")
    body = {
        "name": "<img src=x onerror=alert(1)>",
        "lat": 48.8566,
        "lon": 2.3522,
        "heading_deg": 90.0,
        "fov_deg": 60.0,
        "range_m": 80.0,
    }
    with httpx.Client(base_url=base_url, timeout=10) as client:
        refused = {
            role: client.put("/api/cameras/agent-pl-cam", json=body, headers=as_role[role])
            for role in ("viewer", "dispatcher")
        }
        anonymous = client.get("/api/cameras")
        placed = client.put("/api/cameras/agent-pl-cam", json=body, headers=as_role["admin"])
        missing = client.put("/api/cameras/nowhere", json=body, headers=as_role["admin"])
        impossible = client.put(
            "/api/cameras/agent-pl-cam", json={**body, "lon": None}, headers=as_role["admin"]
        )
        listed = client.get("/api/cameras", params={"agent_id": "agent-pl"}, headers=viewer)

    assert {role: response.status_code for role, response in refused.items()} == {
        "viewer": 403,
        "dispatcher": 403,
    }
    assert anonymous.status_code == 401
    assert placed.status_code == 200
    assert missing.status_code == 404
    assert impossible.status_code == 422
    (camera,) = listed.json()["items"]
    assert {key: camera[key] for key in body} == body
    assert camera["last_health"]["fps"] == 5.0
