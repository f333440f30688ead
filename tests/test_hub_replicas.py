"""Two `vigie-hub serve` replicas on one Mosquitto and one PostGIS: a shared subscription splits
the ingest, each event is stored once, and a WebSocket client of either replica gets them all."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from websockets.sync.client import ClientConnection, connect

from hub.events.models import Event
from tests.hubserver import (
    api_token,
    bearer,
    hub_process,
    make_event,
    opened_database,
    publish_events,
)

pytestmark = [pytest.mark.mqtt, pytest.mark.postgis]
EVENTS = 200
RECEIVE_TIMEOUT_S = 30.0


def replica_env(postgis_url: str, mqtt_url: str, group: str, name: str) -> dict[str, str]:
    """The environment of one replica: shared database, broker and group, its own client id."""
    return {
        "VIGIE_DATABASE_URL": postgis_url,
        "VIGIE_MQTT_URL": mqtt_url,
        "VIGIE_MQTT_SHARED_GROUP": group,
        "VIGIE_MQTT_CLIENT_ID": f"{group}-{name}",
    }


def receive_events(websocket: ClientConnection, count: int) -> list[dict]:
    """The data of the next `count` event messages (other message types are skipped)."""
    received = []
    while len(received) < count:
        message = json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
        if message["type"] == "event":
            received.append(message["data"])
    return received


def stored_by_replica(log: Path) -> int:
    """How many events the replica reported storing when it stopped."""
    match = re.search(r"ingest stopped: (\d+) event\(s\)", log.read_text())
    assert match, f"no ingest summary in {log}"
    return int(match.group(1))


def test_two_replicas_store_each_event_once_and_both_stream_every_event(
    postgis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    group = f"replicas-{uuid.uuid4().hex[:8]}"
    events = [make_event(lat=48.85 + i * 1e-4) for i in range(EVENTS)]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with (
        hub_process(replica_env(postgis_url, mqtt_url, group, "a"), logs[0]) as (_, url_a),
        hub_process(replica_env(postgis_url, mqtt_url, group, "b"), logs[1]) as (_, url_b),
    ):
        viewer = bearer(api_token(postgis_url))
        with (
            connect(f"ws{url_a[4:]}/ws/events", additional_headers=viewer) as client_a,
            connect(f"ws{url_b[4:]}/ws/events", additional_headers=viewer) as client_b,
        ):
            # Every event twice: the copies may reach different replicas.
            publish_events(mqtt_url, events + events)
            on_a = receive_events(client_a, EVENTS)
            on_b = receive_events(client_b, EVENTS)
    with opened_database(postgis_url) as database, database.sessions() as session:
        stored_ids = session.scalars(sa.select(Event.event_id)).all()

    assert len(stored_ids) == EVENTS
    assert set(stored_ids) == {event.event_id for event in events}
    assert on_a == on_b
    assert {item["event_id"] for item in on_a} == {str(event.event_id) for event in events}
    ids = [item["id"] for item in on_a]
    assert ids == sorted(set(ids))
    split = [stored_by_replica(log) for log in logs]
    assert all(count > 0 for count in split), f"one replica stored nothing: {split}"
    assert sum(split) == EVENTS


def receive_incident(websocket: ClientConnection, status: str) -> dict:
    """The data of the next incident message with `status` (other messages are skipped)."""
    while True:
        message = json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
        if message["type"] == "incident" and message["data"]["status"] == status:
            return message["data"]


def test_an_incident_change_on_one_replica_reaches_the_clients_of_both(
    postgis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    """Filed by whichever replica ingested the event, acknowledged through replica A's API:
    WebSocket clients of both replicas see the new incident and its acknowledgement."""
    group = f"replicas-{uuid.uuid4().hex[:8]}"
    with (
        hub_process(replica_env(postgis_url, mqtt_url, group, "a"), tmp_path / "a.log") as (
            _,
            url_a,
        ),
        hub_process(replica_env(postgis_url, mqtt_url, group, "b"), tmp_path / "b.log") as (
            _,
            url_b,
        ),
    ):
        viewer = bearer(api_token(postgis_url))
        dispatcher = bearer(api_token(postgis_url, role="dispatcher"))
        with (
            connect(f"ws{url_a[4:]}/ws/events", additional_headers=viewer) as client_a,
            connect(f"ws{url_b[4:]}/ws/events", additional_headers=viewer) as client_b,
        ):
            publish_events(mqtt_url, [make_event()])
            opened_a = receive_incident(client_a, "new")
            opened_b = receive_incident(client_b, "new")
            assert opened_a == opened_b

            # A malformed announcement is logged and skipped; the relay goes on.
            with opened_database(postgis_url) as database, database.engine.begin() as connection:
                connection.execute(sa.text("SELECT pg_notify('vigie_incidents', 'not json')"))
            response = httpx.post(
                f"{url_a}/api/incidents/{opened_a['id']}/transition",
                json={"to": "acknowledged", "note": "on it"},
                headers=dispatcher,
                timeout=10,
            )
            assert response.status_code == 200, response.text
            acknowledged_a = receive_incident(client_a, "acknowledged")
            acknowledged_b = receive_incident(client_b, "acknowledged")
    assert acknowledged_a["id"] == acknowledged_b["id"] == opened_a["id"]
    assert acknowledged_a == acknowledged_b == response.json()
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "ignoring a malformed incident notification: not json" in logs
