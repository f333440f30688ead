"""HTTP routes of the incidents domain: list, detail, lifecycle transitions, checklist."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from hub.access.routes import AccessReason
from hub.access.service import CHANGE_INCIDENT, VIEW_INCIDENT, Access, log_access, record_access
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.incidents import service
from hub.incidents.schemas import (
    ChecklistUpdate,
    IncidentDetail,
    IncidentOut,
    IncidentPage,
    IncidentStatus,
    TransitionRequest,
)
from hub.incidents.service import BoundingBox, Circle, IncidentFilters
from hub.incidents.stream import encode_incident
from hub.playbooks.schemas import Severity
from hub.stream.broadcaster import Broadcaster
from hub.users.security import Dispatcher, Viewer, require_viewer
from vigie_contract.event import utc_now

MAX_RADIUS_M = 100_000.0
# Ids are 64-bit in the database: a larger number would be a database error, not a 404.
MAX_ID = 2**63 - 1
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID)]
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
NOT_FOUND = {404: {"description": "no such incident"}}


def incident_filters(
    status_: Annotated[list[IncidentStatus] | None, Query(alias="status")] = None,
    threat_type: Annotated[list[str] | None, Query(max_length=20)] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[AwareDatetime | None, Query(description="last seen at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="first seen before")] = None,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in degrees (Leaflet's BBoxString)")
    ] = None,
    lat: Annotated[float | None, Query(ge=-90.0, le=90.0)] = None,
    lon: Annotated[float | None, Query(ge=-180.0, le=180.0)] = None,
    radius_m: Annotated[float | None, Query(gt=0.0, le=MAX_RADIUS_M)] = None,
) -> IncidentFilters:
    """Dependency: the incident filters of a query string (422 when they do not make sense)."""
    near_parts = (lat, lon, radius_m)
    if any(part is not None for part in near_parts) and None in near_parts:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "lat, lon and radius_m go together"
        )
    return IncidentFilters(
        statuses=tuple(status_ or ()),
        threat_types=tuple(threat_type or ()),
        severities=tuple(severity or ()),
        camera_id=camera_id,
        agent_id=agent_id,
        since=since,
        until=until,
        bbox=None if bbox is None else parse_bbox(bbox),
        near=None if radius_m is None else Circle(lat=lat, lon=lon, radius_m=radius_m),
    )


def parse_bbox(text: str) -> BoundingBox:
    """A BoundingBox from "west,south,east,north"; HTTP 422 when it is not one."""
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "bbox must be four numbers: west,south,east,north",
        ) from None
    if not (
        -180.0 <= west <= 180.0 and -180.0 <= east <= 180.0 and -90.0 <= south <= north <= 90.0
    ):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "bbox needs longitudes in [-180, 180] and latitudes with -90 <= south <= north <= 90",
        )
    return BoundingBox(west=west, south=south, east=east, north=north)


def build_router(database: Database, broadcaster: Broadcaster) -> APIRouter:
    """The /api/incidents routes on `database`; every change is pushed through `broadcaster`."""
    router = APIRouter(
        prefix="/api/incidents", tags=["incidents"], dependencies=[Depends(require_viewer)]
    )
    session_of_request = Annotated[Session, Depends(session_dependency(database))]

    async def commit_and_push(change: Callable[[Session], IncidentOut]) -> IncidentOut:
        # The change commits on a worker thread; the push runs here, on the event loop.
        incident = await asyncio.to_thread(_committed, database, change)
        broadcaster.publish(encode_incident(incident))
        return incident

    @router.get("", response_model=IncidentPage)
    def get_incidents(
        session: session_of_request,
        filters: Annotated[IncidentFilters, Depends(incident_filters)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_id: Annotated[
            int | None, Query(ge=1, le=MAX_ID, description="next page cursor")
        ] = None,
    ) -> IncidentPage:
        """Incidents, newest first, filtered; page on with next_before_id."""
        return service.list_incidents(session, filters, limit, before_id)

    @router.get("/{incident_id}", response_model=IncidentDetail, responses=NOT_FOUND)
    def get_incident(
        session: session_of_request,
        incident_id: IncidentId,
        viewer: Viewer,
        reason: AccessReason = None,
    ) -> IncidentDetail:
        """One incident with its events, checklist and audit trail; the view is logged."""
        try:
            detail = service.get_incident(session, incident_id)
        except service.IncidentNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        log_access(database, viewer, Access(VIEW_INCIDENT, "incident", incident_id, reason))
        return detail

    @router.post(
        "/{incident_id}/transition",
        response_model=IncidentOut,
        responses={**NOT_FOUND, 409: {"description": "not allowed from the current status"}},
    )
    async def transition(
        incident_id: IncidentId, request: TransitionRequest, dispatcher: Dispatcher
    ) -> IncidentOut:
        """Move an incident along new → acknowledged → dispatched → resolved | false_alarm."""

        def change(session: Session) -> IncidentOut:
            incident = service.transition_incident(
                session, incident_id, request, dispatcher.username, utc_now()
            )
            access = Access(
                CHANGE_INCIDENT, "incident", incident_id, request.note, {"to": request.to}
            )
            record_access(session, dispatcher, access, utc_now())
            return incident

        return await commit_and_push(change)

    @router.put(
        "/{incident_id}/checklist/{item_id}",
        response_model=IncidentOut,
        responses={**NOT_FOUND, 409: {"description": "the incident is closed"}},
    )
    async def update_checklist(
        incident_id: IncidentId, item_id: ItemId, update: ChecklistUpdate, dispatcher: Dispatcher
    ) -> IncidentOut:
        """Tick or untick one playbook action of an open incident."""

        def change(session: Session) -> IncidentOut:
            incident = service.update_checklist_item(
                session, incident_id, item_id, update, dispatcher.username, utc_now()
            )
            access = Access(CHANGE_INCIDENT, "incident", incident_id, None, {"item_id": item_id})
            record_access(session, dispatcher, access, utc_now())
            return incident

        return await commit_and_push(change)

    return router


def _committed(database: Database, change: Callable[[Session], IncidentOut]) -> IncidentOut:
    try:
        with database.sessions.begin() as session:
            return change(session)
    except service.IncidentNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except service.IncidentConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
