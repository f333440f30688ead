"""Soak benchmark: hub and agents for N minutes at a steady event rate, WebSocket clients attached.

Starts its own Mosquitto and database (tests/services.py), `vigie-hub serve`, one real
`vigie-agent run` on a looping clip (the real detector), and a synthetic agent that sends events
at --rate through the agent's own outbox and publisher. WebSocket clients watch /ws/events.
At the end it counts events sent (acknowledged by the broker), stored and received by each
client, the p99 latency (capture -> WebSocket), and the hub's and agent's RSS at start and end.

    .venv/bin/python bench/soak.py [--minutes 1] [--rate 20] [--clients 3] [--backend postgis]

The last line is one parseable summary: SOAK_SUMMARY {json}. The exit code is 1 when an event
was lost or duplicated, or memory grew by more than --max-growth-mb.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import StreamClient  # noqa: E402
from edge_agent.outbox import Outbox  # noqa: E402
from hub.events.models import Event  # noqa: E402
from tests.conftest import assets_dir  # noqa: E402
from tests.hubserver import (  # noqa: E402
    api_token,
    bearer,
    hub_process,
    make_event,
    opened_database,
    wait_until,
)
from tests.services import mosquitto_broker, postgis_cluster  # noqa: E402
from tests.test_agent_outage import write_agent_config  # noqa: E402
from tests.test_faults import SyntheticAgent, confirmed_ids, start_agent_process  # noqa: E402

SETTLE_TIMEOUT_S = 120.0
AGENT_STOP_TIMEOUT_S = 30.0


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def stored_ids(database_url: str) -> list[str]:
    """Every stored event id, one per row."""
    with opened_database(database_url) as database, database.sessions() as session:
        return [str(event_id) for event_id in session.scalars(sa.select(Event.event_id))]


def send_steadily(agent: SyntheticAgent, rate: float, seconds: float) -> None:
    """Send fresh events (captured now) at `rate` per second for `seconds`."""
    began = time.monotonic()
    count = int(rate * seconds)
    for index in range(count):
        pause = began + index / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        agent.send([make_event(captured_at=datetime.now(timezone.utc))], 0)


def left_in_outbox(outbox_path: Path) -> set[str]:
    """Event ids a stopped agent left undelivered in its outbox (never sent, so not counted)."""
    if not outbox_path.exists():
        return set()
    with Outbox(outbox_path) as outbox:
        pending = outbox.pending(limit=1_000_000)
    return {json.loads(m.payload)["event_id"] for m in pending if m.topic.endswith("/event")}


def percentile_ms(values: list[float], fraction: float) -> float:
    """The `fraction` quantile of seconds, in milliseconds (0 when empty)."""
    if len(values) < 2:
        return values[0] * 1000 if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1] * 1000


def soak(args: argparse.Namespace, database_url: str, mqtt_url: str, work: Path) -> dict:
    """Run hub, agents and clients for args.minutes; return the summary."""
    seconds = args.minutes * 60
    env = {"VIGIE_DATABASE_URL": database_url, "VIGIE_MQTT_URL": mqtt_url}
    assets = assets_dir()
    broker_port = int(mqtt_url.rsplit(":", 1)[1])
    config = write_agent_config(
        work / "agent.yaml", "soak-agent", broker_port, assets / "media", assets / "models"
    )
    agent_log = work / "agent.log"
    with hub_process(env, work / "hub.log") as (hub, base_url):
        headers = bearer(api_token(database_url))
        clients = [StreamClient(base_url, headers) for _ in range(args.clients)]
        agent = start_agent_process(config, agent_log)
        synthetic = SyntheticAgent(mqtt_url, work / "synthetic-outbox.sqlite3")
        try:
            # Start memory once both are warm: the real agent has confirmed a first event.
            wait_until(lambda: confirmed_ids(agent_log), SETTLE_TIMEOUT_S, "a first agent event")
            memory = {"hub_rss_start_mb": rss_mb(hub.pid), "agent_rss_start_mb": rss_mb(agent.pid)}
            send_steadily(synthetic, args.rate, seconds)
            memory |= {"hub_rss_end_mb": rss_mb(hub.pid), "agent_rss_end_mb": rss_mb(agent.pid)}
            agent.send_signal(signal.SIGTERM)
            agent.wait(AGENT_STOP_TIMEOUT_S)
            synthetic.publisher.wait_drained()
        finally:
            synthetic.close()
            if agent.poll() is None:
                agent.kill()
        confirmed = confirmed_ids(agent_log)
        sent = set(confirmed) - left_in_outbox(work / "outbox.sqlite3") | set(synthetic.sent)
        wait_until(
            lambda: set(stored_ids(database_url)) >= sent, SETTLE_TIMEOUT_S, "every sent event"
        )
        stored = stored_ids(database_url)
        wait_until(
            lambda: all(len(c.event_ids) >= len(stored) for c in clients),
            SETTLE_TIMEOUT_S,
            "every client to receive every stored event",
        )
        for client in clients:
            client.close()
    latencies = [latency for client in clients for latency in client.latencies_s]
    growth = max(
        memory["hub_rss_end_mb"] - memory["hub_rss_start_mb"],
        memory["agent_rss_end_mb"] - memory["agent_rss_start_mb"],
    )
    summary = {
        "minutes": args.minutes,
        "rate_eps": args.rate,
        "backend": args.backend,
        "clients": args.clients,
        "sent": len(sent),
        "sent_real_agent": len(sent) - len(synthetic.sent),
        "stored": len(stored),
        "lost": len(sent - set(stored)),
        "stored_twice": len(stored) - len(set(stored)),
        "received_min": min(len(set(c.event_ids)) for c in clients),
        "received_twice": sum(len(c.event_ids) - len(set(c.event_ids)) for c in clients),
        "p50_ms": round(percentile_ms(latencies, 0.50), 2),
        "p99_ms": round(percentile_ms(latencies, 0.99), 2),
        **{key: round(value, 1) for key, value in memory.items()},
        "max_growth_mb": round(growth, 1),
        "growth_bound_mb": args.max_growth_mb,
    }
    summary["ok"] = (
        summary["lost"] == 0
        and summary["stored_twice"] == 0
        and summary["received_twice"] == 0
        and growth <= args.max_growth_mb
    )
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to send events")
    parser.add_argument("--rate", type=float, default=20.0, help="synthetic events per second")
    parser.add_argument("--clients", type=int, default=3, help="WebSocket clients attached")
    parser.add_argument("--backend", choices=["postgis", "sqlite"], default="postgis")
    parser.add_argument(
        "--max-growth-mb", type=float, default=64.0, help="allowed RSS growth, hub or agent"
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.clients < 1:
        parser.error("--minutes and --rate must be positive, --clients at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its summary line."""
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vigie-soak-"))
    with ExitStack() as stack:
        broker = stack.enter_context(mosquitto_broker())
        if args.backend == "postgis":
            cluster = stack.enter_context(postgis_cluster())
            cluster.psql("CREATE DATABASE soak TEMPLATE vigie_template")
            database_url = cluster.url("soak")
        else:
            database_url = f"sqlite:///{work / 'soak.sqlite3'}"
        summary = soak(args, database_url, broker.url, work)
    print(
        f"sent {summary['sent']} (real agent {summary['sent_real_agent']}), "
        f"stored {summary['stored']}, received by each client >= {summary['received_min']}; "
        f"lost {summary['lost']}, stored twice {summary['stored_twice']}; "
        f"p99 {summary['p99_ms']} ms"
    )
    print(
        f"RSS hub {summary['hub_rss_start_mb']} -> {summary['hub_rss_end_mb']} MiB, "
        f"agent {summary['agent_rss_start_mb']} -> {summary['agent_rss_end_mb']} MiB "
        f"(bound +{args.max_growth_mb} MiB); logs in {work}"
    )
    print("SOAK_SUMMARY " + json.dumps(summary, separators=(",", ":")))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
