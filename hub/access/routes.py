"""HTTP routes of the access log: read and export for admins; no route changes an entry."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
import csv
import io
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from hub.access.models import REASON_MAX_LENGTH
from hub.access.schemas import AccessPage, AccessRecord
from hub.access.service import (
    EXPORT_ACCESS_LOG,
    Access,
    AccessFilters,
    iter_access,
    list_access,
    log_access,
)
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.users.security import Admin, require_admin

# Why a user looks at personal data, sent by the client with the request (optional).
AccessReason = Annotated[
    str | None,
    Header(alias="X-Access-Reason", max_length=REASON_MAX_LENGTH, description="why (logged)"),
]
CSV_COLUMNS = ("id", "at", "username", "role", "action", "target_type", "target_id", "reason")
# A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def access_filters(
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[AwareDatetime | None, Query(description="at or after, with offset")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before, with offset")] = None,
) -> AccessFilters:
    """Dependency: the filters of an access-log query."""
    return AccessFilters(
        username=username,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
    )


def build_router(database: Database) -> APIRouter:
    """The read-only /api/access-log routes on `database`; admins only."""
    router = APIRouter(
        prefix="/api/access-log", tags=["access"], dependencies=[Depends(require_admin)]
    )
    session_of_request = Annotated[Session, Depends(session_dependency(database))]
    filters_of_request = Annotated[AccessFilters, Depends(access_filters)]

    @router.get("", response_model=AccessPage)
    def get_access_log(
        session: session_of_request,
        filters: filters_of_request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_id: Annotated[
            int | None, Query(ge=1, le=2**63 - 1, description="next page cursor")
        ] = None,
    ) -> AccessPage:
        """Access log entries, newest first, filtered; page on with next_before_id."""
        return list_access(session, filters, limit, before_id)

    @router.get(
        "/export.csv",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}, "description": "One row per entry."}},
    )
    def export_access_log(
        filters: filters_of_request, admin: Admin, reason: AccessReason = None
    ) -> StreamingResponse:
        """Every entry matching the filters as CSV, oldest first; the export is logged too."""
        log_access(database, admin, Access(EXPORT_ACCESS_LOG, "access_log", "*", reason))
        return StreamingResponse(
            _csv_lines(iter_access(database.sessions, filters)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="access-log.csv"'},
        )

    return router


def _csv_lines(entries: Iterator[AccessRecord]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = [entry.id, entry.at.isoformat(), *(getattr(entry, c) for c in CSV_COLUMNS[2:])]
        writer.writerow([_safe_cell(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
