"""Benchmark of the live map: time to first render and to all markers placed, N stored events.

Starts its own Mosquitto and PostGIS (tests/services.py), stores N events spread over a city
straight through the events and incidents services (one transaction, as ingest files them), runs
the hub in-process and opens /map/ in headless Debian Chromium, then reads the page's own timings.

    .venv/bin/python bench/map_render.py [--events 10000]

The last line is one parseable summary: BENCH_SUMMARY {json}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine  # noqa: E402
from hub.events.service import store_events  # noqa: E402
from hub.incidents.grouping import GroupingPolicy  # noqa: E402
from hub.incidents.intake import file_stored_events  # noqa: E402
from tests.hubserver import (  # noqa: E402
    add_user,
    hub_settings,
    log_in_browser,
    make_event,
    opened_database,
    running_hub,
)
from tests.services import mosquitto_broker, postgis_cluster  # noqa: E402

CITY_CENTRE = (48.8566, 2.3522)
CITY_SPREAD_DEG = 0.05
CAMERAS = 40
SEVERITIES = ("low", "medium", "high", "critical")
THREAT_TYPES = ("weapon", "intrusion", "abandoned_object", "loitering")
RENDER_TIMEOUT_MS = 120_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class RenderResult:
    """What the page measured, from script start: first page drawn, every marker placed."""

    events: int
    markers: int
    first_render_ms: float
    all_placed_ms: float
    page_load_ms: float


def seed_events(database_url: str, count: int, now: datetime, seed: int = 6) -> None:
    """Store `count` events of the last hour around the city centre, filed under incidents."""
    rng = random.Random(seed)
    events = []
    for index in range(count):
        camera = index % CAMERAS
        events.append(
            make_event(
                camera_id=f"cam-{camera:03d}",
                event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                lat=CITY_CENTRE[0] + rng.uniform(-CITY_SPREAD_DEG, CITY_SPREAD_DEG),
                lon=CITY_CENTRE[1] + rng.uniform(-CITY_SPREAD_DEG, CITY_SPREAD_DEG),
                captured_at=now - timedelta(seconds=rng.uniform(0, 3500)),
                severity=rng.choice(SEVERITIES),
                threat_type=THREAT_TYPES[camera % len(THREAT_TYPES)],
                perimeter_m=rng.choice((25.0, 50.0, 100.0, 150.0)),
            )
        )
    with opened_database(database_url) as database, database.sessions.begin() as session:
        stored = store_events(session, [(event, now) for event in events])
        pairs = [(stored[event.event_id], now) for event in events]
        file_stored_events(session, pairs, GroupingPolicy(timedelta(minutes=5), 200.0))


def measure_render(browser, base_url: str, username: str, expected: int) -> RenderResult:
    """Open the map logged in and wait until it placed `expected` events; its own timings."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        log_in_browser(context, base_url, username)
        page = context.new_page()
        # The page's warnings explain a render that never completes.
        page.on("console", lambda message: print(f"console: {message.text}", file=sys.stderr))
        page.on("pageerror", lambda error: print(f"page error: {error}", file=sys.stderr))
        page.set_default_timeout(RENDER_TIMEOUT_MS)
        started = time.perf_counter()
        page.goto(f"{base_url}/map/")
        page.wait_for_function(
            "(n) => window.vigieMap && window.vigieMap.stats.allPlacedMs !== null"
            " && window.vigieMap.byEventId.size === n",
            arg=expected,
        )
        page_load_ms = (time.perf_counter() - started) * 1000
        stats = page.evaluate(
            """() => ({...window.vigieMap.stats,
                       markers: window.vigieMap.clusters.getLayers().length})"""
        )
    finally:
        context.close()
    return RenderResult(
        events=expected,
        markers=stats["markers"],
        first_render_ms=round(stats["firstRenderMs"], 1),
        all_placed_ms=round(stats["allPlacedMs"], 1),
        page_load_ms=round(page_load_ms, 1),
    )


def run(count: int) -> RenderResult:
    """Start the services, seed `count` events, and measure one render of the map."""
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        cluster = stack.enter_context(postgis_cluster())
        mqtt_url = stack.enter_context(mosquitto_broker()).url
        cluster.psql("CREATE DATABASE map_bench")
        cluster.psql("CREATE EXTENSION IF NOT EXISTS postgis", "map_bench")
        database_url = cluster.url("map_bench")
        seed_events(database_url, count, datetime.now(timezone.utc))
        username = add_user(database_url)
        base_url = stack.enter_context(
            running_hub(hub_settings(database_url, mqtt_url, map_tile_url=""))
        )
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        stack.callback(browser.close)
        return measure_render(browser, base_url, username, count)


def main() -> None:
    """Parse arguments, run, print a human line and the BENCH_SUMMARY line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    result = run(args.events)
    # The machine may be shared: a figure means little without the load it was measured under.
    summary = {**asdict(result), **machine()}
    print(
        f"{result.events} events: first render {result.first_render_ms} ms, "
        f"all {result.markers} markers placed {result.all_placed_ms} ms (load {summary['load_1m']})"
    )
    print("BENCH_SUMMARY " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
