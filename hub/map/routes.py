"""The dispatchers' live map: the page, its static files, vendored Leaflet, settings and feed."""

# No `from __future__ import annotations`: the session annotation is local to install,
# so FastAPI could not resolve it from a string.
from pathlib import Path
from typing import Annotated

import xstatic.pkg.leaflet
import xstatic.pkg.leaflet_markercluster
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.orm import Session

from hub.config import HubSettings
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.events.schemas import StoredEvent
from hub.map.feed import MAX_FEED_PAGE, FeedQuery, feed_page
from hub.users.security import require_viewer

STATIC_DIR = Path(__file__).with_name("static")
# The page renders event strings as text only; the policy keeps any slip inert all the same.
# Tiles may come from any configured server, hence the broad img-src.
PAGE_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class MapConfig(BaseModel):
    """The base-map settings the page needs (an empty tile_url means no tile layer)."""

    tile_url: str
    tile_attribution: str


class IncidentLink(BaseModel):
    """The incident a map event belongs to, as of updated_at."""

    id: int
    status: str
    updated_at: AwareDatetime


class MapEvent(StoredEvent):
    """A stored event with its incident (null until the hub filed it)."""

    incident: IncidentLink | None


class MapEventPage(BaseModel):
    """A page of map events; pass next_before_id as before_id for the next, older page."""

    items: list[MapEvent]
    next_before_id: int | None


def feed_query(
    captured_from: Annotated[
        AwareDatetime | None, Query(description="captured at or after")
    ] = None,
    captured_to: Annotated[AwareDatetime | None, Query(description="captured before")] = None,
    after_id: Annotated[int | None, Query(ge=0, description="ids above it, oldest first")] = None,
    before_id: Annotated[int | None, Query(ge=1, description="ids below it, newest first")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FEED_PAGE)] = 1000,
) -> FeedQuery:
    """Dependency: the feed query of a request, 422 when its window is upside down."""
    if captured_from and captured_to and captured_from > captured_to:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "captured_to must not be before captured_from"
        )
    return FeedQuery(captured_from, captured_to, after_id, before_id, limit)


def install(app: FastAPI, settings: HubSettings, database: Database) -> None:
    """Serve the live map at /map/, its static files, Leaflet under /vendor/, config and feed."""
    config = MapConfig(
        tile_url=settings.map_tile_url, tile_attribution=settings.map_tile_attribution
    )

    @app.get("/map/", include_in_schema=False)
    def map_page() -> FileResponse:
        """The live map page."""
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={"Content-Security-Policy": PAGE_SECURITY_POLICY, "Cache-Control": "no-cache"},
        )

    @app.get("/map/config.json", tags=["map"])
    def map_config() -> MapConfig:
        """The base-map tile settings of this hub."""
        return config

    @app.get(
        "/map/events.json",
        tags=["map"],
        dependencies=[Depends(require_viewer)],
        response_model=None,
        responses={200: {"model": MapEventPage}},
    )
    def map_events(
        session: Annotated[Session, Depends(session_dependency(database))],
        query: Annotated[FeedQuery, Depends(feed_query)],
    ) -> Response:
        """Stored events with their incident, for the map (MapEventPage, not re-validated)."""
        return Response(feed_page(session, query), media_type="application/json")

    app.mount("/map/static", StaticFiles(directory=STATIC_DIR), name="map-static")
    app.mount(
        "/vendor/leaflet",
        StaticFiles(directory=xstatic.pkg.leaflet.BASE_DIR),
        name="vendor-leaflet",
    )
    app.mount(
        "/vendor/leaflet-markercluster",
        StaticFiles(directory=xstatic.pkg.leaflet_markercluster.BASE_DIR),
        name="vendor-leaflet-markercluster",
    )
