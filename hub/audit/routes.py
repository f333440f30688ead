"""HTTP routes of the audit domain: GET /api/audit (admins only; nothing updates or deletes)."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from hub.audit.schemas import AuditPage
from hub.audit.service import AuditFilters, list_audit
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.users.security import require_admin


def build_router(database: Database) -> APIRouter:
    """The read-only /api/audit route, reading from `database`."""
    router = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=[Depends(require_admin)])
    session_of_request = Annotated[Session, Depends(session_dependency(database))]

    @router.get("", response_model=AuditPage)
    def get_audit(
        session: session_of_request,
        actor: Annotated[str | None, Query(max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=48)] = None,
        target_type: Annotated[str | None, Query(max_length=32)] = None,
        target_id: Annotated[str | None, Query(max_length=64)] = None,
        since: Annotated[
            AwareDatetime | None, Query(description="at or after, with offset")
        ] = None,
        until: Annotated[AwareDatetime | None, Query(description="before, with offset")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_id: Annotated[
            int | None, Query(ge=1, le=2**63 - 1, description="next page cursor")
        ] = None,
    ) -> AuditPage:
        """Audit entries, newest first, filtered; page on with next_before_id."""
        filters = AuditFilters(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
        )
        return list_audit(session, filters, limit, before_id)

    return router
