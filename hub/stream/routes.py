"""The /ws/events WebSocket: optional replay from the database, then live events, in order.

Authentication happens before the route (hub.users.security.AuthMiddleware: session cookie from the
same origin, or a bearer token); the route checks for the caller itself all the same, so it stays
closed even in an application built without the middleware.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from prometheus_client import Gauge
from sqlalchemy.exc import SQLAlchemyError

from hub.db.engine import Database
from hub.events.service import list_events
from hub.stream.broadcaster import Broadcaster, StreamMessage, Subscription, encode_event
from hub.users.roles import Role
from hub.users.security import CLOSE_POLICY_VIOLATION, connection_principal

logger = logging.getLogger(__name__)

REPLAY_PAGE_SIZE = 500
# RFC 6455 close codes: 1011 server error, 1013 try again later.
CLOSE_SERVER_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013

AfterId = Annotated[int | None, Query(ge=0, description="first replay the ids above it")]


def build_router(
    database: Database, broadcaster: Broadcaster, clients: Gauge | None = None
) -> APIRouter:
    """The /ws/events route, replaying from `database` and following `broadcaster`.

    `clients`, when given, tracks how many clients are connected.
    """
    router = APIRouter()

    @router.websocket("/ws/events")
    async def events_socket(
        websocket: WebSocket,
        after_id: AfterId = None,
    ) -> None:
        """Send every stored event as {"type": "event", "data": StoredEvent}; viewers and above."""
        principal = connection_principal(websocket)
        if principal is None or not principal.role.includes(Role.VIEWER):
            await websocket.accept()
            await websocket.close(CLOSE_POLICY_VIOLATION, "authentication required")
            return
        # Subscribed before the handshake completes and before the replay reads the database:
        # whatever is stored from then on reaches this client.
        subscription = broadcaster.subscribe()
        if clients is not None:
            clients.inc()
        try:
            await websocket.accept()
            await _serve(websocket, database, subscription, after_id)
        finally:
            broadcaster.unsubscribe(subscription)
            if clients is not None:
                clients.dec()

    return router


async def _serve(
    websocket: WebSocket, database: Database, subscription: Subscription, after_id: int | None
) -> None:
    sender = asyncio.create_task(_send_events(websocket, database, subscription, after_id))
    listener = asyncio.create_task(_until_client_leaves(websocket))
    done, pending = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if isinstance(task.exception(), WebSocketDisconnect):
            continue
        task.result()


async def _until_client_leaves(websocket: WebSocket) -> None:
    # Clients have nothing to say; reading is how a closed connection is noticed while idle.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _send_events(
    websocket: WebSocket, database: Database, subscription: Subscription, after_id: int | None
) -> None:
    last_sent = 0
    if after_id is not None:
        try:
            last_sent = await _replay(websocket, database, after_id)
        except SQLAlchemyError as exc:
            logger.warning("cannot replay events after %s: %s", after_id, exc)
            await websocket.close(CLOSE_SERVER_ERROR, "database unavailable, retry later")
            return
    while True:
        if subscription.overflowed and subscription.queue.empty():
            await websocket.close(CLOSE_TRY_AGAIN_LATER, "too far behind: reconnect with after_id")
            return
        message = await subscription.queue.get()
        # Events stored while the replay ran arrive both ways; send each id once, in order.
        # Messages without an id (incident changes) are not in the replayable sequence.
        if message.event_id is None:
            await websocket.send_text(message.text)
            continue
        if message.event_id <= last_sent:
            continue
        await websocket.send_text(message.text)
        last_sent = message.event_id


async def _replay(websocket: WebSocket, database: Database, after_id: int) -> int:
    last_sent = after_id
    while True:
        page = await asyncio.to_thread(_replay_page, database, last_sent)
        for message in page:
            await websocket.send_text(message.text)
            last_sent = message.event_id
        if len(page) < REPLAY_PAGE_SIZE:
            return last_sent


def _replay_page(database: Database, after_id: int) -> list[StreamMessage]:
    with database.sessions() as session:
        return [encode_event(event) for event in list_events(session, REPLAY_PAGE_SIZE, after_id)]
