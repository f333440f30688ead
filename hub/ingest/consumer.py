"""The MQTT consumer: paho's network thread receives, one worker thread stores and acknowledges."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session, sessionmaker

from hub.events.schemas import StoredEvent
from hub.ingest.pipeline import IngestResult, ingest_message
from vigie_contract import event_topic_filter
from vigie_contract.event import utc_now

logger = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
STORE_RETRY_FIRST_S = 0.5
STORE_RETRY_MAX_S = 30.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Delivery:
    """One received message, with the connection it came on (an ack is valid only there)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int
    received_at: datetime


class EventConsumer:
    """Subscribes to every agent's event topic with a persistent session and manual acks.

    A message is acknowledged only once its outcome (event or dead letter) is committed, so a
    crash or a database outage loses nothing: the broker re-delivers what was not acknowledged.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        sessions: sessionmaker[Session],
        max_event_bytes: int,
        on_stored: Callable[[StoredEvent], None],
    ) -> None:
        self._host = host
        self._port = port
        self._sessions = sessions
        self._max_event_bytes = max_event_bytes
        self._on_stored = on_stored
        self._deliveries: queue.Queue[Delivery | None] = queue.Queue()
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        # Guards the connection counter against an ack racing a reconnect.
        self._ack_lock = threading.Lock()
        self._connection = 0
        self._client = self._build_client(client_id)
        self._worker = threading.Thread(target=self._work, name="vigie-ingest", daemon=True)

    @property
    def connected(self) -> bool:
        """True while connected to the broker and subscribed to the event topics."""
        return self._subscribed.is_set()

    def wait_subscribed(self, timeout: float) -> bool:
        """Block until subscribed (True) or until timeout seconds have passed (False)."""
        return self._subscribed.wait(timeout)

    def start(self) -> None:
        """Start storing and connect in the background (paho retries until the broker answers)."""
        self._worker.start()
        self._client.connect_async(self._host, self._port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        """Finish the message in hand, then disconnect; unacknowledged ones stay with the broker."""
        self._stopping.set()
        self._deliveries.put(None)
        self._worker.join(STOP_TIMEOUT_S)
        self._client.disconnect()
        self._client.loop_stop()

    def _build_client(self, client_id: str) -> mqtt.Client:
        # MQTT 3.1.1: the embedded amqtt broker speaks nothing newer.
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_subscribe = self._handle_subscribe
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        return client

    def _handle_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            logger.warning(
                "MQTT broker %s:%s refused the connection: %s", self._host, self._port, reason_code
            )
            return
        with self._ack_lock:
            self._connection += 1
        logger.info(
            "connected to MQTT broker %s:%s (session present: %s)",
            self._host,
            self._port,
            flags.session_present,
        )
        client.subscribe(event_topic_filter(), qos=1)

    def _handle_connect_fail(self, _client, _userdata) -> None:
        logger.warning("cannot reach MQTT broker %s:%s, retrying", self._host, self._port)

    def _handle_subscribe(self, _client, _userdata, _mid, reason_codes, _properties) -> None:
        if any(code.is_failure for code in reason_codes):
            logger.error("MQTT broker refused the subscription to %s", event_topic_filter())
            return
        self._subscribed.set()

    def _handle_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self._subscribed.clear()
        with self._ack_lock:
            self._connection += 1
        if not self._stopping.is_set():
            logger.warning("lost the MQTT broker (%s), reconnecting", reason_code)

    def _handle_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        self._deliveries.put(
            Delivery(
                topic=message.topic,
                payload=message.payload,
                mid=message.mid,
                qos=message.qos,
                connection=self._connection,
                received_at=utc_now(),
            )
        )

    def _work(self) -> None:
        while (delivery := self._deliveries.get()) is not None:
            result = self._ingest_until_committed(delivery)
            if result is None:
                return
            self._ack(delivery)
            if result.event is not None:
                self._on_stored(result.event)

    def _ingest_until_committed(self, delivery: Delivery) -> IngestResult | None:
        delay = STORE_RETRY_FIRST_S
        while not self._stopping.is_set():
            try:
                return ingest_message(
                    self._sessions,
                    topic=delivery.topic,
                    payload=delivery.payload,
                    received_at=delivery.received_at,
                    max_event_bytes=self._max_event_bytes,
                )
            except Exception as exc:
                # Whatever failed, nothing was committed: keep the message unacked and retry.
                logger.warning(
                    "cannot store the message on %s (%s), retrying in %.1f s",
                    delivery.topic,
                    " ".join(str(exc).split())[:300],
                    delay,
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
        return None

    def _ack(self, delivery: Delivery) -> None:
        with self._ack_lock:
            # After a reconnect the broker re-sends the message under a new id; acking the old
            # id on the new connection could acknowledge some other message.
            if delivery.connection == self._connection:
                self._client.ack(delivery.mid, delivery.qos)
