"""HTTP route of the snapshots domain: GET /api/events/{event_id}/snapshot."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from sqlalchemy.orm import Session

from hub.access.routes import AccessReason
from hub.access.service import VIEW_SNAPSHOT, Access, log_access
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.snapshots.models import SNAPSHOT_CONTENT_TYPE
from hub.snapshots.service import load_snapshot
from hub.users.security import Viewer, require_viewer

JPEG_RESPONSE = {200: {"content": {SNAPSHOT_CONTENT_TYPE: {}}, "description": "The JPEG."}}


def build_router(database: Database) -> APIRouter:
    """The snapshot route, reading from `database`; viewers and above."""
    router = APIRouter(
        prefix="/api/events", tags=["events"], dependencies=[Depends(require_viewer)]
    )
    session_of_request = Annotated[Session, Depends(session_dependency(database))]

    @router.get(
        "/{event_id}/snapshot",
        response_class=Response,
        responses={**JPEG_RESPONSE, 404: {"description": "No such event, or no snapshot of it."}},
    )
    def get_snapshot(
        event_id: uuid.UUID,
        session: session_of_request,
        viewer: Viewer,
        reason: AccessReason = None,
    ) -> Response:
        """The JPEG snapshot of the event with this event_id (the wire UUID); the view is logged."""
        jpeg = load_snapshot(session, event_id)
        if jpeg is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no snapshot of this event")
        log_access(database, viewer, Access(VIEW_SNAPSHOT, "event", event_id, reason))
        # Not kept by the browser: every view comes back here, so every view is logged.
        headers = {"Cache-Control": "private, no-store"}
        return Response(jpeg, media_type=SNAPSHOT_CONTENT_TYPE, headers=headers)

    return router
