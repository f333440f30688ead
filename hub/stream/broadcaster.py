"""Fan-out of stored events to connected clients; every method runs on the event loop.

Published messages go once into one shared log; each client reads it from its own position. A
publish costs one append and one wake-up of the waiting clients, whatever their number, and a
client that was busy sending finds everything published meanwhile in one read.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass

from hub.events.schemas import StoredEvent

# Messages the log keeps: a client further behind than this is dropped (it reconnects with
# after_id and replays from the database).
SUBSCRIBER_BACKLOG = 1000


@dataclass(frozen=True)
class StreamMessage:
    """One message, serialised once for every client, with its stream position.

    event_id is the stored event's id; None for messages outside the event sequence (incident
    changes), which a reconnecting client cannot replay by id.
    """

    event_id: int | None
    text: str


def encode_event(event: StoredEvent) -> StreamMessage:
    """The WebSocket message {"type": "event", "data": StoredEvent} for one event."""
    return StreamMessage(event.id, '{"type":"event","data":' + event.to_json().decode() + "}")


def encode_batch(messages: list[StreamMessage]) -> str:
    """One frame holding several messages: a JSON array of them, in order."""
    return "[" + ",".join(message.text for message in messages) + "]"


class FellBehind(Exception):
    """The client is further behind than the log keeps: what it missed is gone from memory."""


@dataclass(eq=False)
class Subscription:
    """One client's position in the log: the sequence number of the next message to read."""

    position: int


class Broadcaster:
    """Keeps the last `backlog` published messages; subscribers read them in order."""

    def __init__(self, backlog: int = SUBSCRIBER_BACKLOG) -> None:
        self._log: deque[StreamMessage] = deque(maxlen=backlog)
        # Sequence number of the next message published; the log holds the ones just below.
        self._end = 0
        self._published = asyncio.Event()
        # The last batch frame built, by (first position, count): caught-up clients share it.
        self._batch_frame: tuple[int, int, str] | None = None

    def subscribe(self) -> Subscription:
        """Start receiving every message published from now on."""
        return Subscription(position=self._end)

    def publish_all(self, messages: list[StreamMessage]) -> None:
        """Publish messages in order, waking the waiting subscribers once."""
        if not messages:
            return
        self._log.extend(messages)
        self._end += len(messages)
        # Waiters hold the event being set; the next ones wait on a fresh one.
        published, self._published = self._published, asyncio.Event()
        published.set()

    def publish(self, message: StreamMessage) -> None:
        """Publish one message."""
        self.publish_all([message])

    async def read(self, subscription: Subscription, limit: int) -> list[StreamMessage]:
        """Wait for messages after the subscription's position; return up to `limit` of them.

        Raises FellBehind when some of the messages it has not read left the log.
        """
        while subscription.position == self._end:
            await self._published.wait()
        start = self._end - len(self._log)
        if subscription.position < start:
            raise FellBehind
        first = subscription.position - start
        messages = list(itertools.islice(self._log, first, first + limit))
        subscription.position += len(messages)
        return messages

    def batch_frame(self, position: int, messages: list[StreamMessage]) -> str:
        """encode_batch(messages) for the messages read from `position`, built once for all."""
        key = (position, len(messages))
        if self._batch_frame is None or self._batch_frame[:2] != key:
            self._batch_frame = (*key, encode_batch(messages))
        return self._batch_frame[2]
