"""HTTP routes of the playbooks domain: everyone signed in reads them, admins edit them."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from sqlalchemy.orm import Session

from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.playbooks.schemas import PlaybookList, PlaybookRecord, PlaybookSpec
from hub.playbooks.service import get_playbook, list_playbooks, save_playbook
from hub.users.security import Admin, require_viewer
from vigie_contract.event import utc_now

ThreatType = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


def build_router(database: Database) -> APIRouter:
    """The /api/playbooks routes on `database`."""
    router = APIRouter(
        prefix="/api/playbooks", tags=["playbooks"], dependencies=[Depends(require_viewer)]
    )
    session_of_request = Annotated[Session, Depends(session_dependency(database))]

    @router.get("", response_model=PlaybookList)
    def get_playbooks(session: session_of_request) -> PlaybookList:
        """Every playbook, by threat type (`generic` applies to types without their own)."""
        return list_playbooks(session)

    @router.get(
        "/{threat_type}",
        response_model=PlaybookRecord,
        responses={404: {"description": "no playbook of its own: the generic one applies"}},
    )
    def get_one_playbook(session: session_of_request, threat_type: ThreatType) -> PlaybookRecord:
        """The playbook of one threat type."""
        playbook = get_playbook(session, threat_type)
        if playbook is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"no playbook for {threat_type!r}: the generic playbook applies to it",
            )
        return playbook

    @router.put("/{threat_type}", response_model=PlaybookRecord)
    def put_playbook(
        session: session_of_request, admin: Admin, threat_type: ThreatType, spec: PlaybookSpec
    ) -> PlaybookRecord:
        """Create or replace a threat type's playbook (admins); incidents opened later use it."""
        playbook = save_playbook(session, threat_type, spec, admin.username, utc_now())
        session.commit()
        return playbook

    return router
