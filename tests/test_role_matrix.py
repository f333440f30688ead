"""Every route of the hub, tried as anonymous, viewer, dispatcher and admin, on a real hub.

EXPECTED is the hub's access policy. A route added without a line here fails the test: add the
line, and with it decide who may use the route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount, WebSocketRoute
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from hub.app import create_app
from tests.hubserver import (
    TEST_PASSWORD,
    add_user,
    api_token,
    bearer,
    healthz_ok,
    hub_settings,
    logged_in_client,
    make_event,
    publish_events,
    serving,
    wait_until,
)

pytestmark = [pytest.mark.postgis, pytest.mark.mqtt]
ROLES = ("anonymous", "viewer", "dispatcher", "admin")
# A WebSocket that stays open and streams is shown as 101 (Switching Protocols); one closed for
# lack of credentials by its close code, 1008 (policy violation).
WS_OPEN, WS_REFUSED = 101, 1008
RECEIVE_TIMEOUT_S = 15.0

PUBLIC = (200, 200, 200, 200)
SIGNED_IN = (401, 200, 200, 200)
ADMINS = (401, 403, 403, 200)
# Writes are tried with an empty body: 422 shows the request got past the policy to validation.
DISPATCHER_WRITE = (401, 403, 422, 422)
ADMIN_WRITE = (401, 403, 403, 422)
# A missing record: 404 shows the request got past the policy to the lookup.
SIGNED_IN_LOOKUP = (401, 404, 404, 404)
EXPECTED: dict[tuple[str, str], tuple[int, int, int, int]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("MOUNT", "/login/static"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("GET", "/api/auth/me"): SIGNED_IN,
    ("POST", "/api/auth/tokens"): (401, 201, 201, 201),
    ("GET", "/api/auth/tokens"): SIGNED_IN,
    # Signed-in users may revoke their own tokens only: someone else's is "not found".
    ("DELETE", "/api/auth/tokens/{token_id}"): (401, 404, 404, 404),
    ("POST", "/api/auth/logout"): (401, 204, 204, 204),
    ("GET", "/api/users"): ADMINS,
    ("POST", "/api/users"): (401, 403, 403, 201),
    ("PATCH", "/api/users/{user_id}"): ADMINS,
    ("GET", "/api/events"): SIGNED_IN,
    ("GET", "/api/events/nearby"): SIGNED_IN,
    ("GET", "/api/events/export.csv"): SIGNED_IN,
    ("GET", "/api/events/export.geojson"): SIGNED_IN,
    ("GET", "/api/events/{event_id}/snapshot"): SIGNED_IN_LOOKUP,
    ("WS", "/ws/events"): (WS_REFUSED, WS_OPEN, WS_OPEN, WS_OPEN),
    ("GET", "/"): (401, 307, 307, 307),
    ("GET", "/api/incidents"): SIGNED_IN,
    ("GET", "/api/incidents/{incident_id}"): SIGNED_IN_LOOKUP,
    ("POST", "/api/incidents/{incident_id}/transition"): DISPATCHER_WRITE,
    ("PUT", "/api/incidents/{incident_id}/checklist/{item_id}"): DISPATCHER_WRITE,
    ("GET", "/api/playbooks"): SIGNED_IN,
    ("GET", "/api/playbooks/{threat_type}"): SIGNED_IN_LOOKUP,
    ("PUT", "/api/playbooks/{threat_type}"): ADMIN_WRITE,
    ("GET", "/api/agents"): SIGNED_IN,
    ("GET", "/api/cameras"): SIGNED_IN,
    ("PUT", "/api/cameras/{camera_id}"): ADMIN_WRITE,
    ("GET", "/api/audit"): ADMINS,
    ("GET", "/api/access-log"): ADMINS,
    ("GET", "/api/access-log/export.csv"): ADMINS,
    ("PUT", "/api/incidents/{incident_id}/legal-hold"): ADMIN_WRITE,
    ("GET", "/admin/"): SIGNED_IN,
    ("GET", "/admin/config.json"): SIGNED_IN,
    ("MOUNT", "/admin/static"): SIGNED_IN,
    ("GET", "/map/"): SIGNED_IN,
    ("GET", "/map/config.json"): SIGNED_IN,
    ("GET", "/map/events.json"): SIGNED_IN,
    ("MOUNT", "/map/static"): SIGNED_IN,
    ("MOUNT", "/vendor/leaflet"): SIGNED_IN,
    ("MOUNT", "/vendor/leaflet-markercluster"): SIGNED_IN,
    ("GET", "/openapi.json"): SIGNED_IN,
    ("GET", "/docs"): SIGNED_IN,
    ("GET", "/docs/oauth2-redirect"): SIGNED_IN,
    ("GET", "/redoc"): SIGNED_IN,
    ("GET", "/metrics"): SIGNED_IN,
}
# Tried last, in this order: logging out ends the session the other routes use, and logging in
# replaces it (so its CSRF token).
LAST = (("POST", "/api/auth/logout"), ("POST", "/api/auth/login"))


@dataclass
class Probe:
    """The concrete request that tries one route."""

    url: str
    params: dict[str, object] = field(default_factory=dict)
    body: dict[str, object] | None = None


def route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route of the app; MOUNT and WS stand for mounts and WebSockets."""
    keys: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            keys.add(("MOUNT", context.path))
        elif isinstance(route, (APIWebSocketRoute, WebSocketRoute)):
            keys.add(("WS", context.path))
        else:
            keys |= {(method, context.path) for method in context.methods - {"HEAD"}}
    return keys


def probes(target_user_id: int, probe_user: str, role: str) -> dict[tuple[str, str], Probe]:
    """The request trying each route; request bodies valid, so only the policy can refuse."""
    return {
        ("GET", "/healthz"): Probe("/healthz"),
        ("GET", "/login"): Probe("/login"),
        ("MOUNT", "/login/static"): Probe("/login/static/login.js"),
        ("POST", "/api/auth/login"): Probe(
            "/api/auth/login", body={"username": probe_user, "password": TEST_PASSWORD}
        ),
        ("GET", "/api/auth/me"): Probe("/api/auth/me"),
        ("POST", "/api/auth/tokens"): Probe("/api/auth/tokens", body={"name": "matrix"}),
        ("GET", "/api/auth/tokens"): Probe("/api/auth/tokens"),
        ("DELETE", "/api/auth/tokens/{token_id}"): Probe("/api/auth/tokens/999999"),
        ("POST", "/api/auth/logout"): Probe("/api/auth/logout"),
        ("GET", "/api/users"): Probe("/api/users"),
        ("POST", "/api/users"): Probe(
            "/api/users",
            body={"username": f"made-by-{role}", "password": TEST_PASSWORD, "role": "viewer"},
        ),
        ("PATCH", "/api/users/{user_id}"): Probe(
            f"/api/users/{target_user_id}", body={"role": "dispatcher"}
        ),
        ("GET", "/api/events"): Probe("/api/events"),
        ("GET", "/api/events/nearby"): Probe(
            "/api/events/nearby", params={"lat": 48.85, "lon": 2.35, "radius_m": 1000}
        ),
        ("GET", "/api/events/export.csv"): Probe("/api/events/export.csv"),
        ("GET", "/api/events/export.geojson"): Probe("/api/events/export.geojson"),
        ("GET", "/api/events/{event_id}/snapshot"): Probe(
            "/api/events/00000000-0000-4000-8000-000000000000/snapshot"
        ),
        ("WS", "/ws/events"): Probe("/ws/events", params={"after_id": 0}),
        ("GET", "/api/incidents"): Probe("/api/incidents"),
        ("GET", "/api/incidents/{incident_id}"): Probe("/api/incidents/999999"),
        ("POST", "/api/incidents/{incident_id}/transition"): Probe(
            "/api/incidents/999999/transition", body={}
        ),
        ("PUT", "/api/incidents/{incident_id}/checklist/{item_id}"): Probe(
            "/api/incidents/999999/checklist/1", body={}
        ),
        ("GET", "/api/playbooks"): Probe("/api/playbooks"),
        ("GET", "/api/playbooks/{threat_type}"): Probe("/api/playbooks/no_such_threat"),
        ("PUT", "/api/playbooks/{threat_type}"): Probe("/api/playbooks/weapon", body={}),
        ("GET", "/api/agents"): Probe("/api/agents"),
        ("GET", "/api/cameras"): Probe("/api/cameras"),
        ("PUT", "/api/cameras/{camera_id}"): Probe("/api/cameras/cam-1", body={}),
        ("GET", "/api/audit"): Probe("/api/audit"),
        ("GET", "/api/access-log"): Probe("/api/access-log"),
        ("GET", "/api/access-log/export.csv"): Probe("/api/access-log/export.csv"),
        ("PUT", "/api/incidents/{incident_id}/legal-hold"): Probe(
            "/api/incidents/999999/legal-hold", body={}
        ),
        ("GET", "/"): Probe("/"),
        ("GET", "/admin/"): Probe("/admin/"),
        ("GET", "/admin/config.json"): Probe("/admin/config.json"),
        ("MOUNT", "/admin/static"): Probe("/admin/static/app.js"),
        ("GET", "/map/"): Probe("/map/"),
        ("GET", "/map/config.json"): Probe("/map/config.json"),
        ("GET", "/map/events.json"): Probe("/map/events.json"),
        ("MOUNT", "/map/static"): Probe("/map/static/map.js"),
        ("MOUNT", "/vendor/leaflet"): Probe("/vendor/leaflet/leaflet.js"),
        ("MOUNT", "/vendor/leaflet-markercluster"): Probe(
            "/vendor/leaflet-markercluster/leaflet.markercluster.js"
        ),
        ("GET", "/openapi.json"): Probe("/openapi.json"),
        ("GET", "/docs"): Probe("/docs"),
        ("GET", "/docs/oauth2-redirect"): Probe("/docs/oauth2-redirect"),
        ("GET", "/redoc"): Probe("/redoc"),
        ("GET", "/metrics"): Probe("/metrics"),
    }


def try_websocket(client: httpx.Client, probe: Probe) -> int:
    """WS_OPEN when the stream sends a message (the stored event's replay), else its close code."""
    url = httpx.URL(str(client.base_url).replace("http", "ws", 1) + probe.url, params=probe.params)
    headers = {key: value for key, value in client.headers.items() if key == "authorization"}
    if client.cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    with connect(str(url), additional_headers=headers) as websocket:
        try:
            json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
        except ConnectionClosedError as closed:
            return closed.rcvd.code
    return WS_OPEN


def try_route(client: httpx.Client, key: tuple[str, str], probe: Probe) -> int:
    """The status a role gets from one route."""
    method, _path = key
    if method == "WS":
        return try_websocket(client, probe)
    http_method = "GET" if method == "MOUNT" else method
    response = client.request(http_method, probe.url, params=probe.params, json=probe.body)
    return response.status_code


@dataclass
class Identities:
    """An httpx client per role, authenticated the way the test is parametrised."""

    clients: dict[str, httpx.Client]
    target_user_id: int
    probe_user: str


@pytest.fixture(params=["token", "session"])
def hub(request, postgis_url: str, mqtt_url: str) -> Iterator[tuple[FastAPI, Identities]]:
    """A running hub with one event stored, and a client per role (bearer token or session)."""
    app = create_app(hub_settings(postgis_url, mqtt_url))
    with serving(app, healthz_ok) as base_url, ExitStack() as stack:
        clients = {"anonymous": stack.enter_context(httpx.Client(base_url=base_url))}
        for role in ROLES[1:]:
            if request.param == "token":
                client = httpx.Client(
                    base_url=base_url, headers=bearer(api_token(postgis_url, role))
                )
                clients[role] = stack.enter_context(client)
            else:
                clients[role] = stack.enter_context(
                    logged_in_client(base_url, add_user(postgis_url, role))
                )
        publish_events(mqtt_url, [make_event()])
        wait_until(
            lambda: clients["viewer"].get("/api/events").json()["items"], what="the stored event"
        )
        admin = clients["admin"]
        target = admin.post(
            "/api/users", json={"username": "target", "password": TEST_PASSWORD, "role": "viewer"}
        ).json()["id"]
        yield app, Identities(clients, target, add_user(postgis_url))


def test_every_route_answers_each_role_as_expected(hub: tuple[FastAPI, Identities]) -> None:
    app, identities = hub
    routes = route_keys(app)
    assert routes - EXPECTED.keys() == set(), "routes without an access policy in EXPECTED"
    assert EXPECTED.keys() - routes == set(), "EXPECTED lists routes the hub no longer has"

    observed: dict[tuple[str, str], list[int]] = {key: [] for key in EXPECTED}
    for role in ROLES:
        requests = probes(identities.target_user_id, identities.probe_user, role)
        for key in sorted(EXPECTED, key=lambda key: LAST.index(key) if key in LAST else -1):
            observed[key].append(try_route(identities.clients[role], key, requests[key]))

    mismatches = {
        f"{method} {path}": {"expected": EXPECTED[(method, path)], "observed": tuple(statuses)}
        for (method, path), statuses in observed.items()
        if tuple(statuses) != EXPECTED[(method, path)]
    }
    assert mismatches == {}
