"""Benchmark of the hub's ingest: MQTT -> database -> WebSocket, at offered rates and flat out.

Starts its own Mosquitto and PostGIS (tests/services.py), runs `vigie-hub serve` per backend,
publishes real v1 events with paho (QoS 1) and receives them on /ws/events. Each event's
captured_at is its publish time, so latency = WebSocket receipt - captured_at. The raw broker
pub->sub rate of the same payloads is measured in the same run for comparison.

    .venv/bin/python bench/hub_ingest.py [--backends postgis,sqlite] [--rates 100,500,2000]

The last line is one parseable summary: BENCH_SUMMARY {json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hubserver import api_token, bearer, hub_process, make_event, topic_of  # noqa: E402
from tests.services import mosquitto_broker, postgis_cluster  # noqa: E402

# Stands for the publish time in a pre-serialised payload; replaced at publish.
TIME_SENTINEL = b"2000-01-01T00:00:00Z"
RECEIVE_TIMEOUT_S = 60.0
RAW_TOPIC = "bench/raw"


@dataclass
class StepResult:
    """One measured step: offered rate (None = flat out), sustained rate and latencies."""

    backend: str
    offered_eps: float | None
    events: int
    received: int
    sustained_eps: float
    p50_ms: float
    p99_ms: float


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


class StreamReceiver:
    """Receives /ws/events in a thread, recording each event's latency."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self._websocket = connect(url, additional_headers=headers, max_size=None)
        self.latencies_s: list[float] = []
        self.last_receipt = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for text in self._websocket:
                received = time.time()
                message = json.loads(text)
                if message["type"] != "event":
                    continue
                captured = datetime.fromisoformat(message["data"]["captured_at"])
                self.latencies_s.append(received - captured.timestamp())
                self.last_receipt = received
        except Exception:  # the connection closing ends the reading
            return

    def wait_for(self, count: int) -> None:
        """Block until `count` events arrived in total, or RECEIVE_TIMEOUT_S passed."""
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        while len(self.latencies_s) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        """Close the connection."""
        self._websocket.close()
        self._thread.join(5)


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
        info.wait_for_publish(RECEIVE_TIMEOUT_S)
    return first


def measure_step(
    client: mqtt.Client,
    receiver: StreamReceiver,
    payloads: Payloads,
    backend: str,
    start: int,
    count: int,
    rate: float | None,
) -> StepResult:
    """Publish `count` events at `rate`, wait for them on the stream, and summarise."""
    already = len(receiver.latencies_s)
    first = publish(client, payloads.topic, payloads, start, count, rate)
    receiver.wait_for(already + count)
    latencies = receiver.latencies_s[already:]
    elapsed = max(receiver.last_receipt - first, 1e-9)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return StepResult(
        backend=backend,
        offered_eps=rate,
        events=count,
        received=len(latencies),
        sustained_eps=round(len(latencies) / elapsed, 1),
        p50_ms=round(quantiles[49] * 1000, 2),
        p99_ms=round(quantiles[98] * 1000, 2),
    )


def raw_broker_rate(mqtt_url: str, payloads: Payloads, count: int) -> float:
    """Messages per second from a paho publisher to a paho subscriber (QoS 1), same payloads."""
    received = threading.Semaphore(0)
    last = [0.0]

    def on_message(_client, _userdata, _message) -> None:
        last[0] = time.time()
        received.release()

    with paho_client(mqtt_url) as subscriber, paho_client(mqtt_url) as publisher:
        subscribed = threading.Event()
        subscriber.on_message = on_message
        subscriber.on_subscribe = lambda *_: subscribed.set()
        subscriber.subscribe(RAW_TOPIC, qos=1)
        subscribed.wait(10)
        first = publish(publisher, RAW_TOPIC, payloads, 0, count, None)
        for _ in range(count):
            if not received.acquire(timeout=RECEIVE_TIMEOUT_S):
                break
    return round(count / max(last[0] - first, 1e-9), 1)


def run_backend(
    backend: str, database_url: str, mqtt_url: str, args: argparse.Namespace, work: Path
) -> list[StepResult]:
    """Every step against one hub process on `database_url`."""
    steps = [(rate, max(1, int(rate * args.step_seconds))) for rate in args.rates]
    total = sum(count for _, count in steps) + args.burst
    payloads = Payloads(total)
    env = {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_MQTT_URL": mqtt_url,
        "VIGIE_MQTT_CLIENT_ID": f"bench-{backend}-{uuid.uuid4().hex[:6]}",
        "VIGIE_MQTT_SHARED_GROUP": f"bench-{uuid.uuid4().hex[:6]}",
    }
    results = []
    with hub_process(env, work / f"hub-{backend}.log") as (_, base_url):
        receiver = StreamReceiver(f"ws{base_url[4:]}/ws/events", bearer(api_token(database_url)))
        try:
            with paho_client(mqtt_url) as client:
                start = 0
                for rate, count in [*steps, (None, args.burst)]:
                    result = measure_step(client, receiver, payloads, backend, start, count, rate)
                    print(format_step(result), flush=True)
                    results.append(result)
                    start += count
        finally:
            receiver.close()
    return results


def format_step(result: StepResult) -> str:
    """One human-readable line per step."""
    offered = "flat out" if result.offered_eps is None else f"{result.offered_eps:g}/s offered"
    return (
        f"{result.backend:8} {offered:>16}: {result.received}/{result.events} events, "
        f"{result.sustained_eps:9.1f} events/s MQTT->DB->WS, "
        f"p50 {result.p50_ms:7.2f} ms, p99 {result.p99_ms:7.2f} ms"
    )


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo when available)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backends", default="postgis,sqlite", help="comma-separated: postgis, sqlite"
    )
    parser.add_argument("--rates", default="100,500,2000", help="offered events/s, comma-separated")
    parser.add_argument(
        "--step-seconds", type=float, default=3.0, help="duration of each rate step"
    )
    parser.add_argument("--burst", type=int, default=5000, help="events published flat out")
    parser.add_argument("--raw", type=int, default=20000, help="messages for the raw broker rate")
    args = parser.parse_args(argv)
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    args.rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    unknown = set(args.backends) - {"postgis", "sqlite"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its summary line."""
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    summary: dict = {"cpu": cpu_model(), "cores": os.cpu_count(), "steps": []}
    with ExitStack() as stack:
        broker = stack.enter_context(mosquitto_broker())
        summary["raw_broker_msgs_per_s"] = raw_broker_rate(broker.url, Payloads(args.raw), args.raw)
        print(f"raw broker pub->sub (paho, QoS 1): {summary['raw_broker_msgs_per_s']:.1f} msg/s")
        for backend in args.backends:
            if backend == "postgis":
                cluster = stack.enter_context(postgis_cluster())
                cluster.psql("CREATE DATABASE bench TEMPLATE vigie_template")
                url = cluster.url("bench")
            else:
                url = f"sqlite:///{work / 'bench.sqlite3'}"
            for result in run_backend(backend, url, broker.url, args, work):
                summary["steps"].append(asdict(result))
    print(f"CPU: {summary['cpu']} ({summary['cores']} cores); hub logs in {work}")
    print("BENCH_SUMMARY " + json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
