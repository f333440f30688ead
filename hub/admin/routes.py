"""The admin panel: its single page, its static ES modules and the settings the page needs."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from hub.config import HubSettings

STATIC_DIR = Path(__file__).with_name("static")
# Agent and user strings are rendered as text only; the policy keeps any slip inert all the same.
# Tiles may come from any configured server, hence the broad img-src.
PAGE_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
    "connect-src 'self'; media-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# How often the fleet page re-reads agents and cameras between health incidents.
FLEET_REFRESH_S = 5.0


class AdminConfig(BaseModel):
    """What the admin page needs from the hub's settings (an empty tile_url: no tile layer)."""

    tile_url: str
    tile_attribution: str
    camera_offline_alert_s: float
    fleet_refresh_s: float


def install(app: FastAPI, settings: HubSettings) -> None:
    """Serve the admin panel at /admin/, its files under /admin/static/, and its config."""
    config = AdminConfig(
        tile_url=settings.map_tile_url,
        tile_attribution=settings.map_tile_attribution,
        camera_offline_alert_s=settings.admin_camera_offline_alert_s,
        fleet_refresh_s=FLEET_REFRESH_S,
    )

    @app.get("/admin/", include_in_schema=False)
    def admin_page() -> FileResponse:
        """The admin panel (one page; the views are chosen by the URL's fragment)."""
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={
                "Content-Security-Policy": PAGE_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "Referrer-Policy": "same-origin",
            },
        )

    @app.get("/admin/config.json", tags=["admin"])
    def admin_config() -> AdminConfig:
        """The settings the admin panel reads at start-up."""
        return config

    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")
