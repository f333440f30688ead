"""The hub's FastAPI application: routes of every domain plus the lifespan of its moving parts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, RedirectResponse

from hub import __version__
from hub.broker import embedded_broker
from hub.config import HubSettings
from hub.db.engine import Database, open_database
from hub.db.schema import create_schema
from hub.events import routes as events_routes
from hub.events.schemas import StoredEvent
from hub.ingest.consumer import EventConsumer
from hub.map.routes import install as install_map
from hub.stream import routes as stream_routes
from hub.stream.broadcaster import Broadcaster, encode_event


class HubRuntime:
    """The parts with a lifetime: schema, embedded broker and ingest consumer."""

    def __init__(self, settings: HubSettings, database: Database, broadcaster: Broadcaster) -> None:
        self._settings = settings
        self._database = database
        self._broadcaster = broadcaster
        self._consumer: EventConsumer | None = None

    @property
    def mqtt_connected(self) -> bool:
        """True once the consumer is connected and subscribed."""
        return self._consumer is not None and self._consumer.connected

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """Open the database, start the broker (if embedded) and the consumer; stop them after."""
        settings = self._settings
        async with AsyncExitStack() as stack:
            stack.callback(self._database.close)
            await asyncio.to_thread(create_schema, self._database.engine)
            if settings.mqtt_embedded:
                await stack.enter_async_context(
                    embedded_broker(settings.mqtt_host, settings.mqtt_port)
                )
            self._consumer = self._start_consumer(asyncio.get_running_loop())
            stack.push_async_callback(asyncio.to_thread, self._consumer.stop)
            yield

    def _start_consumer(self, loop: asyncio.AbstractEventLoop) -> EventConsumer:
        broadcaster = self._broadcaster

        def hand_to_stream(event: StoredEvent) -> None:
            # Runs on the ingest thread: serialise there, deliver on the event loop.
            loop.call_soon_threadsafe(broadcaster.publish, encode_event(event))

        consumer = EventConsumer(
            host=self._settings.mqtt_host,
            port=self._settings.mqtt_port,
            client_id=self._settings.mqtt_client_id,
            sessions=self._database.sessions,
            max_event_bytes=self._settings.max_event_bytes,
            on_stored=hand_to_stream,
        )
        consumer.start()
        return consumer


def create_app(settings: HubSettings) -> FastAPI:
    """A hub application for `settings`; nothing connects until its lifespan starts."""
    database = open_database(settings.database_url)
    broadcaster = Broadcaster()
    runtime = HubRuntime(settings, database, broadcaster)
    app = FastAPI(title="Vigie hub", version=__version__, lifespan=runtime.lifespan)
    app.include_router(_health_router(database, runtime))
    app.include_router(events_routes.build_router(database))
    app.include_router(stream_routes.build_router(database, broadcaster))
    install_map(app, settings)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        """The live map is the hub's front page."""
        return RedirectResponse("/map/")

    return app


def _health_router(database: Database, runtime: HubRuntime) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 when the database answers and MQTT is connected, else 503."""
        database_ok = await asyncio.to_thread(database.answers)
        mqtt_ok = runtime.mqtt_connected
        body = {
            "status": "ok" if database_ok and mqtt_ok else "unavailable",
            "database": "ok" if database_ok else "unreachable",
            "mqtt": "connected" if mqtt_ok else "disconnected",
            "version": __version__,
        }
        return JSONResponse(body, status_code=200 if database_ok and mqtt_ok else 503)

    return router
