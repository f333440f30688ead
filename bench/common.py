"""What several benchmarks share: the machine's description and a timed MQTT publisher."""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from websockets.sync.client import connect

from tests.hubserver import make_event, topic_of

# Stands for the publish time in a pre-serialised payload; replaced at publish.
TIME_SENTINEL = b"2000-01-01T00:00:00Z"
PUBLISH_TIMEOUT_S = 60.0


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    """The fields every summary line carries about the machine, load average included."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)}


class Payloads:
    """Distinct pre-serialised events whose captured_at is filled in at publish time."""

    def __init__(self, count: int) -> None:
        sentinel = datetime(2000, 1, 1, tzinfo=timezone.utc)
        events = [
            make_event(captured_at=sentinel, lat=48.85 + (i % 1000) * 1e-4) for i in range(count)
        ]
        self.topic = topic_of(events[0])
        self.templates = [event.to_json() for event in events]
        if any(TIME_SENTINEL not in payload for payload in self.templates):
            raise RuntimeError("the time sentinel is not in the serialised event")

    def stamped(self, index: int) -> bytes:
        """Payload `index` with captured_at = now."""
        now = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
        return self.templates[index].replace(TIME_SENTINEL, now.encode())


@contextmanager
def paho_client(mqtt_url: str, client_id: str = "") -> Iterator[mqtt.Client]:
    """A connected paho client (MQTT 3.1.1) with its network loop running."""
    parts = urlsplit(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish(
    client: mqtt.Client, topic: str, payloads: Payloads, start: int, count: int, rate: float | None
) -> float:
    """Publish payloads[start:start+count] at `rate`/s (None: flat out); the first publish time."""
    first = time.time()
    began = time.monotonic()
    infos = []
    for i in range(count):
        if rate is not None:
            pause = began + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        infos.append(client.publish(topic, payloads.stamped(start + i), qos=1))
    for info in infos:
        info.wait_for_publish(PUBLISH_TIMEOUT_S)
    return first


class StreamClient:
    """A /ws/events client in a thread, recording each event's id, latency and receipt time.

    It asks for batch=true, as the map and the admin panel do.
    """

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        url = f"ws{base_url.removeprefix('http')}/ws/events?batch=true"
        self._websocket = connect(url, additional_headers=headers, max_size=None)
        self.event_ids: list[str] = []
        self.latencies_s: list[float] = []
        self.last_receipt = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for text in self._websocket:
                received = time.time()
                frame = json.loads(text)
                # With batch=true a frame is one message or an array of them, in order.
                for message in frame if isinstance(frame, list) else [frame]:
                    if message["type"] != "event":
                        continue
                    captured = datetime.fromisoformat(message["data"]["captured_at"])
                    self.event_ids.append(message["data"]["event_id"])
                    self.latencies_s.append(received - captured.timestamp())
                self.last_receipt = received
        except Exception:  # the connection closing ends the reading
            return

    def wait_for(self, count: int, timeout: float) -> None:
        """Block until `count` events arrived in total, or `timeout` seconds passed."""
        deadline = time.monotonic() + timeout
        while len(self.latencies_s) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        """Close the connection."""
        self._websocket.close()
        self._thread.join(5)
