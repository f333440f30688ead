"""The access log on a running hub: views, exports and changes recorded; admins only; read-only."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from hub.ingest.pipeline import IngestOptions, ReceivedMessage, ingest_batch
from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    make_event,
    opened_database,
    running_hub,
    topic_of,
)
from vigie_contract import MAX_EVENT_BYTES, EventV1, snapshot_topic

pytestmark = [pytest.mark.postgis, pytest.mark.mqtt]
RECEIVED = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


class Hub:
    """A running hub with one event (and its snapshot) stored, and a client per role."""

    def __init__(self, base_url: str, database_url: str, event: EventV1) -> None:
        self.event = event
        self.clients = {
            role: httpx.Client(
                base_url=base_url, headers=bearer(api_token(database_url, role)), timeout=10
            )
            for role in ("viewer", "dispatcher", "admin")
        }
        self.viewer = self.clients["viewer"]
        self.dispatcher = self.clients["dispatcher"]
        self.admin = self.clients["admin"]

    def access_log(self, **params: object) -> list[dict]:
        """The access log entries as an admin reads them, newest first."""
        response = self.admin.get("/api/access-log", params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]


@pytest.fixture
def hub(postgis_url: str, mqtt_url: str, media: Path) -> Iterator[Hub]:
    """A hub on PostGIS with an event and its snapshot ingested."""
    event = make_event()
    jpeg = (media / "grace_hopper.jpg").read_bytes()
    snapshot = snapshot_topic(event.agent_id, event.camera_id, str(event.event_id))
    with opened_database(postgis_url) as database:
        ingest_batch(
            database.sessions,
            [
                ReceivedMessage(snapshot, jpeg, RECEIVED),
                ReceivedMessage(topic_of(event), event.to_json(), RECEIVED),
            ],
            IngestOptions(max_event_bytes=MAX_EVENT_BYTES),
        )
    with running_hub(hub_settings(postgis_url, mqtt_url)) as base_url:
        hub = Hub(base_url, postgis_url, event)
        yield hub
        for client in hub.clients.values():
            client.close()


def test_viewing_a_snapshot_as_a_dispatcher_adds_a_row(hub: Hub) -> None:
    url = f"/api/events/{hub.event.event_id}/snapshot"
    before = hub.access_log(action="snapshot.view")

    viewed = hub.dispatcher.get(url, headers={"X-Access-Reason": "checking alert 17"})

    assert viewed.status_code == 200 and viewed.headers["content-type"] == "image/jpeg"
    assert "no-store" in viewed.headers["cache-control"]
    after = hub.access_log(action="snapshot.view")
    assert before == [] and len(after) == 1
    row = after[0]
    assert row["username"].startswith("dispatcher-") and row["role"] == "dispatcher"
    assert (row["target_type"], row["target_id"]) == ("event", str(hub.event.event_id))
    assert row["reason"] == "checking alert 17"


def test_a_missing_snapshot_is_not_logged_as_viewed(hub: Hub) -> None:
    missing = hub.dispatcher.get("/api/events/00000000-0000-4000-8000-000000000000/snapshot")
    assert missing.status_code == 404
    assert hub.access_log(action="snapshot.view") == []


def test_incident_views_changes_and_exports_are_logged(hub: Hub) -> None:
    incident_id = hub.viewer.get("/api/incidents").json()["items"][0]["id"]

    assert hub.viewer.get(f"/api/incidents/{incident_id}").status_code == 200
    acknowledged = hub.dispatcher.post(
        f"/api/incidents/{incident_id}/transition", json={"to": "acknowledged", "note": "on it"}
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert hub.viewer.get("/api/events/export.csv", params={"camera_id": "cam-1"}).is_success
    assert hub.viewer.get("/api/events/export.geojson").is_success

    actions = [(row["action"], row["role"]) for row in hub.access_log()]
    assert actions == [
        ("events.export", "viewer"),
        ("events.export", "viewer"),
        ("incident.change", "dispatcher"),
        ("incident.view", "viewer"),
    ]
    newest = hub.access_log(action="events.export")
    assert newest[0]["details"]["format"] == "geojson"
    assert newest[1]["details"] == {"format": "csv", "filters": {"camera_id": "cam-1"}}
    change = hub.access_log(action="incident.change")[0]
    assert change["reason"] == "on it" and change["details"] == {"to": "acknowledged"}


def test_only_admins_read_or_export_the_log(hub: Hub) -> None:
    hub.dispatcher.get(f"/api/events/{hub.event.event_id}/snapshot")

    for role in ("viewer", "dispatcher"):
        assert hub.clients[role].get("/api/access-log").status_code == 403
        assert hub.clients[role].get("/api/access-log/export.csv").status_code == 403
    exported = hub.admin.get("/api/access-log/export.csv", headers={"X-Access-Reason": "DPO"})

    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["action"] for row in rows] == ["snapshot.view", "access_log.export"]
    assert rows[1]["reason"] == "DPO"


def test_no_route_changes_a_row(hub: Hub) -> None:
    hub.dispatcher.get(f"/api/events/{hub.event.event_id}/snapshot")
    before = hub.access_log()
    row_id = before[0]["id"]
    change = {"username": "nobody", "reason": "rewritten"}

    answers = [
        hub.admin.request(method, url, json=change).status_code
        for method in ("PUT", "PATCH", "DELETE", "POST")
        for url in ("/api/access-log", f"/api/access-log/{row_id}")
    ]

    assert set(answers) <= {404, 405}
    assert hub.access_log() == before


def test_a_legal_hold_is_for_admins_and_needs_a_reason(hub: Hub) -> None:
    incident_id = hub.viewer.get("/api/incidents").json()["items"][0]["id"]
    url = f"/api/incidents/{incident_id}/legal-hold"

    refused = hub.dispatcher.put(url, json={"hold": True, "reason": "investigation"})
    no_reason = hub.admin.put(url, json={"hold": True})
    missing = hub.admin.put(
        "/api/incidents/999999/legal-hold", json={"hold": True, "reason": "audit"}
    )
    held = hub.admin.put(url, json={"hold": True, "reason": "investigation 2026-118"})

    assert refused.status_code == 403
    assert no_reason.status_code == 422
    assert missing.status_code == 404
    assert held.status_code == 200 and held.json() == {
        "incident_id": incident_id,
        "legal_hold": True,
    }
    audit = hub.admin.get("/api/audit", params={"action": "incident.legal_hold"}).json()["items"]
    assert len(audit) == 1 and audit[0]["note"] == "investigation 2026-118"
    assert [row["action"] for row in hub.access_log()] == ["incident.legal_hold"]
