"""GET /metrics: the Prometheus text exposition of this hub's metrics; viewers and above."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.metrics.registry import HubMetrics
from hub.users.security import require_viewer


def build_router(metrics: HubMetrics) -> APIRouter:
    """The /metrics route, exposing `metrics`' registry."""
    router = APIRouter(tags=["metrics"], dependencies=[Depends(require_viewer)])

    @router.get("/metrics", response_class=Response)
    def scrape() -> Response:
        """Every hub metric in the Prometheus text format (scrape with a viewer's API token)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
