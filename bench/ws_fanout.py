"""Benchmark of the stream's fan-out: N WebSocket clients on /ws/events while events arrive at R/s.

Starts its own Mosquitto (and PostGIS, or SQLite with --backend sqlite) from tests/services.py,
runs `vigie-hub serve`, connects N clients split over several client processes, publishes real
v1 events with paho (QoS 1) at R events/s for a while, and measures each delivery's latency:
WebSocket receipt - captured_at, where captured_at is the publish time. The same run first
measures one client alone, the floor of what N clients can get.

    .venv/bin/python bench/ws_fanout.py [--clients 1000] [--rate 100] [--seconds 10]

The last line is one parseable summary: BENCH_SUMMARY {json}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import Payloads, machine, paho_client, publish  # noqa: E402
from hub.events.models import Event  # noqa: E402
from hub.heap import settle_heap  # noqa: E402
from tests.hubserver import api_token, bearer, hub_process, opened_database  # noqa: E402
from tests.services import mosquitto_broker, postgis_cluster  # noqa: E402

CAPTURED_KEY = '"captured_at":"'
EVENT_KEY = '{"type":"event"'
CONNECT_TIMEOUT_S = 120.0
# After the last publish, how long clients may take to receive what is still on its way.
DRAIN_TIMEOUT_S = 30.0


@dataclass
class FanoutResult:
    """One measured run: N clients at R events/s, and what they received."""

    clients: int
    rate_eps: float
    events: int
    expected: int
    delivered: int
    disconnected: int
    # WebSocket frames the clients received: deliveries / frames is the events per frame.
    frames: int
    # Clients that received fewer than every event, and the most events one of them missed.
    short_clients: int
    most_missing: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class Tally:
    """What a process's clients received, readable even after they are cancelled."""

    events: array  # events received, per client
    frames: int = 0


def captured_times(frame: str) -> list[float]:
    """The captured_at (Unix time) of each event in a frame, found without parsing it all."""
    times, start = [], frame.find(EVENT_KEY)
    while start >= 0:
        value = frame.index(CAPTURED_KEY, start) + len(CAPTURED_KEY)
        times.append(datetime.fromisoformat(frame[value : frame.index('"', value)]).timestamp())
        start = frame.find(EVENT_KEY, value)
    return times


async def _client(
    url: str, headers: dict[str, str], latencies: array, expected: int, tally: Tally, slot: int
) -> bool:
    """Receive events until `expected` arrived or the connection closed; True if it stayed."""
    # max_queue=None: a browser hands every frame to the page; websockets' default (stop reading
    # after 16 unread frames) is not what a screen does.
    async with connect(
        url, additional_headers=headers, compression=None, max_size=None, max_queue=None
    ) as ws:
        async for frame in ws:
            now = time.time()
            times = captured_times(frame)
            latencies.extend(now - captured for captured in times)
            tally.frames += 1
            tally.events[slot] += len(times)
            if tally.events[slot] >= expected:
                return True
    return False


async def _clients(
    url: str, headers: dict[str, str], count: int, expected: int, control: Connection
) -> None:
    latencies, tally = array("d"), Tally(events=array("q", bytes(8 * count)))
    connections = []
    for slot in range(count):
        # Connect one at a time, as a room of screens would, not in a thundering herd.
        task = asyncio.create_task(_client(url, headers, latencies, expected, tally, slot))
        connections.append(task)
        await asyncio.sleep(0.002)
    # The hub subscribes a client before completing its handshake: let the last ones settle.
    await asyncio.sleep(1.0)
    control.send("ready")
    # Once publishing is over, the parent says how long the clients may still receive.
    drain_s = await asyncio.to_thread(control.recv)
    done, pending = await asyncio.wait(connections, timeout=drain_s)
    # Where the missing bytes sit, taken before the waiting clients are cancelled.
    queues = socket_queues(urlsplit(url).port or 80) if pending else {}
    for task in pending:
        task.cancel()
    closed_early = sum(1 for task in done if task.exception() is not None or not task.result())
    missing = [expected - received for received in tally.events if received < expected]
    control.send((latencies.tobytes(), closed_early, missing, queues, tally.frames))


def socket_queues(port: int) -> dict[str, int]:
    """Bytes queued in the kernel on the hub's established connections, per side (from ss)."""
    lines = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} or dport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    queues = dict.fromkeys(("hub_recv_q", "hub_send_q", "client_recv_q", "client_send_q"), 0)
    for line in lines:
        recv_q, send_q, local = line.split()[:3]
        side = "hub" if local.endswith(f":{port}") else "client"
        queues[f"{side}_recv_q"] += int(recv_q)
        queues[f"{side}_send_q"] += int(send_q)
    return queues


def client_process(
    url: str, headers: dict[str, str], count: int, expected: int, control: Connection
) -> None:
    """Run `count` clients in this process, report ready, then send back their latencies."""
    # The clients stand in for screens on other machines: their own collector pauses (a full
    # collection over 500 connections) must not be counted as the hub's latency.
    settle_heap()
    asyncio.run(_clients(url, headers, count, expected, control))


def run_fanout(
    ws_url: str,
    headers: dict[str, str],
    mqtt_url: str,
    clients: int,
    rate: float,
    seconds: float,
    processes: int,
    payloads: Payloads,
    start: int,
) -> FanoutResult:
    """Connect `clients`, publish rate*seconds events, and gather every latency."""
    events = max(1, int(rate * seconds))
    context = multiprocessing.get_context("spawn")
    workers, pipes = [], []
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    for share in filter(None, shares):
        ours, theirs = context.Pipe()
        worker = context.Process(
            target=client_process, args=(ws_url, headers, share, events, theirs), daemon=True
        )
        worker.start()
        workers.append(worker)
        pipes.append(ours)
    for pipe in pipes:
        if not pipe.poll(CONNECT_TIMEOUT_S) or pipe.recv() != "ready":
            raise RuntimeError("the clients did not connect in time")
    with paho_client(mqtt_url) as client:
        publish(client, payloads.topic, payloads, start, events, rate)
    for pipe in pipes:
        pipe.send(DRAIN_TIMEOUT_S)
    latencies, disconnected, missing, frames = array("d"), 0, [], 0
    for pipe, worker in zip(pipes, workers, strict=True):
        if pipe.poll(DRAIN_TIMEOUT_S + CONNECT_TIMEOUT_S):
            values, closed_early, short, queues, received_frames = pipe.recv()
            frames += received_frames
            latencies.frombytes(values)
            disconnected += closed_early
            missing.extend(short)
            if queues:
                print(f"clients still waiting; kernel socket queues (bytes): {queues}", flush=True)
        worker.join(10)
        worker.kill()
    quantiles = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) >= 2
        else [0.0] * 99
    )
    return FanoutResult(
        clients=clients,
        rate_eps=rate,
        events=events,
        expected=events * clients,
        delivered=len(latencies),
        disconnected=disconnected,
        frames=frames,
        short_clients=len(missing),
        most_missing=max(missing, default=0),
        p50_ms=round(quantiles[49] * 1000, 2),
        p99_ms=round(quantiles[98] * 1000, 2),
        max_ms=round(max(latencies, default=0.0) * 1000, 2),
    )


def stored_events(database_url: str) -> int:
    """How many events the hub's database holds."""
    with opened_database(database_url) as database, database.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Event))


def format_result(result: FanoutResult) -> str:
    """One human-readable line per run."""
    return (
        f"{result.clients:5} client(s) x {result.rate_eps:g} events/s: "
        f"{result.delivered}/{result.expected} deliveries ({result.disconnected} dropped, "
        f"{result.short_clients} short by at most {result.most_missing}) in "
        f"{result.frames} frames, "
        f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, max {result.max_ms:.1f} ms"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients")
    parser.add_argument("--rate", type=float, default=100.0, help="events published per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes the clients are split over"
    )
    parser.add_argument("--backend", choices=("postgis", "sqlite"), default="postgis")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.rate <= 0 or args.seconds <= 0 or args.client_processes < 1:
        parser.error("--clients, --rate, --seconds and --client-processes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one client alone, then N clients, and print the summary line."""
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    events = max(1, int(args.rate * args.seconds))
    payloads = Payloads(2 * events)
    summary: dict = {**machine(), "backend": args.backend}
    with ExitStack() as stack:
        broker = stack.enter_context(mosquitto_broker())
        if args.backend == "postgis":
            cluster = stack.enter_context(postgis_cluster())
            cluster.psql("CREATE DATABASE bench TEMPLATE vigie_template")
            database_url = cluster.url("bench")
        else:
            database_url = f"sqlite:///{work / 'bench.sqlite3'}"
        env = {
            "VIGIE_DATABASE_URL": database_url,
            "VIGIE_MQTT_URL": broker.url,
            "VIGIE_MQTT_CLIENT_ID": f"bench-{uuid.uuid4().hex[:6]}",
        }
        _, base_url = stack.enter_context(hub_process(env, work / "hub.log"))
        # As the map and the admin panel ask: several waiting messages may share one frame.
        ws_url = f"ws{base_url[4:]}/ws/events?batch=true"
        headers = bearer(api_token(database_url))
        runs = []
        for clients, start in ((1, 0), (args.clients, events)):
            result = run_fanout(
                ws_url,
                headers,
                broker.url,
                clients,
                args.rate,
                args.seconds,
                min(args.client_processes, clients),
                payloads,
                start,
            )
            print(format_result(result), flush=True)
            runs.append(asdict(result))
        # Events that reached the database: fewer than published means a loss before the stream.
        summary["stored"] = stored_events(database_url)
    summary["alone"], summary["fanout"] = runs
    summary["published"] = 2 * events
    print(f"events published {summary['published']}, stored {summary['stored']}")
    print(f"CPU: {summary['cpu']} ({summary['cores']} cores); hub log in {work}")
    print("BENCH_SUMMARY " + json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
