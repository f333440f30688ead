"""Fan-out of stored events to connected clients; every method runs on the event loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hub.events.schemas import StoredEvent

# Messages a client may lag behind live before it is dropped (it reconnects with after_id).
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


@dataclass(eq=False)
class Subscription:
    """One client's queue of live messages; `overflowed` once it fell too far behind."""

    queue: asyncio.Queue[StreamMessage]
    overflowed: bool = False


class Broadcaster:
    """Delivers each published message to every current subscription."""

    def __init__(self, backlog: int = SUBSCRIBER_BACKLOG) -> None:
        self._backlog = backlog
        self._subscriptions: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        """Start receiving every message published from now on."""
        subscription = Subscription(queue=asyncio.Queue(self._backlog))
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to `subscription`."""
        self._subscriptions.discard(subscription)

    def publish_all(self, messages: list[StreamMessage]) -> None:
        """Publish each message in turn."""
        for message in messages:
            self.publish(message)

    def publish(self, message: StreamMessage) -> None:
        """Queue `message` for every subscriber, dropping those whose backlog is full."""
        for subscription in list(self._subscriptions):
            try:
                subscription.queue.put_nowait(message)
            except asyncio.QueueFull:
                subscription.overflowed = True
                self._subscriptions.discard(subscription)
