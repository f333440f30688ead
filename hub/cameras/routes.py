"""HTTP routes of the cameras domain: everyone signed in lists them, admins place them."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from sqlalchemy.orm import Session

from hub.cameras.schemas import CameraList, CameraOut, CameraUpdate
from hub.cameras.service import CameraNotFound, list_cameras, update_camera
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.users.security import Admin, require_viewer
from vigie_contract.event import utc_now


def build_router(database: Database) -> APIRouter:
    """The /api/cameras routes on `database`."""
    router = APIRouter(
        prefix="/api/cameras", tags=["cameras"], dependencies=[Depends(require_viewer)]
    )
    session_of_request = Annotated[Session, Depends(session_dependency(database))]

    @router.get("", response_model=CameraList)
    def get_cameras(
        session: session_of_request,
        agent_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> CameraList:
        """Every registered camera (of one agent if given), with its state and last figures."""
        return list_cameras(session, agent_id)

    @router.put(
        "/{camera_id}", response_model=CameraOut, responses={404: {"description": "no such camera"}}
    )
    def put_camera(
        session: session_of_request,
        admin: Admin,
        camera_id: Annotated[str, Path(max_length=64)],
        update: CameraUpdate,
    ) -> CameraOut:
        """Set a camera's name, position, heading, field of view and range (admins)."""
        try:
            camera = update_camera(session, camera_id, update, admin.username, utc_now())
        except CameraNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        session.commit()
        return camera

    return router
