"""Camera registry writes (from events, statuses, heartbeats, admins) and reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.audit.models import SYSTEM_ACTOR
from hub.audit.service import record_audit
from hub.cameras.models import Camera
from hub.cameras.schemas import CameraList, CameraOut, CameraUpdate
from hub.incidents.grouping import DEFAULT_GROUPING, GroupingPolicy
from hub.incidents.schemas import IncidentOut
from hub.incidents.service import (
    Sighting,
    file_health_sighting,
    note_back_online,
)
from vigie_contract import CameraHealth, CameraStatusV1, EventV1

CAMERA_OFFLINE = "camera_offline"


class CameraNotFound(LookupError):
    """No camera has that id."""


def learn_cameras_from_events(session: Session, events: Sequence[tuple[EventV1, datetime]]) -> None:
    """Register each unknown camera of these (event, receipt time) pairs; note when seen.

    A camera is placed at its first event when that event is located at the camera itself.
    """
    camera_ids = {event.camera_id for event, _ in events}
    known = {
        camera.id: camera
        for camera in session.scalars(sa.select(Camera).where(Camera.id.in_(camera_ids)))
    }
    for event, received_at in events:
        camera = known.get(event.camera_id)
        if camera is not None:
            camera.last_seen = max(camera.last_seen, received_at)
            continue
        camera = known[event.camera_id] = _register(
            session, event.camera_id, event.agent_id, received_at
        )
        if camera.state == "unknown":
            camera.state, camera.since = "online", received_at
        if event.location.source == "camera" and camera.lat is None:
            camera.lat, camera.lon = event.location.lat, event.location.lon


def record_camera_status(
    session: Session,
    status: CameraStatusV1,
    received_at: datetime,
    policy: GroupingPolicy = DEFAULT_GROUPING,
) -> list[IncidentOut]:
    """Apply a camera's retained status; an outage opens (or joins) a camera_offline incident."""
    camera = session.get(Camera, status.camera_id) or _register(
        session, status.camera_id, status.agent_id, received_at
    )
    camera.agent_id = status.agent_id
    camera.last_seen = max(camera.last_seen, received_at)
    reason = status.reason or f"the camera reported {status.state}"
    return _change_state(session, camera, status.state, status.since, reason, policy)


def record_camera_health(
    session: Session,
    agent_id: str,
    health: CameraHealth,
    received_at: datetime,
    policy: GroupingPolicy = DEFAULT_GROUPING,
) -> list[IncidentOut]:
    """Keep a camera's figures from a heartbeat; a state change there counts as a status."""
    camera = session.get(Camera, health.camera_id) or _register(
        session, health.camera_id, agent_id, received_at
    )
    camera.agent_id = agent_id
    camera.last_seen = max(camera.last_seen, received_at)
    camera.last_health = health.model_dump(mode="json", exclude_none=True)
    reason = f"the agent's heartbeat reports the camera {health.state}"
    return _change_state(session, camera, health.state, received_at, reason, policy)


def _change_state(
    session: Session,
    camera: Camera,
    state: str,
    since: datetime,
    reason: str,
    policy: GroupingPolicy,
) -> list[IncidentOut]:
    """Move a camera to `state`, auditing it; return the incidents this opened or changed."""
    previous = camera.state
    if state == previous:
        return []
    camera.state, camera.since = state, since
    session.flush()
    if state == "online" and previous == "unknown":
        return []
    record_audit(
        session,
        actor=SYSTEM_ACTOR,
        action=f"camera.{state}",
        target_type="camera",
        target_id=camera.id,
        at=since,
        note=reason,
        details={"agent_id": camera.agent_id, "last_health": camera.last_health},
    )
    if state == "online":
        back = note_back_online(session, CAMERA_OFFLINE, camera.agent_id, camera.id, since)
        return [] if back is None else [back]
    sighting = Sighting(
        threat_type=CAMERA_OFFLINE,
        source="health",
        # The playbook sets the real severity; an outage itself claims the least.
        severity="low",
        agent_id=camera.agent_id,
        camera_id=camera.id,
        lat=camera.lat,
        lon=camera.lon,
        perimeter_m=None,
        seen_at=since,
        details={
            "reason": reason,
            "offline_since": since.isoformat(),
            "last_health": camera.last_health,
        },
    )
    return [file_health_sighting(session, sighting, policy, since)]


def list_cameras(session: Session, agent_id: str | None = None) -> CameraList:
    """Every registered camera (of one agent if given), by id."""
    query = sa.select(Camera).order_by(Camera.id)
    if agent_id is not None:
        query = query.where(Camera.agent_id == agent_id)
    return CameraList(items=[CameraOut.model_validate(row) for row in session.scalars(query)])


def first_camera_position(session: Session, agent_id: str) -> tuple[float, float] | None:
    """The position of the agent's first placed camera (by id), if any."""
    row = session.execute(
        sa.select(Camera.lat, Camera.lon)
        .where(Camera.agent_id == agent_id, Camera.lat.is_not(None), Camera.lon.is_not(None))
        .order_by(Camera.id)
        .limit(1)
    ).first()
    return None if row is None else (row.lat, row.lon)


def update_camera(
    session: Session, camera_id: str, update: CameraUpdate, actor: str, now: datetime
) -> CameraOut:
    """Set a camera's name, position and field of view, auditing the change; the caller commits."""
    camera = session.get(Camera, camera_id, with_for_update=True)
    if camera is None:
        raise CameraNotFound(f"no camera with id {camera_id!r}")
    before = {field: getattr(camera, field) for field in CameraUpdate.model_fields}
    after = update.model_dump()
    for field, value in after.items():
        setattr(camera, field, value)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="camera.update",
        target_type="camera",
        target_id=camera_id,
        at=now,
        details={"before": before, "after": after},
    )
    return CameraOut.model_validate(camera)


def _register(session: Session, camera_id: str, agent_id: str, now: datetime) -> Camera:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # Another hub replica may register the same camera at the same moment: the first one wins.
    session.execute(
        insert(Camera)
        .values(
            id=camera_id,
            agent_id=agent_id,
            name=camera_id,
            state="unknown",
            since=now,
            last_seen=now,
            last_health={},
        )
        .on_conflict_do_nothing(index_elements=[Camera.id])
    )
    return session.scalars(sa.select(Camera).where(Camera.id == camera_id)).one()
