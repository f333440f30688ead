"""Agent registry writes (statuses, heartbeats, the staleness sweep) and reads."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.agents.models import Agent
from hub.agents.schemas import AgentList, AgentOut
from hub.audit.models import SYSTEM_ACTOR
from hub.audit.service import record_audit
from hub.cameras.service import first_camera_position, record_camera_health
from hub.incidents.grouping import DEFAULT_GROUPING, GroupingPolicy
from hub.incidents.schemas import IncidentOut
from hub.incidents.service import (
    Sighting,
    file_health_sighting,
    note_back_online,
)
from vigie_contract import AgentStatusV1, HeartbeatV1

AGENT_OFFLINE = "agent_offline"


def record_agent_status(
    session: Session,
    status: AgentStatusV1,
    received_at: datetime,
    policy: GroupingPolicy = DEFAULT_GROUPING,
) -> list[IncidentOut]:
    """Apply an agent's retained status; its last will opens or joins an agent_offline incident."""
    agent = _registered(session, status.agent_id, received_at)
    agent.last_status_at = received_at
    agent.version = status.version or agent.version
    if status.state == "offline":
        return _go_offline(
            session, agent, "the agent's last will: it left the broker", received_at, policy
        )
    agent.last_seen_at = received_at
    return _go_online(session, agent, received_at)


def record_heartbeat(
    session: Session,
    heartbeat: HeartbeatV1,
    received_at: datetime,
    policy: GroupingPolicy = DEFAULT_GROUPING,
) -> list[IncidentOut]:
    """Keep an agent's and its cameras' figures; a silent agent heard again is back online."""
    agent = _registered(session, heartbeat.agent_id, received_at)
    agent.last_heartbeat_at = agent.last_seen_at = received_at
    agent.version = heartbeat.version
    agent.last_health = heartbeat.model_dump(mode="json", by_alias=True, exclude_none=True)
    changed = _go_online(session, agent, received_at)
    for camera in heartbeat.cameras:
        changed += record_camera_health(session, heartbeat.agent_id, camera, received_at, policy)
    return changed


def sweep_stale_agents(
    session: Session,
    now: datetime,
    stale_after: timedelta,
    policy: GroupingPolicy = DEFAULT_GROUPING,
) -> list[IncidentOut]:
    """Turn offline every online agent unheard for longer than stale_after; the caller commits."""
    # SKIP LOCKED: a replica sweeping at the same moment leaves these agents to this one.
    stale = session.scalars(
        sa.select(Agent)
        .where(Agent.state == "online", Agent.last_seen_at < now - stale_after)
        .order_by(Agent.id)
        .with_for_update(skip_locked=True)
    ).all()
    changed: list[IncidentOut] = []
    for agent in stale:
        silence = (now - agent.last_seen_at).total_seconds()
        reason = f"no heartbeat for {silence:.0f} s (limit {stale_after.total_seconds():.0f} s)"
        changed += _go_offline(session, agent, reason, now, policy)
    return changed


def list_agents(session: Session) -> AgentList:
    """Every registered agent, by id."""
    rows = session.scalars(sa.select(Agent).order_by(Agent.id))
    return AgentList(items=[AgentOut.model_validate(row) for row in rows])


def _go_offline(
    session: Session, agent: Agent, reason: str, at: datetime, policy: GroupingPolicy
) -> list[IncidentOut]:
    if agent.state == "offline":
        return []
    agent.state, agent.state_since = "offline", at
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="agent.offline",
        target_type="agent",
        target_id=agent.id,
        at=at,
        note=reason,
        details={"last_health": agent.last_health},
    )
    position = first_camera_position(session, agent.id)
    sighting = Sighting(
        threat_type=AGENT_OFFLINE,
        source="health",
        # The playbook sets the real severity; an outage itself claims the least.
        severity="low",
        agent_id=agent.id,
        camera_id=None,
        lat=position[0] if position else None,
        lon=position[1] if position else None,
        perimeter_m=None,
        seen_at=at,
        details={
            "reason": reason,
            "last_heartbeat_at": _iso(agent.last_heartbeat_at),
            "last_health": agent.last_health,
        },
    )
    return [file_health_sighting(session, sighting, policy, at)]


def _go_online(session: Session, agent: Agent, at: datetime) -> list[IncidentOut]:
    previous = agent.state
    if previous == "online":
        return []
    agent.state, agent.state_since = "online", at
    if previous == "unknown":
        return []
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action="agent.online",
        target_type="agent",
        target_id=agent.id,
        at=at,
        details={"version": agent.version},
    )
    back = note_back_online(session, AGENT_OFFLINE, agent.id, None, at)
    return [] if back is None else [back]


def _registered(session: Session, agent_id: str, now: datetime) -> Agent:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # "unknown" until its first status or heartbeat: coming online then is no news.
    session.execute(
        insert(Agent)
        .values(
            id=agent_id,
            state="unknown",
            state_since=now,
            first_seen_at=now,
            last_seen_at=now,
            last_health={},
        )
        .on_conflict_do_nothing(index_elements=[Agent.id])
    )
    return session.scalars(sa.select(Agent).where(Agent.id == agent_id).with_for_update()).one()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
