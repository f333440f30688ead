"""The embedded MQTT broker (amqtt, MQTT 3.1.1) for zero-setup demos and small sites.

It accepts anonymous clients and enforces no topic ACL: the hub's identity check is then the
only guard, so bind it to loopback or a trusted network. Its sessions live in memory only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from amqtt.broker import Broker

logger = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict:
    """amqtt configuration: one TCP listener on host:port, anonymous access, no $SYS topics."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


@asynccontextmanager
async def embedded_broker(host: str, port: int) -> AsyncIterator[Broker]:
    """Run an amqtt broker on the current event loop for the duration of the block."""
    broker = Broker(broker_config(host, port))
    await broker.start()
    logger.info("embedded MQTT broker listening on %s:%s", host, port)
    try:
        yield broker
    finally:
        await broker.shutdown()
