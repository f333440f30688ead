"""The dispatchers' live map: the page, its static files, vendored Leaflet and the tile settings."""

from __future__ import annotations

from pathlib import Path

import xstatic.pkg.leaflet
import xstatic.pkg.leaflet_markercluster
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from hub.config import HubSettings

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


def install(app: FastAPI, settings: HubSettings) -> None:
    """Serve the live map at /map/, its static files, Leaflet under /vendor/, and its config."""
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
