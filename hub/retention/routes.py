"""HTTP route of the retention domain: PUT /api/incidents/{id}/legal-hold (admins only)."""

# No `from __future__ import annotations`: FastAPI resolves the annotations at run time.
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from hub.access.models import REASON_MAX_LENGTH
from hub.db.engine import Database
from hub.retention.service import IncidentMissing, set_legal_hold
from hub.users.security import Admin
from vigie_contract.event import utc_now

IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class LegalHoldRequest(BaseModel):
    """Hold (true) or release (false) an incident's data, and why: the reason is mandatory."""

    model_config = ConfigDict(extra="forbid")

    hold: bool
    reason: str = Field(min_length=3, max_length=REASON_MAX_LENGTH)


class LegalHoldState(BaseModel):
    """An incident's legal hold after the change."""

    incident_id: int
    legal_hold: bool


def build_router(database: Database) -> APIRouter:
    """The legal hold route on `database`."""
    router = APIRouter(prefix="/api/incidents", tags=["incidents"])

    @router.put(
        "/{incident_id}/legal-hold",
        response_model=LegalHoldState,
        responses={404: {"description": "no such incident"}},
    )
    def put_legal_hold(
        incident_id: IncidentId, request: LegalHoldRequest, admin: Admin
    ) -> LegalHoldState:
        """Keep an incident's events and snapshots past retention (an investigation), or stop."""
        try:
            with database.sessions.begin() as session:
                held = set_legal_hold(
                    session, incident_id, request.hold, request.reason, admin, utc_now()
                )
        except IncidentMissing as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        return LegalHoldState(incident_id=incident_id, legal_hold=held)

    return router
