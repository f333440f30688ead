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
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import Payloads, StreamClient, machine, paho_client, publish  # noqa: E402
from tests.hubserver import api_token, bearer, hub_process  # noqa: E402
from tests.services import mosquitto_broker, postgis_cluster  # noqa: E402

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
    replicas: int = 1


def measure_step(
    client: mqtt.Client,
    receiver: StreamClient,
    payloads: Payloads,
    backend: str,
    start: int,
    count: int,
    rate: float | None,
) -> StepResult:
    """Publish `count` events at `rate`, wait for them on the stream, and summarise."""
    already = len(receiver.latencies_s)
    first = publish(client, payloads.topic, payloads, start, count, rate)
    receiver.wait_for(already + count, RECEIVE_TIMEOUT_S)
    latencies = receiver.latencies_s[already:]
    elapsed = max(receiver.last_receipt - first, 1e-9)
    quantiles = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) >= 2
        else [0.0] * 99
    )
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
    group = f"bench-{uuid.uuid4().hex[:6]}"
    replicas = args.replicas if backend == "postgis" else 1
    results = []
    with ExitStack() as hubs:
        # Replicas share the ingest ($share group); the stream is read from the first one.
        urls = [
            hubs.enter_context(
                hub_process(
                    {
                        "VIGIE_DATABASE_URL": database_url,
                        "VIGIE_MQTT_URL": mqtt_url,
                        "VIGIE_MQTT_CLIENT_ID": f"bench-{backend}-{index}-{uuid.uuid4().hex[:6]}",
                        "VIGIE_MQTT_SHARED_GROUP": group,
                    },
                    work / f"hub-{backend}-{index}.log",
                )
            )[1]
            for index in range(replicas)
        ]
        receiver = StreamClient(urls[0], bearer(api_token(database_url)))
        try:
            with paho_client(mqtt_url) as client:
                start = 0
                for rate, count in [*steps, (None, args.burst)]:
                    result = measure_step(client, receiver, payloads, backend, start, count, rate)
                    result = replace(result, replicas=replicas)
                    print(format_step(result), flush=True)
                    results.append(result)
                    start += count
        finally:
            receiver.close()
    return results


def format_step(result: StepResult) -> str:
    """One human-readable line per step."""
    offered = "flat out" if result.offered_eps is None else f"{result.offered_eps:g}/s offered"
    backend = result.backend if result.replicas == 1 else f"{result.backend}x{result.replicas}"
    return (
        f"{backend:10} {offered:>16}: {result.received}/{result.events} events, "
        f"{result.sustained_eps:9.1f} events/s MQTT->DB->WS, "
        f"p50 {result.p50_ms:7.2f} ms, p99 {result.p99_ms:7.2f} ms"
    )


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
    # As many as the raw rate publishes, so that both rates carry the same start and end costs.
    parser.add_argument("--burst", type=int, default=20000, help="events published flat out")
    parser.add_argument("--raw", type=int, default=20000, help="messages for the raw broker rate")
    parser.add_argument(
        "--replicas", type=int, default=1, help="hub processes sharing the ingest (PostGIS only)"
    )
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
    summary: dict = {**machine(), "steps": []}
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
                step = asdict(result)
                # Against the raw broker rate of the same run: the share of the limit reached.
                step["ratio_to_raw"] = round(
                    result.sustained_eps / summary["raw_broker_msgs_per_s"], 3
                )
                summary["steps"].append(step)
    for step in summary["steps"]:
        if step["offered_eps"] is None:
            print(f"{step['backend']} flat out = {step['ratio_to_raw']:.2f} x the raw broker rate")
    print(f"CPU: {summary['cpu']} ({summary['cores']} cores); hub logs in {work}")
    print("BENCH_SUMMARY " + json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
