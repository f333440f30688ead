"""HTTP routes of the events domain: /api/events."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.events import service
from hub.events.schemas import EventPage

AfterId = Annotated[int | None, Query(ge=0, description="only ids above it, oldest first")]


def build_router(database: Database) -> APIRouter:
    """The /api/events routes, reading from `database`."""
    router = APIRouter(prefix="/api/events", tags=["events"])
    session_of_request = Annotated[Session, Depends(session_dependency(database))]

    @router.get("", response_model=EventPage, response_model_exclude_none=True)
    def get_events(
        session: session_of_request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after_id: AfterId = None,
    ) -> EventPage:
        """The newest events, or with after_id the ones stored after it, oldest first."""
        return EventPage(items=service.list_events(session, limit, after_id))

    @router.get("/nearby", response_model=EventPage, response_model_exclude_none=True)
    def get_events_nearby(
        session: session_of_request,
        lat: Annotated[float, Query(ge=-90.0, le=90.0)],
        lon: Annotated[float, Query(ge=-180.0, le=180.0)],
        radius_m: Annotated[float, Query(gt=0.0, le=100_000.0)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> EventPage:
        """Events within radius_m metres of (lat, lon), newest first."""
        return EventPage(items=service.events_within_radius(session, lat, lon, radius_m, limit))

    return router
