"""Playbooks through the running hub: who reads and edits them, and what an edit changes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hub.playbooks.defaults import DEFAULT_PLAYBOOKS
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
NEW_WEAPON_PLAYBOOK = {
    "severity": "critical",
    "perimeter_m": 300.0,
    "actions": ["Call the police", "Set a 300 m perimeter", "Follow the person on camera"],
}


@pytest.fixture
def hub(postgis_url: str, mqtt_url: str) -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    """A running hub on PostGIS and the bearer headers of a viewer, dispatcher and admin."""
    with running_hub(hub_settings(postgis_url, mqtt_url)) as base_url:
        roles = ("viewer", "dispatcher", "admin")
        yield base_url, {role: bearer(api_token(postgis_url, role)) for role in roles}


def test_everyone_reads_playbooks_and_only_admins_edit_them(
    hub: tuple[str, dict[str, dict[str, str]]],
) -> None:
    base_url, as_role = hub
    with httpx.Client(base_url=base_url, timeout=10) as client:
        listed = client.get("/api/playbooks", headers=as_role["viewer"])
        weapon = client.get("/api/playbooks/weapon", headers=as_role["viewer"])
        missing = client.get("/api/playbooks/graffiti", headers=as_role["viewer"])
        anonymous = client.put("/api/playbooks/weapon", json=NEW_WEAPON_PLAYBOOK)
        refused = {
            role: client.put(
                "/api/playbooks/weapon", json=NEW_WEAPON_PLAYBOOK, headers=as_role[role]
            )
            for role in ("viewer", "dispatcher")
        }
        saved = client.put(
            "/api/playbooks/weapon", json=NEW_WEAPON_PLAYBOOK, headers=as_role["admin"]
        )
        created = client.put(
            "/api/playbooks/graffiti", json=NEW_WEAPON_PLAYBOOK, headers=as_role["admin"]
        )
        audit = client.get(
            "/api/audit", params={"target_type": "playbook"}, headers=as_role["admin"]
        )

    assert listed.status_code == 200
    assert [item["threat_type"] for item in listed.json()["items"]] == sorted(DEFAULT_PLAYBOOKS)
    assert weapon.json()["actions"] == DEFAULT_PLAYBOOKS["weapon"].actions
    assert weapon.json()["updated_by"] == "@hub"
    assert missing.status_code == 404
    assert "generic playbook applies" in missing.json()["detail"]
    assert anonymous.status_code == 401
    assert {role: response.status_code for role, response in refused.items()} == {
        "viewer": 403,
        "dispatcher": 403,
    }
    assert saved.status_code == 200
    assert {key: saved.json()[key] for key in NEW_WEAPON_PLAYBOOK} == NEW_WEAPON_PLAYBOOK
    assert saved.json()["updated_by"].startswith("admin-")
    assert created.status_code == 200
    entries = audit.json()["items"]
    assert [(entry["action"], entry["target_id"]) for entry in entries] == [
        ("playbook.create", "graffiti"),
        ("playbook.update", "weapon"),
    ]
    assert entries[1]["actor"] == saved.json()["updated_by"]
    assert entries[1]["details"]["before"]["perimeter_m"] == 150.0
    assert entries[1]["details"]["after"] == NEW_WEAPON_PLAYBOOK


IMPOSSIBLE_PLAYBOOKS = [
    ("/api/playbooks/weapon", {**NEW_WEAPON_PLAYBOOK, "severity": "apocalyptic"}),
    ("/api/playbooks/weapon", {**NEW_WEAPON_PLAYBOOK, "perimeter_m": -5}),
    ("/api/playbooks/weapon", {**NEW_WEAPON_PLAYBOOK, "perimeter_m": "NaN"}),
    ("/api/playbooks/weapon", {**NEW_WEAPON_PLAYBOOK, "actions": []}),
    ("/api/playbooks/weapon", {**NEW_WEAPON_PLAYBOOK, "actions": ["ok", "   "]}),
    ("/api/playbooks/weapon", {**NEW_WEAPON_PLAYBOOK, "actions": ["line\nbreak"]}),
    ("/api/playbooks/weapon", {**NEW_WEAPON_PLAYBOOK, "extra": 1}),
    ("/api/playbooks/weapon", {"severity": "low"}),
    ("/api/playbooks/Not-A-Type", NEW_WEAPON_PLAYBOOK),
]


def test_impossible_playbooks_are_refused_and_change_nothing(
    hub: tuple[str, dict[str, dict[str, str]]],
) -> None:
    base_url, as_role = hub
    with httpx.Client(base_url=base_url, headers=as_role["admin"], timeout=10) as client:
        statuses = [client.put(path, json=body).status_code for path, body in IMPOSSIBLE_PLAYBOOKS]
        weapon = client.get("/api/playbooks/weapon").json()

    assert statuses == [422] * len(IMPOSSIBLE_PLAYBOOKS)
    assert weapon["perimeter_m"] == DEFAULT_PLAYBOOKS["weapon"].perimeter_m


def incidents_of(base_url: str, headers: dict[str, str], camera_id: str) -> list[dict]:
    """The incidents of one camera through the API."""
    response = httpx.get(
        f"{base_url}/api/incidents", params={"camera_id": camera_id}, headers=headers, timeout=10
    )
    response.raise_for_status()
    return response.json()["items"]


def test_an_edited_playbook_shapes_the_incidents_opened_after_it(
    hub: tuple[str, dict[str, dict[str, str]]], mqtt_url: str
) -> None:
    base_url, as_role = hub
    viewer = as_role["viewer"]
    publish_events(mqtt_url, [make_event(camera_id="cam-before")])
    (before,) = wait_until(
        lambda: incidents_of(base_url, viewer, "cam-before"), STORE_TIMEOUT_S, "the first incident"
    )
    httpx.put(
        f"{base_url}/api/playbooks/weapon",
        json=NEW_WEAPON_PLAYBOOK,
        headers=as_role["admin"],
        timeout=10,
    ).raise_for_status()
    # Far enough from the first camera not to join its incident.
    publish_events(mqtt_url, [make_event(camera_id="cam-after", lat=48.9)])
    (after,) = wait_until(
        lambda: incidents_of(base_url, viewer, "cam-after"), STORE_TIMEOUT_S, "the second incident"
    )
    (before_now,) = incidents_of(base_url, viewer, "cam-before")

    assert [item["text"] for item in after["checklist"]] == NEW_WEAPON_PLAYBOOK["actions"]
    assert after["perimeter_m"] == 300.0
    assert [item["text"] for item in before_now["checklist"]] == DEFAULT_PLAYBOOKS["weapon"].actions
    assert before_now["perimeter_m"] == before["perimeter_m"] == 150.0
