"""The audit log: append-only, filtered and paged for admins, closed to everyone else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from hub.audit.service import AuditFilters, list_audit, record_audit
from hub.db.engine import Database
from tests.hubserver import api_token, bearer, hub_settings, opened_database, running_hub

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The hub's database on each backend with its schema."""
    with opened_database(database_url) as database:
        yield database


def record_five(database: Database) -> None:
    """Five entries a minute apart: ana and bob acting on incidents 1 and 2, then a playbook."""
    entries = [
        ("ana", "incident.transition", "incident", 1),
        ("bob", "incident.checklist", "incident", 1),
        ("ana", "incident.transition", "incident", 2),
        ("bob", "incident.transition", "incident", 2),
        ("ana", "playbook.update", "playbook", "weapon"),
    ]
    with database.sessions.begin() as session:
        for minute, (actor, action, target_type, target_id) in enumerate(entries):
            record_audit(
                session,
                actor=actor,
                action=action,
                target_type=target_type,
                target_id=target_id,
                at=T0 + timedelta(minutes=minute),
                note=f"entry {minute}",
                details={"minute": minute},
            )


def minutes(database: Database, limit: int = 100, **filters: object) -> list[int]:
    """The `minute` detail of the entries matching the filters, newest first."""
    with database.sessions() as session:
        page = list_audit(session, AuditFilters(**filters), limit)
    return [entry.details["minute"] for entry in page.items]


def test_entries_are_filtered_newest_first(database: Database) -> None:
    record_five(database)

    assert minutes(database) == [4, 3, 2, 1, 0]
    assert minutes(database, actor="ana") == [4, 2, 0]
    assert minutes(database, action="incident.transition") == [3, 2, 0]
    assert minutes(database, target_type="incident", target_id="2") == [3, 2]
    assert minutes(database, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)) == [
        2,
        1,
    ]


def test_pages_follow_the_cursor(database: Database) -> None:
    record_five(database)
    pages, before_id = [], None
    with database.sessions() as session:
        while True:
            page = list_audit(session, AuditFilters(), 2, before_id)
            pages.append([entry.details["minute"] for entry in page.items])
            if page.next_before_id is None:
                break
            before_id = page.next_before_id

    assert pages == [[4, 3], [2, 1], [0]]


@pytest.fixture
def hub(postgis_url: str, mqtt_url: str) -> Iterator[tuple[str, Database]]:
    """A running hub on PostGIS with five audit entries, and its database."""
    with (
        running_hub(hub_settings(postgis_url, mqtt_url)) as base_url,
        opened_database(postgis_url) as database,
    ):
        record_five(database)
        yield base_url, database


@pytest.mark.mqtt
def test_only_admins_read_the_audit_log_and_nobody_changes_it(
    hub: tuple[str, Database], postgis_url: str
) -> None:
    base_url, _ = hub
    as_role = {role: bearer(api_token(postgis_url, role)) for role in ("viewer", "dispatcher")}
    admin = bearer(api_token(postgis_url, "admin"))
    with httpx.Client(base_url=base_url, timeout=10) as client:
        refused = {
            role: client.get("/api/audit", headers=headers).status_code
            for role, headers in as_role.items()
        }
        anonymous = client.get("/api/audit").status_code
        first = client.get("/api/audit", params={"limit": 2, "actor": "ana"}, headers=admin)
        second = client.get(
            "/api/audit",
            params={"limit": 2, "actor": "ana", "before_id": first.json()["next_before_id"]},
            headers=admin,
        )
        changes = [
            client.request(method, path, headers=admin, json={}).status_code
            for method in ("POST", "PUT", "PATCH", "DELETE")
            for path in ("/api/audit", "/api/audit/1")
        ]
        after = client.get("/api/audit", params={"actor": "bob"}, headers=admin)

    assert refused == {"viewer": 403, "dispatcher": 403}
    assert anonymous == 401
    assert [entry["details"]["minute"] for entry in first.json()["items"]] == [4, 2]
    assert [entry["details"]["minute"] for entry in second.json()["items"]] == [0]
    assert second.json()["next_before_id"] is None
    assert first.json()["items"][0]["note"] == "entry 4"
    assert all(status in (404, 405) for status in changes), changes
    assert [entry["details"]["minute"] for entry in after.json()["items"]] == [3, 1]


BAD_QUERIES = [
    # A time without offset is ambiguous: the hub refuses to guess.
    {"since": "2026-11-26T10:00:00"},
    {"until": "yesterday"},
    {"limit": 0},
    {"limit": 1001},
    {"before_id": 0},
    {"actor": "x" * 65},
]


@pytest.mark.mqtt
def test_bad_audit_queries_are_refused(hub: tuple[str, Database], postgis_url: str) -> None:
    base_url, _ = hub
    admin = bearer(api_token(postgis_url, "admin"))
    with httpx.Client(base_url=base_url, headers=admin, timeout=10) as client:
        statuses = [client.get("/api/audit", params=query).status_code for query in BAD_QUERIES]
        offset = client.get(
            "/api/audit", params={"since": "2026-11-26T11:02:00+01:00", "actor": "bob"}
        )

    assert statuses == [422] * len(BAD_QUERIES)
    assert [entry["details"]["minute"] for entry in offset.json()["items"]] == [3]
