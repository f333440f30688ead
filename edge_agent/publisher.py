"""Publishes the outbox over MQTT (QoS 1), in order, with a bounded in-flight window."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent import __version__
from edge_agent.config import MqttConfig
from edge_agent.outbox import Outbox
from vigie_contract import AgentStatusV1, status_topic
from vigie_contract.event import utc_now

logger = logging.getLogger(__name__)

RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
MQTT_PROTOCOLS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}
# How long a clean stop waits for the broker to take the retained "offline" status.
OFFLINE_STATUS_WAIT_S = 2.0


@dataclass(frozen=True)
class _Connected:
    pass


@dataclass(frozen=True)
class _Disconnected:
    pass


@dataclass(frozen=True)
class _Acked:
    mid: int
    reason: ReasonCode


@dataclass(frozen=True)
class _Queued:
    pass


@dataclass(frozen=True)
class _Close:
    pass


class Publisher:
    """Sends outbox rows oldest first; a row is deleted only when its PUBACK arrives.

    paho's callbacks only post notes to a queue: one drain thread owns the in-flight map, the
    outbox reads and client.publish, so PUBACKs can never overtake the bookkeeping of their own
    publish (paho calls on_publish holding a lock that publish() also takes).
    After a reconnect paho re-sends its own unacknowledged messages, in order, but only after
    on_connect has run; new rows wait for the first PUBACK on the new connection, which proves
    that re-send is done, so they cannot overtake it. After a restart every remaining row is
    sent again from the outbox.

    With an `agent_id`, the agent's retained status says `online` at each connect and the broker
    publishes the last will, `offline`, if the agent dies; a clean close says `offline` itself.
    """

    def __init__(
        self,
        config: MqttConfig,
        outbox: Outbox,
        max_inflight: int = 20,
        agent_id: str | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.max_inflight = max_inflight
        self.agent_id = agent_id
        self._notes: queue.Queue[Any] = queue.Queue()
        self._drained = threading.Event()
        # Makes "put a row" and "clear drained" one step, so a drain check cannot slip between.
        self._put_lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id; drain thread only
        self._last_sent_id = 0
        self._connected = False
        self._awaiting_resend = False
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._drain, name="vigie-publisher", daemon=True)

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id or "",
            protocol=MQTT_PROTOCOLS[self.config.protocol],
            transport=self.config.transport,
        )
        if self.config.transport == "websockets":
            client.ws_set_options(path=self.config.websocket_path)
        if self.config.username is not None:
            password = self.config.password.get_secret_value() if self.config.password else None
            client.username_pw_set(self.config.username, password)
        if self.config.tls:
            client.tls_set(
                ca_certs=_path_or_none(self.config.ca_file),
                certfile=_path_or_none(self.config.cert_file),
                keyfile=_path_or_none(self.config.key_file),
            )
        if self.agent_id is not None:
            offline = AgentStatusV1(agent_id=self.agent_id, state="offline")
            client.will_set(status_topic(self.agent_id), offline.to_json(), qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        client.max_inflight_messages_set(self.max_inflight)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def start(self) -> None:
        """Start the drain thread and connect in the background (retrying with back-off)."""
        self._thread.start()
        self._client.connect_async(self.config.host, self.config.port, self.config.keepalive)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """Commit a message to the outbox, then have it sent; return its outbox id."""
        with self._put_lock:
            message_id = self.outbox.put(topic, payload, retain)
            self._drained.clear()
        self._notes.put(_Queued())
        return message_id

    def publish_now(self, topic: str, payload: bytes) -> bool:
        """Send a message at QoS 0, bypassing the outbox, only if connected; whether it went."""
        if not self._client.is_connected():
            return False
        return self._client.publish(topic, payload, qos=0).rc == mqtt.MQTT_ERR_SUCCESS

    def wait_drained(self, stop: threading.Event | None = None, poll_s: float = 0.2) -> bool:
        """Block until the outbox is empty (True) or `stop` is set first (False)."""
        while not self._drained.wait(poll_s if stop is not None else None):
            if stop is not None and stop.is_set():
                return False
        return True

    def close(self) -> None:
        """Disconnect and stop; unacknowledged messages stay in the outbox for the next run."""
        if self.agent_id is not None and self._client.is_connected():
            # A clean disconnect discards the last will: say "offline" ourselves.
            offline = agent_status(self.agent_id, "offline")
            topic = status_topic(self.agent_id)
            info = self._client.publish(topic, offline, qos=1, retain=True)
            info.wait_for_publish(OFFLINE_STATUS_WAIT_S)
        self._client.disconnect()
        self._client.loop_stop()
        if self._thread.is_alive():
            self._notes.put(_Close())
            self._thread.join()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # paho callbacks (network thread): log, then hand over to the drain thread.

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.error(
                "MQTT broker %s:%d refused the connection: %s; retrying",
                self.config.host,
                self.config.port,
                reason_code,
            )
            return
        logger.info("connected to MQTT broker %s:%d", self.config.host, self.config.port)
        if self.agent_id is not None:
            online = agent_status(self.agent_id, "online")
            client.publish(status_topic(self.agent_id), online, qos=1, retain=True)
        self._notes.put(_Connected())

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        logger.warning(
            "cannot reach MQTT broker %s:%d; retrying with back-off (up to %d s)",
            self.config.host,
            self.config.port,
            RECONNECT_MAX_DELAY_S,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.warning(
                "lost MQTT broker %s:%d: %s", self.config.host, self.config.port, reason_code
            )
        self._notes.put(_Disconnected())

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._notes.put(_Acked(mid=mid, reason=reason_code))

    # The drain thread.

    def _drain(self) -> None:
        self._check_drained()
        while True:
            note = self._notes.get()
            if isinstance(note, _Close):
                return
            if isinstance(note, _Connected):
                self._connected = True
                self._awaiting_resend = bool(self._inflight)
            elif isinstance(note, _Disconnected):
                self._connected = False
            elif isinstance(note, _Acked):
                self._acknowledge(note)
            self._send_more()
            self._check_drained()

    def _acknowledge(self, note: _Acked) -> None:
        message_id = self._inflight.pop(note.mid, None)
        if message_id is None:
            return  # a status message, not from the outbox: it proves nothing about the re-send
        self._awaiting_resend = False
        if note.reason.is_failure:
            # Re-sending a refused message would block every later one forever.
            logger.error("broker refused outbox message %d (%s); dropped", message_id, note.reason)
        self.outbox.delete(message_id)

    def _send_more(self) -> None:
        """Hand the next rows to paho while connected and the in-flight window has room."""
        if self._awaiting_resend:
            return
        while self._connected and len(self._inflight) < self.max_inflight:
            rows = self.outbox.pending(self._last_sent_id, self.max_inflight - len(self._inflight))
            if not rows:
                return
            for row in rows:
                # Even if the connection drops meanwhile (rc NO_CONN), paho keeps the message
                # and sends it first after the reconnect.
                info = self._client.publish(row.topic, row.payload, qos=1, retain=row.retain)
                self._inflight[info.mid] = row.id
                self._last_sent_id = row.id

    def _check_drained(self) -> None:
        with self._put_lock:
            if not self._inflight and self.outbox.count() == 0:
                self._drained.set()


def _path_or_none(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def agent_status(agent_id: str, state: Literal["online", "offline"]) -> bytes:
    """The agent's retained status message, stamped now."""
    status = AgentStatusV1(agent_id=agent_id, state=state, at=utc_now(), version=__version__)
    return status.to_json()
