"""Agents and cameras on both backends: heartbeats, statuses, staleness, outage incidents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from hub.agents.service import (
    list_agents,
    record_agent_status,
    record_heartbeat,
    sweep_stale_agents,
)
from hub.audit.schemas import AuditRecord
from hub.audit.service import audit_trail
from hub.cameras.schemas import CameraUpdate
from hub.cameras.service import (
    CameraNotFound,
    list_cameras,
    record_camera_status,
    update_camera,
)
from hub.db.engine import Database
from hub.incidents.grouping import GroupingPolicy
from hub.incidents.schemas import IncidentOut
from hub.incidents.service import IncidentFilters, get_incident, list_incidents
from hub.playbooks.defaults import DEFAULT_PLAYBOOKS
from hub.playbooks.service import seed_playbooks
from tests.hubserver import opened_database
from vigie_contract import AgentStatusV1, CameraHealth, CameraStatusV1, HeartbeatV1

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
STALE_AFTER = timedelta(seconds=60)
POLICY = GroupingPolicy(window=timedelta(minutes=10), radius_m=100.0)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The hub's database on each backend, schema created and playbooks seeded."""
    with opened_database(database_url) as database:
        with database.sessions.begin() as session:
            seed_playbooks(session, T0)
        yield database


def heartbeat(agent_id: str = "agent-1", **camera_states: str) -> HeartbeatV1:
    """A heartbeat of an agent with one camera health entry per keyword (id=state)."""
    cameras = [
        CameraHealth(camera_id=camera_id.replace("_", "-"), state=state, fps=4.5, inference_ms=31.0)
        for camera_id, state in camera_states.items()
    ]
    return HeartbeatV1(
        agent_id=agent_id,
        sent_at=T0,
        version="0.3.1",
        uptime_s=3600.0,
        queue_depth=2,
        cpu_load=0.7,
        cpu_temp_c=61.5,
        cameras=cameras,
    )


def camera_status(state: str, since: datetime, camera_id: str = "cam-1") -> CameraStatusV1:
    """A camera status message of agent-1."""
    return CameraStatusV1(
        agent_id="agent-1", camera_id=camera_id, state=state, since=since, reason="no frames"
    )


def open_incidents(database: Database, threat_type: str) -> list[IncidentOut]:
    """The incidents of one type, newest first."""
    with database.sessions() as session:
        return list_incidents(session, IncidentFilters(threat_types=(threat_type,)), 100).items


def trail(database: Database, target_type: str, target_id: str) -> list[AuditRecord]:
    """The audit entries about one target, oldest first."""
    with database.sessions() as session:
        return audit_trail(session, target_type, target_id)


def test_a_heartbeat_registers_the_agent_and_its_cameras(database: Database) -> None:
    with database.sessions.begin() as session:
        changed = record_heartbeat(session, heartbeat(cam_1="online", cam_2="offline"), T0, POLICY)

    with database.sessions() as session:
        (agent,) = list_agents(session).items
        cameras = {camera.id: camera for camera in list_cameras(session).items}
    assert (agent.id, agent.state, agent.version) == ("agent-1", "online", "0.3.1")
    assert agent.last_heartbeat_at == T0
    assert agent.last_health["queue_depth"] == 2
    assert agent.last_health["cpu_temp_c"] == 61.5
    assert cameras["cam-1"].state == "online"
    assert cameras["cam-1"].last_health == {
        "camera_id": "cam-1",
        "state": "online",
        "fps": 4.5,
        "inference_ms": 31.0,
    }
    # A camera that is dark from the start is an outage like any other.
    assert cameras["cam-2"].state == "offline"
    assert [incident.camera_id for incident in changed] == ["cam-2"]
    assert [entry.action for entry in trail(database, "agent", "agent-1")] == []


def test_a_stale_heartbeat_makes_the_agent_offline_with_an_incident(database: Database) -> None:
    with database.sessions.begin() as session:
        record_camera_status(session, camera_status("online", T0), T0, POLICY)
        update_camera(session, "cam-1", CameraUpdate(name="Quai", lat=48.85, lon=2.35), "root", T0)
        record_heartbeat(session, heartbeat(cam_1="online"), T0, POLICY)
    with database.sessions.begin() as session:
        not_yet = sweep_stale_agents(session, T0 + STALE_AFTER, STALE_AFTER, POLICY)
    with database.sessions.begin() as session:
        late = T0 + STALE_AFTER + timedelta(seconds=1)
        (incident,) = sweep_stale_agents(session, late, STALE_AFTER, POLICY)
    with database.sessions.begin() as session:
        again = sweep_stale_agents(session, late + STALE_AFTER, STALE_AFTER, POLICY)

    assert not_yet == []
    assert again == []
    assert incident.threat_type == "agent_offline"
    assert (incident.agent_id, incident.camera_id, incident.source) == ("agent-1", None, "health")
    assert incident.severity == DEFAULT_PLAYBOOKS["agent_offline"].severity
    # Placed at its camera, so the map shows where the outage is.
    assert (incident.lat, incident.lon) == (48.85, 2.35)
    assert "no heartbeat for 61 s" in incident.details["reason"]
    assert incident.details["last_health"]["cpu_temp_c"] == 61.5
    assert incident.details["last_heartbeat_at"] == T0.isoformat()
    with database.sessions() as session:
        (agent,) = list_agents(session).items
    assert (agent.state, agent.state_since) == ("offline", late)
    (offline,) = trail(database, "agent", "agent-1")
    assert (offline.action, offline.at) == ("agent.offline", late)


def test_an_agent_heard_again_is_back_online_and_its_incident_says_so(
    database: Database,
) -> None:
    back = T0 + timedelta(minutes=5)
    with database.sessions.begin() as session:
        record_heartbeat(session, heartbeat(), T0, POLICY)
        (opened,) = sweep_stale_agents(session, T0 + 2 * STALE_AFTER, STALE_AFTER, POLICY)
    with database.sessions.begin() as session:
        (noted,) = record_heartbeat(session, heartbeat(), back, POLICY)

    assert noted.id == opened.id
    # Back online, but a person closes the incident: the outage may have been sabotage.
    assert noted.status == "new"
    assert noted.details["back_online_at"] == back.isoformat()
    actions = [entry.action for entry in trail(database, "agent", "agent-1")]
    assert actions == ["agent.offline", "agent.online"]
    with database.sessions() as session:
        incident_actions = [entry.action for entry in get_incident(session, noted.id).audit]
    assert incident_actions == ["incident.open", "incident.back_online"]


def test_the_last_will_makes_the_agent_offline_with_an_incident(database: Database) -> None:
    online = AgentStatusV1(agent_id="agent-1", state="online", at=T0, version="0.3.1")
    will = AgentStatusV1(agent_id="agent-1", state="offline")
    later = T0 + timedelta(seconds=5)
    with database.sessions.begin() as session:
        assert record_agent_status(session, online, T0, POLICY) == []
        record_heartbeat(session, heartbeat(), T0, POLICY)
        (incident,) = record_agent_status(session, will, later, POLICY)
        # The retained will delivered once more (a hub restart) changes nothing.
        assert record_agent_status(session, will, later, POLICY) == []

    assert incident.threat_type == "agent_offline"
    assert "last will" in incident.details["reason"]
    assert (incident.lat, incident.lon) == (None, None)
    assert [i.id for i in open_incidents(database, "agent_offline")] == [incident.id]


def test_a_camera_going_offline_opens_a_camera_offline_incident(database: Database) -> None:
    dark = T0 + timedelta(minutes=1)
    with database.sessions.begin() as session:
        record_heartbeat(session, heartbeat(cam_1="online"), T0, POLICY)
        update_camera(session, "cam-1", CameraUpdate(name="Pont", lat=48.86, lon=2.34), "root", T0)
        (incident,) = record_camera_status(session, camera_status("offline", dark), dark, POLICY)
        repeated = record_camera_status(session, camera_status("offline", dark), dark, POLICY)

    assert repeated == []
    assert (incident.threat_type, incident.camera_id, incident.agent_id) == (
        "camera_offline",
        "cam-1",
        "agent-1",
    )
    assert (incident.lat, incident.lon) == (48.86, 2.34)
    assert incident.first_seen == dark
    assert incident.perimeter_m == DEFAULT_PLAYBOOKS["camera_offline"].perimeter_m
    assert incident.details["reason"] == "no frames"
    assert incident.details["last_health"]["fps"] == 4.5
    assert [item.text for item in incident.checklist] == DEFAULT_PLAYBOOKS["camera_offline"].actions
    with database.sessions() as session:
        camera = list_cameras(session).items[0]
    assert (camera.state, camera.since) == ("offline", dark)
    assert [entry.action for entry in trail(database, "camera", "cam-1")] == [
        "camera.update",
        "camera.offline",
    ]


def test_a_flapping_camera_stays_one_incident_within_the_window(database: Database) -> None:
    times = [T0 + timedelta(minutes=minutes) for minutes in (0, 1, 2, 30)]
    with database.sessions.begin() as session:
        record_camera_status(session, camera_status("online", T0), T0, POLICY)
        (first,) = record_camera_status(session, camera_status("offline", times[0]), T0, POLICY)
        (back,) = record_camera_status(session, camera_status("online", times[1]), T0, POLICY)
        (second,) = record_camera_status(session, camera_status("offline", times[2]), T0, POLICY)
        record_camera_status(session, camera_status("online", times[3]), T0, POLICY)
        (third,) = record_camera_status(
            session, camera_status("offline", times[3] + timedelta(seconds=1)), T0, POLICY
        )

    assert back.details["back_online_at"] == times[1].isoformat()
    assert second.id == first.id
    assert second.event_count == 2
    assert third.id != first.id
    # Another camera's outage is another incident, however close it stands.
    with database.sessions.begin() as session:
        (other,) = record_camera_status(
            session, camera_status("offline", times[2], camera_id="cam-2"), T0, POLICY
        )
    assert other.id not in (first.id, third.id)


def test_an_admin_places_a_camera_and_the_change_is_audited(database: Database) -> None:
    with database.sessions.begin() as session:
        record_camera_status(session, camera_status("online", T0), T0, POLICY)
        update = CameraUpdate(
            name="<img src=x onerror=alert(1)>",
            lat=48.8566,
            lon=2.3522,
            heading_deg=90.0,
            fov_deg=60.0,
            range_m=80.0,
        )
        placed = update_camera(session, "cam-1", update, "root", T0)
        with pytest.raises(CameraNotFound):
            update_camera(session, "cam-404", update, "root", T0)

    assert placed.name == "<img src=x onerror=alert(1)>"
    assert (placed.heading_deg, placed.fov_deg, placed.range_m) == (90.0, 60.0, 80.0)
    (entry,) = trail(database, "camera", "cam-1")
    assert (entry.actor, entry.action) == ("root", "camera.update")
    assert entry.details["before"]["name"] == "cam-1"
    assert entry.details["after"]["lat"] == 48.8566


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "lat": 48.0},
        {"name": "x", "lat": 91.0, "lon": 2.0},
        {"name": "x", "heading_deg": 360.0},
        {"name": "x", "fov_deg": 0.0},
        {"name": ""},
        {"name": "x", "colour": "red"},
    ],
)
def test_impossible_camera_figures_are_refused(body: dict) -> None:
    with pytest.raises(ValueError):
        CameraUpdate.model_validate(body)
