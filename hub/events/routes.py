"""HTTP routes of the events domain: /api/events with filters, keyset pages and exports."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Literal, NoReturn

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from hub.access.routes import AccessReason
from hub.access.service import EXPORT_EVENTS, Access, log_access
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.events import service
from hub.events.schemas import EventPage, StoredEvent
from hub.events.service import BoundingBox, Circle, EventFilters, PageRequest
from hub.users.security import Viewer, require_viewer

Severity = Literal["low", "medium", "high", "critical"]
AfterId = Annotated[int | None, Query(ge=0, description="only ids above it, oldest first")]
BeforeId = Annotated[int | None, Query(ge=1, description="only ids below it, newest first")]
Limit = Annotated[int, Query(ge=1, le=1000)]
CSV_COLUMNS = (
    "id",
    "event_id",
    "captured_at",
    "received_at",
    "agent_id",
    "camera_id",
    "threat_type",
    "severity",
    "lat",
    "lon",
    "location_source",
    "accuracy_m",
    "perimeter_m",
    "labels",
    "top_score",
    "model",
)
# A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def event_filters(
    captured_from: Annotated[
        AwareDatetime | None, Query(description="captured_at at or after (ISO 8601 with offset)")
    ] = None,
    captured_to: Annotated[
        AwareDatetime | None, Query(description="captured_at before (ISO 8601 with offset)")
    ] = None,
    bbox: Annotated[
        str | None,
        Query(
            description="min_lon,min_lat,max_lon,max_lat, edges included "
            "(min_lon > max_lon crosses the antimeridian)"
        ),
    ] = None,
    lat: Annotated[
        float | None, Query(ge=-90.0, le=90.0, description="with lon and radius_m: the centre")
    ] = None,
    lon: Annotated[float | None, Query(ge=-180.0, le=180.0)] = None,
    radius_m: Annotated[float | None, Query(gt=0.0, le=100_000.0)] = None,
    threat_type: Annotated[list[str] | None, Query(description="any of these types")] = None,
    severity: Annotated[list[Severity] | None, Query(description="any of these")] = None,
    camera_id: str | None = None,
    agent_id: str | None = None,
) -> EventFilters:
    """Dependency: the filters of an events query, 422 when they contradict each other."""
    if captured_from and captured_to and captured_from > captured_to:
        _refuse("captured_to", captured_to, "must not be before captured_from")
    return EventFilters(
        captured_from=captured_from,
        captured_to=captured_to,
        bbox=None if bbox is None else _bounding_box(bbox),
        near=_circle(lat, lon, radius_m),
        threat_types=tuple(threat_type or ()),
        severities=tuple(severity or ()),
        camera_id=camera_id,
        agent_id=agent_id,
    )


def build_router(database: Database) -> APIRouter:
    """The /api/events routes, reading from `database`; viewers and above."""
    router = APIRouter(
        prefix="/api/events", tags=["events"], dependencies=[Depends(require_viewer)]
    )
    session_of_request = Annotated[Session, Depends(session_dependency(database))]
    filters_of_request = Annotated[EventFilters, Depends(event_filters)]

    @router.get("", response_model=EventPage, response_model_exclude_none=True)
    def get_events(
        session: session_of_request,
        filters: filters_of_request,
        limit: Limit = 100,
        after_id: AfterId = None,
        before_id: BeforeId = None,
    ) -> EventPage:
        """Events matching the filters: the newest (below before_id), or after after_id oldest
        first. Page on with before_id = the last id seen (or after_id, going forward)."""
        page = PageRequest(limit=limit, after_id=after_id, before_id=before_id)
        return EventPage(items=service.find_events(session, filters, page))

    @router.get("/nearby", response_model=EventPage, response_model_exclude_none=True)
    def get_events_nearby(
        session: session_of_request,
        lat: Annotated[float, Query(ge=-90.0, le=90.0)],
        lon: Annotated[float, Query(ge=-180.0, le=180.0)],
        radius_m: Annotated[float, Query(gt=0.0, le=100_000.0)],
        limit: Limit = 100,
    ) -> EventPage:
        """Events within radius_m metres of (lat, lon), newest first."""
        return EventPage(items=service.events_within_radius(session, lat, lon, radius_m, limit))

    @router.get(
        "/export.csv",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}, "description": "One row per event."}},
    )
    def export_csv(
        filters: filters_of_request, viewer: Viewer, reason: AccessReason = None
    ) -> StreamingResponse:
        """Every event matching the filters as CSV, oldest first, streamed; the export is logged."""
        log_access(database, viewer, _export_access("csv", filters, reason))
        rows = _csv_lines(service.iter_events(database.sessions, filters))
        return StreamingResponse(
            rows, media_type="text/csv; charset=utf-8", headers=_attachment("events.csv")
        )

    @router.get(
        "/export.geojson",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/geo+json": {}}, "description": "A FeatureCollection."}
        },
    )
    def export_geojson(
        filters: filters_of_request, viewer: Viewer, reason: AccessReason = None
    ) -> StreamingResponse:
        """Every event matching the filters as a GeoJSON FeatureCollection, oldest first; logged."""
        log_access(database, viewer, _export_access("geojson", filters, reason))
        features = _geojson_chunks(service.iter_events(database.sessions, filters))
        return StreamingResponse(
            features, media_type="application/geo+json", headers=_attachment("events.geojson")
        )

    return router


def _export_access(export_format: str, filters: EventFilters, reason: str | None) -> Access:
    # The filters say which events left the hub; dates become text for the JSON column.
    given = {name: value for name, value in asdict(filters).items() if value not in (None, ())}
    details = {"format": export_format, "filters": json.loads(json.dumps(given, default=str))}
    return Access(EXPORT_EVENTS, "events", "*", reason, details)


def _bounding_box(text: str) -> BoundingBox:
    parts = text.split(",")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
    except ValueError:
        _refuse("bbox", text, "must be four numbers: min_lon,min_lat,max_lon,max_lat")
    # NaN fails every comparison below, so it is refused too.
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        _refuse("bbox", text, "longitudes must be within [-180, 180]")
    if not -90 <= min_lat <= max_lat <= 90:
        _refuse("bbox", text, "latitudes must satisfy -90 <= min_lat <= max_lat <= 90")
    return BoundingBox(min_lon, min_lat, max_lon, max_lat)


def _circle(lat: float | None, lon: float | None, radius_m: float | None) -> Circle | None:
    given = {"lat": lat, "lon": lon, "radius_m": radius_m}
    if all(value is None for value in given.values()):
        return None
    for name, value in given.items():
        if value is None:
            _refuse(name, None, "lat, lon and radius_m go together")
    return Circle(lat, lon, radius_m)


def _refuse(parameter: str, value: object, message: str) -> NoReturn:
    raise RequestValidationError(
        [{"type": "value_error", "loc": ("query", parameter), "msg": message, "input": value}]
    )


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _csv_lines(events: Iterator[StoredEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow([_safe_cell(value) for value in _csv_row(event)])
        # Flush every row: the response never holds more than one in memory.
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _csv_row(event: StoredEvent) -> list[object]:
    return [
        event.id,
        event.event_id,
        event.captured_at.isoformat(),
        event.received_at.isoformat(),
        event.agent_id,
        event.camera_id,
        event.threat_type,
        event.severity,
        event.location.lat,
        event.location.lon,
        event.location.source,
        event.location.accuracy_m,
        event.perimeter_m,
        " ".join(detection.label for detection in event.detections),
        max(detection.score for detection in event.detections),
        event.model.name,
    ]


def _safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _geojson_chunks(events: Iterator[StoredEvent]) -> Iterator[str]:
    yield '{"type":"FeatureCollection","features":['
    separator = ""
    for event in events:
        feature = {
            "type": "Feature",
            "id": event.id,
            "geometry": {"type": "Point", "coordinates": [event.location.lon, event.location.lat]},
            "properties": json.loads(event.to_json()),
        }
        yield separator + json.dumps(feature, separators=(",", ":"))
        separator = ","
    yield "]}"
