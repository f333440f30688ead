"""The hub's FastAPI application: routes of every domain plus the lifespan of its moving parts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, RedirectResponse

from hub import __version__
from hub.access import routes as access_routes
from hub.admin.routes import install as install_admin
from hub.agents import routes as agents_routes
from hub.agents.sweeper import SweepSchedule, sweep_forever
from hub.audit import routes as audit_routes
from hub.broker import embedded_broker
from hub.cameras import routes as cameras_routes
from hub.config import HubSettings
from hub.db.engine import Database, open_database
from hub.db.schema import create_schema
from hub.events import routes as events_routes
from hub.events.relay import StoredEventRelay
from hub.events.schemas import StoredEvent
from hub.incidents import routes as incidents_routes
from hub.incidents.grouping import GroupingPolicy
from hub.incidents.schemas import IncidentOut
from hub.incidents.stream import encode_incident
from hub.ingest.consumer import BatchPolicy, BrokerSession, EventConsumer
from hub.ingest.pipeline import IngestOptions
from hub.ingest.validation import TimeBounds
from hub.map.routes import install as install_map
from hub.metrics import routes as metrics_routes
from hub.metrics.registry import HubMetrics
from hub.playbooks import routes as playbooks_routes
from hub.playbooks.service import seed_playbooks
from hub.retention import routes as retention_routes
from hub.retention.schedule import purge_forever
from hub.retention.service import RetentionPolicy
from hub.snapshots import routes as snapshots_routes
from hub.stream import routes as stream_routes
from hub.stream.broadcaster import Broadcaster, encode_event
from hub.users.install import install_auth
from vigie_contract.event import utc_now


class HubRuntime:
    """The parts with a lifetime: schema, embedded broker and ingest consumer."""

    def __init__(
        self,
        settings: HubSettings,
        database: Database,
        broadcaster: Broadcaster,
        metrics: HubMetrics,
    ) -> None:
        self._settings = settings
        self._database = database
        self._broadcaster = broadcaster
        self._metrics = metrics
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
            await asyncio.to_thread(_seed_playbooks, self._database)
            if settings.mqtt_embedded:
                await stack.enter_async_context(
                    embedded_broker(settings.mqtt_host, settings.mqtt_port)
                )
            loop = asyncio.get_running_loop()
            relay = None
            if self._database.engine.dialect.name == "postgresql":
                # Replicas may share the database: every event reaches this replica's clients
                # through PostgreSQL, whichever replica stored it, in id order.
                relay = StoredEventRelay(
                    self._database,
                    self._stream_relayed(loop),
                    # Incident changes made by the other replicas (this one pushed its own).
                    lambda incident: loop.call_soon_threadsafe(self._publish_incident, incident),
                )
                relay.start()
                stack.push_async_callback(asyncio.to_thread, relay.stop)
            self._consumer = self._start_consumer(loop, relay)
            stack.push_async_callback(asyncio.to_thread, self._consumer.stop)
            sweeper = asyncio.create_task(
                sweep_forever(
                    self._database,
                    SweepSchedule(
                        interval_s=settings.health_sweep_interval_s,
                        stale_after=timedelta(seconds=settings.agent_stale_after_s),
                    ),
                    grouping_policy(settings),
                    self._publish_incident,
                )
            )
            stack.push_async_callback(_cancelled, sweeper)
            purger = asyncio.create_task(
                purge_forever(
                    self._database,
                    retention_policy(settings),
                    settings.retention_purge_interval_s,
                )
            )
            stack.push_async_callback(_cancelled, purger)
            yield

    def _publish_incident(self, incident: IncidentOut) -> None:
        # On the event loop, like every Broadcaster call.
        self._broadcaster.publish(encode_incident(incident))

    def _stream_relayed(
        self, loop: asyncio.AbstractEventLoop
    ) -> Callable[[list[StoredEvent]], None]:
        broadcaster, metrics = self._broadcaster, self._metrics

        def hand_to_stream(events: list[StoredEvent]) -> None:
            # Runs on the relay thread: serialise there, deliver on the event loop.
            metrics.observe_relay_lag([event.received_at for event in events])
            loop.call_soon_threadsafe(broadcaster.publish_all, [encode_event(e) for e in events])

        return hand_to_stream

    def _start_consumer(
        self, loop: asyncio.AbstractEventLoop, relay: StoredEventRelay | None
    ) -> EventConsumer:
        settings, broadcaster = self._settings, self._broadcaster

        def hand_to_stream(events: list[StoredEvent]) -> None:
            # Runs on the ingest thread, after the commit. With a relay, it orders the stream.
            if relay is not None:
                relay.offer(events)
            else:
                messages = [encode_event(event) for event in events]
                loop.call_soon_threadsafe(broadcaster.publish_all, messages)

        def hand_incident_to_stream(incident: IncidentOut) -> None:
            # Runs on the ingest thread, after the commit that filed the incident.
            loop.call_soon_threadsafe(broadcaster.publish, encode_incident(incident))

        consumer = EventConsumer(
            broker=BrokerSession(
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                client_id=settings.mqtt_client_id,
                # The embedded amqtt broker speaks MQTT 3.1.1 only.
                mqtt_v5=not settings.mqtt_embedded,
                shared_group=settings.mqtt_shared_group,
                session_expiry_s=settings.mqtt_session_expiry_s,
                extra_topics=(settings.frigate.topic,) if settings.frigate.enabled else (),
                username=settings.mqtt_username,
                password=(
                    settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
                ),
            ),
            sessions=self._database.sessions,
            options=IngestOptions(
                max_event_bytes=settings.max_event_bytes,
                grouping=grouping_policy(settings),
                time_bounds=ingest_time_bounds(settings),
                frigate=settings.frigate if settings.frigate.enabled else None,
            ),
            on_stored=hand_to_stream,
            on_incident=hand_incident_to_stream,
            batching=BatchPolicy(
                max_messages=settings.ingest_batch_max,
                max_wait_s=settings.ingest_batch_wait_ms / 1000,
            ),
            metrics=self._metrics,
        )
        consumer.start()
        return consumer


def create_app(settings: HubSettings) -> FastAPI:
    """A hub application for `settings`; nothing connects until its lifespan starts."""
    database = open_database(settings.database_url)
    broadcaster = Broadcaster()
    metrics = HubMetrics(frigate_topic=settings.frigate.topic if settings.frigate.enabled else None)
    runtime = HubRuntime(settings, database, broadcaster, metrics)
    app = FastAPI(title="Vigie hub", version=__version__, lifespan=runtime.lifespan)
    # Every route, added before or after, needs a signed-in user unless security.py lists it public.
    install_auth(app, database, settings)
    app.include_router(_health_router(database, runtime))
    app.include_router(events_routes.build_router(database))
    app.include_router(snapshots_routes.build_router(database))
    app.include_router(stream_routes.build_router(database, broadcaster, metrics.websocket_clients))
    app.include_router(metrics_routes.build_router(metrics))
    app.include_router(incidents_routes.build_router(database, broadcaster))
    app.include_router(playbooks_routes.build_router(database))
    app.include_router(agents_routes.build_router(database))
    app.include_router(cameras_routes.build_router(database))
    app.include_router(audit_routes.build_router(database))
    app.include_router(access_routes.build_router(database))
    app.include_router(retention_routes.build_router(database))
    install_map(app, settings, database)
    install_admin(app, settings)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        """The live map is the hub's front page."""
        return RedirectResponse("/map/")

    return app


def grouping_policy(settings: HubSettings) -> GroupingPolicy:
    """The incident grouping rule the settings ask for."""
    return GroupingPolicy(
        window=timedelta(seconds=settings.incident_group_window_s),
        radius_m=settings.incident_group_radius_m,
    )


def ingest_time_bounds(settings: HubSettings) -> TimeBounds:
    """How far from its arrival an event's capture time may lie, per the settings."""
    return TimeBounds(
        max_ahead=timedelta(seconds=settings.ingest_max_ahead_s),
        max_age=timedelta(days=settings.retention_events_days),
    )


def retention_policy(settings: HubSettings) -> RetentionPolicy:
    """The maximum ages the settings give each kind of stored data."""
    return RetentionPolicy(
        events=timedelta(days=settings.retention_events_days),
        snapshots=timedelta(days=settings.retention_snapshots_days),
        dead_letters=timedelta(days=settings.retention_dead_letters_days),
    )


def _seed_playbooks(database: Database) -> None:
    with database.sessions.begin() as session:
        seed_playbooks(session, utc_now())


async def _cancelled(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


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
