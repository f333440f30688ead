"""The MQTT consumer: paho's network thread receives, one worker thread stores and acknowledges.

Messages are stored in micro-batches: the worker takes what has arrived (waiting a few
milliseconds for more, up to a maximum), commits it in one transaction, then acknowledges every
message of the batch in the order received, as MQTT requires of QoS 1 acknowledgements.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.orm import Session, sessionmaker

from hub.events.schemas import StoredEvent
from hub.incidents.schemas import IncidentOut
from hub.ingest.pipeline import IngestOptions, IngestResult, ReceivedMessage, ingest_batch
from hub.metrics.registry import HubMetrics
from vigie_contract import agent_topic_filters
from vigie_contract.event import utc_now

logger = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
STORE_RETRY_FIRST_S = 0.5
STORE_RETRY_MAX_S = 30.0
STOP_TIMEOUT_S = 10.0
# MQTT v5 caps Receive Maximum at 65535; the broker sends no more unacknowledged messages.
MAX_RECEIVE_MAXIMUM = 65535


@dataclass(frozen=True)
class BrokerSession:
    """Where and how the consumer connects and subscribes."""

    host: str
    port: int
    client_id: str
    # MQTT v5 (shared subscriptions, session expiry); False for MQTT 3.1.1 brokers (amqtt).
    mqtt_v5: bool = True
    shared_group: str | None = None
    session_expiry_s: int = 7 * 24 * 3600
    # Topics outside the v1 grammar to ingest too (a Frigate NVR's events).
    extra_topics: tuple[str, ...] = ()
    # The hub's own account on a broker that refuses anonymous clients.
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def topic_filters(self) -> list[str]:
        """Every v1 kind's filter, under $share/<group>/ when replicas share the ingest."""
        filters = [*agent_topic_filters().values(), *self.extra_topics]
        if self.shared_group:
            return [f"$share/{self.shared_group}/{topic}" for topic in filters]
        return filters


@dataclass(frozen=True)
class BatchPolicy:
    """How many messages one transaction takes, and how long to wait to fill it."""

    max_messages: int = 500
    max_wait_s: float = 0.002


@dataclass(frozen=True)
class Delivery:
    """One received message, with the connection it came on (an ack is valid only there)."""

    message: ReceivedMessage
    mid: int
    qos: int
    connection: int


class EventConsumer:
    """Subscribes to every agent topic with a persistent session and manual acks.

    A message is acknowledged only once its outcome (event, snapshot, health record or dead
    letter) is committed, so a crash or a database outage loses nothing: the broker re-delivers
    what was not acknowledged, and event ids make re-deliveries harmless.
    """

    def __init__(
        self,
        *,
        broker: BrokerSession,
        sessions: sessionmaker[Session],
        options: IngestOptions,
        on_stored: Callable[[list[StoredEvent]], None],
        on_incident: Callable[[IncidentOut], None] | None = None,
        batching: BatchPolicy | None = None,
        metrics: HubMetrics | None = None,
    ) -> None:
        self._broker = broker
        self._sessions = sessions
        self._options = options
        self._on_stored = on_stored
        self._on_incident = on_incident
        self._batching = batching or BatchPolicy()
        self._metrics = metrics
        # SimpleQueue: paho's thread puts every message, and the C queue costs it the least.
        self._deliveries: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        # Guards the connection counter against an ack racing a reconnect.
        self._ack_lock = threading.Lock()
        self._connection = 0
        # Outcomes since start ("event", "stored", "duplicate", "rejected"); the worker's alone.
        self._outcomes: Counter[str] = Counter()
        self._client = self._build_client()
        self._worker = threading.Thread(target=self._work, name="vigie-ingest", daemon=True)

    @property
    def connected(self) -> bool:
        """True while connected to the broker and subscribed to the agent topics."""
        return self._subscribed.is_set()

    def wait_subscribed(self, timeout: float) -> bool:
        """Block until subscribed (True) or until timeout seconds have passed (False)."""
        return self._subscribed.wait(timeout)

    def start(self) -> None:
        """Start storing and connect in the background (paho retries until the broker answers)."""
        self._worker.start()
        if self._broker.mqtt_v5:
            self._client.connect_async(
                self._broker.host,
                self._broker.port,
                keepalive=KEEPALIVE_S,
                clean_start=False,
                properties=self._connect_properties(),
            )
        else:
            self._client.connect_async(self._broker.host, self._broker.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        """Finish the batch in hand, then disconnect; unacknowledged ones stay with the broker."""
        self._stopping.set()
        self._deliveries.put(None)
        self._worker.join(STOP_TIMEOUT_S)
        self._client.disconnect()
        self._client.loop_stop()
        logger.info(
            "ingest stopped: %d event(s) and %d other message(s) stored, %d duplicate(s), "
            "%d rejected since start",
            self._outcomes["event"],
            self._outcomes["stored"],
            self._outcomes["duplicate"],
            self._outcomes["rejected"],
        )

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)
        # The broker keeps the session (subscriptions, unacknowledged messages) this long.
        properties.SessionExpiryInterval = self._broker.session_expiry_s
        # Enough unacknowledged messages in flight to fill two batches while one commits.
        properties.ReceiveMaximum = min(2 * self._batching.max_messages, MAX_RECEIVE_MAXIMUM)
        return properties

    def _build_client(self) -> mqtt.Client:
        if self._broker.mqtt_v5:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self._broker.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        else:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self._broker.client_id,
                clean_session=False,
                protocol=mqtt.MQTTv311,
                manual_ack=True,
            )
        if self._broker.username is not None:
            client.username_pw_set(self._broker.username, self._broker.password)
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
                "MQTT broker %s:%s refused the connection: %s",
                self._broker.host,
                self._broker.port,
                reason_code,
            )
            return
        with self._ack_lock:
            self._connection += 1
        logger.info(
            "connected to MQTT broker %s:%s (session present: %s)",
            self._broker.host,
            self._broker.port,
            flags.session_present,
        )
        client.subscribe([(topic, 1) for topic in self._broker.topic_filters()])

    def _handle_connect_fail(self, _client, _userdata) -> None:
        logger.warning(
            "cannot reach MQTT broker %s:%s, retrying", self._broker.host, self._broker.port
        )

    def _handle_subscribe(self, _client, _userdata, _mid, reason_codes, _properties) -> None:
        refused = [
            topic
            for topic, code in zip(self._broker.topic_filters(), reason_codes, strict=False)
            if code.is_failure
        ]
        if refused:
            logger.error("MQTT broker refused the subscription to %s", ", ".join(refused))
            return
        self._subscribed.set()

    def _handle_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self._subscribed.clear()
        with self._ack_lock:
            self._connection += 1
        if not self._stopping.is_set():
            logger.warning("lost the MQTT broker (%s), reconnecting", reason_code)

    def _handle_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        received = ReceivedMessage(
            topic=message.topic, payload=message.payload, received_at=utc_now()
        )
        self._deliveries.put(
            Delivery(
                message=received, mid=message.mid, qos=message.qos, connection=self._connection
            )
        )

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            results = self._ingest_until_committed(batch)
            if results is None:
                return
            self._ack(batch)
            self._report(batch, results)

    def _next_batch(self) -> list[Delivery] | None:
        first = self._deliveries.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self._batching.max_wait_s
        while len(batch) < self._batching.max_messages:
            try:
                # What has already arrived is taken at once; then wait until the deadline.
                delivery = self._deliveries.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if delivery is None:
                # Stop after this batch: leave the sentinel for the next call.
                self._deliveries.put(None)
                break
            batch.append(delivery)
        return batch

    def _ingest_until_committed(self, batch: list[Delivery]) -> list[IngestResult] | None:
        delay = STORE_RETRY_FIRST_S
        messages = [delivery.message for delivery in batch]
        while not self._stopping.is_set():
            try:
                if self._metrics is None:
                    return ingest_batch(self._sessions, messages, self._options)
                with self._metrics.db_write_seconds.time():
                    return ingest_batch(self._sessions, messages, self._options)
            except Exception as exc:
                # Whatever failed, nothing was committed: keep the messages unacked and retry.
                logger.warning(
                    "cannot store %d message(s) from %s (%s), retrying in %.1f s",
                    len(messages),
                    messages[0].topic,
                    " ".join(str(exc).split())[:300],
                    delay,
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
        return None

    def _ack(self, batch: list[Delivery]) -> None:
        with self._ack_lock:
            for delivery in batch:
                # After a reconnect the broker re-sends the message under a new id; acking the
                # old id on the new connection could acknowledge some other message.
                if delivery.connection == self._connection:
                    self._client.ack(delivery.mid, delivery.qos)

    def _report(self, batch: list[Delivery], results: list[IngestResult]) -> None:
        if self._metrics is not None:
            self._metrics.count_ingested(
                (delivery.message.topic, result.outcome, result.reason)
                for delivery, result in zip(batch, results, strict=True)
            )
        stored = [result.event for result in results if result.event is not None]
        if stored:
            self._on_stored(stored)
        for result in results:
            self._outcomes["event" if result.event is not None else result.outcome] += 1
            if self._on_incident is not None:
                for incident in result.incidents:
                    self._on_incident(incident)
