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
from hub.stream.broadcaster import (
    Broadcaster,
    FellBehind,
    StreamMessage,
    Subscription,
    encode_batch,
    encode_event,
)
from hub.users.roles import Role
from hub.users.security import CLOSE_POLICY_VIOLATION, connection_principal

logger = logging.getLogger(__name__)

REPLAY_PAGE_SIZE = 500
# At most this many messages in one frame of a batching client.
FRAME_MESSAGES_MAX = 200
# RFC 6455 close codes: 1011 server error, 1013 try again later.
CLOSE_SERVER_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013

AfterId = Annotated[int | None, Query(ge=0, description="first replay the ids above it")]
Batch = Annotated[
    bool,
    Query(
        description="frames may hold a JSON array of messages, in order, when several are "
        "waiting: what a busy hub sends many clients at the cost of one"
    ),
]


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
        batch: Batch = False,
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
            sender = _Sender(websocket, broadcaster, subscription, batch)
            await _serve(websocket, database, sender, after_id)
        finally:
            if clients is not None:
                clients.dec()

    return router


async def _serve(
    websocket: WebSocket, database: Database, sender: _Sender, after_id: int | None
) -> None:
    sending = asyncio.create_task(sender.run(database, after_id))
    listener = asyncio.create_task(_until_client_leaves(websocket))
    done, pending = await asyncio.wait({sending, listener}, return_when=asyncio.FIRST_COMPLETED)
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


class _Sender:
    """Sends one client the replay it asked for, then every message of the live log once."""

    def __init__(
        self,
        websocket: WebSocket,
        broadcaster: Broadcaster,
        subscription: Subscription,
        batch: bool,
    ) -> None:
        self._websocket = websocket
        self._broadcaster = broadcaster
        self._subscription = subscription
        self._batch = batch
        # The highest event id the replay sent: the live log repeats what was stored meanwhile.
        self._replayed_to = 0

    async def run(self, database: Database, after_id: int | None) -> None:
        """Replay after after_id (if given), then follow the live log until the client leaves."""
        if after_id is not None:
            try:
                await self._replay(database, after_id)
            except SQLAlchemyError as exc:
                logger.warning("cannot replay events after %s: %s", after_id, exc)
                await self._websocket.close(CLOSE_SERVER_ERROR, "database unavailable, retry later")
                return
        while True:
            position = self._subscription.position
            limit = FRAME_MESSAGES_MAX if self._batch else 1
            try:
                messages = await self._broadcaster.read(self._subscription, limit)
            except FellBehind:
                await self._websocket.close(
                    CLOSE_TRY_AGAIN_LATER, "too far behind: reconnect with after_id"
                )
                return
            # Each position of the log is read once, so the live log needs no filter of its
            # own: only events the replay already sent are left out. (Filtering on the highest
            # id sent would drop an event published after a higher one.)
            fresh = [
                message
                for message in messages
                if message.event_id is None or message.event_id > self._replayed_to
            ]
            if len(fresh) == len(messages):
                await self._send(fresh, position)
            elif fresh:
                await self._send(fresh, None)

    async def _send(self, messages: list[StreamMessage], position: int | None) -> None:
        if len(messages) == 1:
            await self._websocket.send_text(messages[0].text)
        elif position is not None:
            # Exactly what was read from the log: the frame other clients sent is reused.
            await self._websocket.send_text(self._broadcaster.batch_frame(position, messages))
        else:
            await self._websocket.send_text(encode_batch(messages))

    async def _replay(self, database: Database, after_id: int) -> None:
        self._replayed_to = after_id
        while True:
            page = await asyncio.to_thread(_replay_page, database, self._replayed_to)
            step = FRAME_MESSAGES_MAX if self._batch else 1
            for start in range(0, len(page), step):
                await self._send(page[start : start + step], None)
            if page:
                self._replayed_to = page[-1].event_id or self._replayed_to
            if len(page) < REPLAY_PAGE_SIZE:
                return


def _replay_page(database: Database, after_id: int) -> list[StreamMessage]:
    with database.sessions() as session:
        return [encode_event(event) for event in list_events(session, REPLAY_PAGE_SIZE, after_id)]
