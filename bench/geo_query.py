"""Benchmark of the hub's spatial queries: radius and bounding-box pages over N stored events.

Starts its own PostGIS (tests/services.py), migrates a fresh database and fills its events table
with server-side SQL (INSERT ... SELECT FROM generate_series): N valid v1 events of the last 30
days from cameras spread over Paris, each at its camera or up to ~40 m from it; then VACUUM
ANALYZE and CHECKPOINT. It times the hub's own query code, find_events on a session as
/api/events runs it: the newest page around random points of the city, per query kind, after a
warm-up. Every page is checked against the newest matching ids computed with numpy from every
stored lat/lon. The same queries are then timed over HTTP (GET /api/events on an in-process hub
with its own Mosquitto), unless --http-queries 0. Before timing, the collector is set up as
`vigie-hub serve` sets it (hub.heap: start-up objects frozen out of collections); each kind
reports the full collections that still ran during its timed queries.

    .venv/bin/python bench/geo_query.py [--events 1000000] [--queries 150] [--limit 100]

The last line is one parseable summary: BENCH_SUMMARY {json}.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine  # noqa: E402
from hub.db.engine import Database  # noqa: E402
from hub.events.schemas import StoredEvent  # noqa: E402
from hub.events.service import (  # noqa: E402
    EARTH_RADIUS_M,
    METRES_PER_DEGREE_LAT,
    BoundingBox,
    Circle,
    EventFilters,
    PageRequest,
    find_events,
)
from hub.heap import settle_heap  # noqa: E402
from tests.hubserver import api_token, bearer, hub_settings, opened_database, running_hub  # noqa: E402
from tests.services import mosquitto_broker, postgis_cluster  # noqa: E402

# Issue #9: radius and bounding-box queries over 1,000,000 stored events in under 50 ms.
TARGET_MS = 50.0
CITY_CENTRE = (48.8566, 2.3522)
HISTORY_DAYS = 30
CAMERAS_PER_AGENT = 20
# An event located by homography lies within about 40 m of its camera.
HOMOGRAPHY_SPREAD_DEG = 0.0004
MODEL_NAME = "ssd_mobilenet_v2_coco_quant_postprocess"
# Concurrent INSERT ... SELECT statements, one per core of this kind of machine; the rows of
# each are every FILL_WORKERS-th event, so ids still follow captured_at closely.
FILL_WORKERS = 2

# One camera's events share its threat type (camera number modulo 4) and detector label; the
# payload is the wire document the hub stores, built from the same values as the columns.
FILL_SQL = """
INSERT INTO events (event_id, agent_id, camera_id, captured_at, received_at, threat_type,
    severity, lat, lon, location_source, accuracy_m, perimeter_m, detections, model_name, payload)
SELECT event_id, agent_id, camera_id, captured_at, captured_at + interval '150 milliseconds',
    threat_type, severity, lat, lon, source, accuracy_m, perimeter_m, detections, model_name,
    jsonb_build_object(
        'schema', 'vigie.event/1', 'event_id', event_id, 'agent_id', agent_id,
        'camera_id', camera_id,
        'captured_at', to_char(captured_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'threat_type', threat_type, 'severity', severity, 'detections', detections,
        'location', jsonb_build_object(
            'lat', lat, 'lon', lon, 'source', source, 'accuracy_m', accuracy_m),
        'perimeter_m', perimeter_m, 'model', jsonb_build_object('name', model_name))
FROM (
    SELECT gen_random_uuid() AS event_id,
        'agent-' || lpad((camera / CAST(:per_agent AS int))::text, 3, '0') AS agent_id,
        'cam-' || lpad(camera::text, 4, '0') AS camera_id,
        CAST(:start AS timestamptz) + i * CAST(:step_s AS float8) * interval '1 second'
            AS captured_at,
        (ARRAY['weapon', 'intrusion', 'abandoned_object', 'loitering'])[1 + camera % 4]
            AS threat_type,
        (ARRAY['low', 'low', 'medium', 'medium', 'high', 'critical'])[1 + floor(random() * 6)::int]
            AS severity,
        (CAST(:lats AS float8[]))[1 + camera] + jitter * (random() * 2 - 1) AS lat,
        (CAST(:lons AS float8[]))[1 + camera] + jitter * (random() * 2 - 1) AS lon,
        CASE WHEN jitter > 0 THEN 'homography' ELSE 'camera' END AS source,
        CASE WHEN jitter > 0 THEN 5.0 ELSE 15.0 END AS accuracy_m,
        (ARRAY[25.0, 50.0, 100.0, 150.0])[1 + floor(random() * 4)::int] AS perimeter_m,
        jsonb_build_array(jsonb_build_object(
            'label', (ARRAY['knife', 'person', 'suitcase', 'person'])[1 + camera % 4],
            'score', round((0.5 + random() * 0.5)::numeric, 3),
            'box', jsonb_build_array(x0, y0, round((x0 + 0.1 + random() * 0.4)::numeric, 3),
                round((y0 + 0.1 + random() * 0.4)::numeric, 3)),
            'track_id', i % 1000)) AS detections,
        CAST(:model AS text) AS model_name
    FROM (
        SELECT i, (hashint4(i)::bigint + 2147483648) % CAST(:cameras AS int) AS camera,
            CASE WHEN random() < 0.5 THEN CAST(:spread AS float8) ELSE 0 END AS jitter,
            round((random() * 0.5)::numeric, 3) AS x0, round((random() * 0.5)::numeric, 3) AS y0
        FROM generate_series(CAST(:first AS int), CAST(:count AS int) - 1, CAST(:step AS int))
            AS i
    ) AS drawn
) AS events_to_store
"""


@dataclass(frozen=True)
class QueryKind:
    """A kind of spatial query: a circle of radius_m, or a square box of side_m, around a point."""

    name: str
    radius_m: float | None = None
    side_m: float | None = None

    def filters(self, lat: float, lon: float) -> EventFilters:
        """The filters of this kind of query around (lat, lon)."""
        if self.radius_m is not None:
            return EventFilters(near=Circle(lat, lon, self.radius_m))
        dlat = self.side_m / 2 / METRES_PER_DEGREE_LAT
        dlon = dlat / math.cos(math.radians(lat))
        return EventFilters(bbox=BoundingBox(lon - dlon, lat - dlat, lon + dlon, lat + dlat))


KINDS = (
    QueryKind("radius_100m", radius_m=100.0),
    QueryKind("radius_500m", radius_m=500.0),
    QueryKind("radius_1km", radius_m=1000.0),
    QueryKind("radius_2km", radius_m=2000.0),
    QueryKind("bbox_500m", side_m=500.0),
    QueryKind("bbox_2km", side_m=2000.0),
    QueryKind("bbox_5km", side_m=5000.0),
)


@dataclass
class KindResult:
    """Latencies of one query kind, how many events its queries matched, pages that were wrong."""

    kind: str
    via: str
    queries: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    matched_median: int
    matched_max: int
    returned_mean: float
    wrong_pages: int
    full_gcs: int


def inside(lats: np.ndarray, lons: np.ndarray, filters: EventFilters) -> np.ndarray:
    """Which of the points lie in the filters' circle or box, edges included."""
    if filters.near is not None:
        near = filters.near
        phi = math.radians(near.lat)
        dlambda = np.radians(lons - near.lon)
        lats = np.radians(lats)
        h = np.sin((lats - phi) / 2) ** 2 + math.cos(phi) * np.cos(lats) * np.sin(dlambda / 2) ** 2
        return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h))) <= near.radius_m
    box = filters.bbox
    return (
        (lats >= box.min_lat)
        & (lats <= box.max_lat)
        & (lons >= box.min_lon)
        & (lons <= box.max_lon)
    )


class FullCollections:
    """A gc callback counting the collector's full (generation 2) collections."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, phase: str, info: dict) -> None:
        """Count one more full collection as it starts."""
        if phase == "start" and info["generation"] == 2:
            self.count += 1


class StoredPoints:
    """Every stored event's id, lat and lon, sorted by lat: the reference pages are checked on."""

    def __init__(self, database: Database) -> None:
        with database.engine.connect() as connection:
            ids, lats, lons = connection.exec_driver_sql(
                "SELECT array_agg(id), array_agg(lat), array_agg(lon) FROM events"
            ).one()
        order = np.argsort(lats)
        self.ids = np.array(ids)[order]
        self.lats = np.array(lats)[order]
        self.lons = np.array(lons)[order]

    def matching_ids(self, filters: EventFilters) -> np.ndarray:
        """Ids of the events inside the filters' circle or box, newest first."""
        if filters.near is not None:
            # The latitudes a circle spans, with a margin: inside() has the last word.
            dlat = filters.near.radius_m / METRES_PER_DEGREE_LAT * 1.01
            south, north = filters.near.lat - dlat, filters.near.lat + dlat
        else:
            south, north = filters.bbox.min_lat, filters.bbox.max_lat
        first = np.searchsorted(self.lats, south, side="left")
        end = np.searchsorted(self.lats, north, side="right")
        found = inside(self.lats[first:end], self.lons[first:end], filters)
        return np.sort(self.ids[first:end][found])[::-1]


@dataclass
class Workload:
    """The points of one kind: untimed warm-up ones, timed ones and each one's matching ids."""

    kind: QueryKind
    warmup: list[tuple[float, float]]
    timed: list[tuple[float, float]]
    matches: list[np.ndarray]


# Fetches the newest page of events matching the filters: (milliseconds taken, events).
Fetch = Callable[[EventFilters, int], tuple[float, list[StoredEvent]]]


def random_points(count: int, spread_deg: float, rng: random.Random) -> list[tuple[float, float]]:
    """`count` (lat, lon) points drawn uniformly within spread_deg of the city centre."""
    return [
        (
            CITY_CENTRE[0] + rng.uniform(-spread_deg, spread_deg),
            CITY_CENTRE[1] + rng.uniform(-spread_deg, spread_deg),
        )
        for _ in range(count)
    ]


def fill_events(database: Database, args: argparse.Namespace) -> float:
    """Store args.events events with INSERT ... SELECT and settle the table; seconds taken."""
    cameras = random_points(args.cameras, args.spread_deg, random.Random(args.seed))
    history = timedelta(days=HISTORY_DAYS)
    params = {
        "model": MODEL_NAME,
        "per_agent": CAMERAS_PER_AGENT,
        "start": datetime.now(timezone.utc) - history,
        "step_s": history.total_seconds() / args.events,
        "lats": [lat for lat, _ in cameras],
        "lons": [lon for _, lon in cameras],
        "spread": HOMOGRAPHY_SPREAD_DEG,
        "cameras": args.cameras,
        "count": args.events,
        "step": FILL_WORKERS,
    }

    def insert_share(first: int) -> None:
        with database.engine.begin() as connection:
            connection.execute(sa.text("SELECT setseed(:seed)"), {"seed": 1 / (2 + first)})
            connection.execute(sa.text(FILL_SQL), {**params, "first": first})

    started = time.perf_counter()
    with ThreadPoolExecutor(FILL_WORKERS) as pool:
        list(pool.map(insert_share, range(FILL_WORKERS)))
    # Settled as a hub's table would be: vacuumed, analysed, and its writes checkpointed now
    # rather than in the middle of the measurement.
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE events")
        connection.exec_driver_sql("CHECKPOINT")
    return time.perf_counter() - started


def service_fetch(database: Database) -> Fetch:
    """find_events on a fresh session of the pool, as /api/events runs it."""

    def fetch(filters: EventFilters, limit: int) -> tuple[float, list[StoredEvent]]:
        started = time.perf_counter()
        with database.sessions() as session:
            events = find_events(session, filters, PageRequest(limit=limit))
        return (time.perf_counter() - started) * 1000, events

    return fetch


def http_fetch(client: httpx.Client) -> Fetch:
    """GET /api/events, timed up to the whole response body."""

    def fetch(filters: EventFilters, limit: int) -> tuple[float, list[StoredEvent]]:
        params: dict[str, object] = {"limit": limit}
        if filters.near is not None:
            near = filters.near
            params.update(lat=near.lat, lon=near.lon, radius_m=near.radius_m)
        else:
            box = filters.bbox
            params["bbox"] = f"{box.min_lon},{box.min_lat},{box.max_lon},{box.max_lat}"
        started = time.perf_counter()
        response = client.get("/api/events", params=params)
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        return elapsed_ms, [StoredEvent.model_validate(item) for item in response.json()["items"]]

    return fetch


def page_is_right(events: list[StoredEvent], filters: EventFilters, expected: np.ndarray) -> bool:
    """The page holds the expected ids in order, and each event's own location is inside."""
    lats = np.array([event.location.lat for event in events])
    lons = np.array([event.location.lon for event in events])
    return [event.id for event in events] == expected.tolist() and bool(
        inside(lats, lons, filters).all()
    )


def measure(
    workload: Workload,
    via: str,
    fetch: Fetch,
    queries: int,
    limit: int,
    collections: FullCollections,
) -> KindResult:
    """Warm up, then time the first `queries` pages and check each against the reference."""
    kind = workload.kind
    for lat, lon in workload.warmup:
        fetch(kind.filters(lat, lon), limit)
    latencies, returned, wrong, full_gcs = [], [], 0, 0
    matches = workload.matches[:queries]
    for (lat, lon), matching in zip(workload.timed[:queries], matches, strict=True):
        filters = kind.filters(lat, lon)
        before = collections.count
        elapsed_ms, events = fetch(filters, limit)
        full_gcs += collections.count - before
        latencies.append(elapsed_ms)
        returned.append(len(events))
        wrong += not page_is_right(events, filters, matching[:limit])
    # Inclusive: with few queries, p99 stays between the fastest and the slowest.
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    counts = [len(matching) for matching in matches]
    return KindResult(
        kind=kind.name,
        via=via,
        queries=len(latencies),
        p50_ms=round(quantiles[49], 2),
        p99_ms=round(quantiles[98], 2),
        max_ms=round(max(latencies), 2),
        matched_median=round(statistics.median(counts)),
        matched_max=max(counts),
        returned_mean=round(statistics.fmean(returned), 1),
        wrong_pages=wrong,
        full_gcs=full_gcs,
    )


def explain(database: Database, kind: QueryKind, point: tuple[float, float], limit: int) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements find_events sends for one query, in order."""
    sent: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        sent.append((statement, parameters))

    sa.event.listen(database.engine, "before_cursor_execute", record)
    try:
        service_fetch(database)(kind.filters(*point), limit)
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", record)
    plans = []
    # One transaction, as find_events runs them: a SET LOCAL holds for the statements after it.
    with database.engine.begin() as connection:
        for statement, parameters in sent:
            rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
            plans.append("\n".join(row[0] for row in rows))
    return "\n".join(plans)


def format_result(result: KindResult) -> str:
    """One human-readable line per query kind and path."""
    verdict = "under" if result.p99_ms < TARGET_MS else "OVER"
    wrong = f"; {result.wrong_pages} WRONG PAGES" if result.wrong_pages else ""
    return (
        f"{result.via:7} {result.kind:11}: {result.queries:3} queries, "
        f"p50 {result.p50_ms:6.2f} ms, p99 {result.p99_ms:6.2f} ms, max {result.max_ms:6.2f} ms "
        f"(p99 {verdict} {TARGET_MS:g} ms); matched median {result.matched_median:6}, "
        f"max {result.matched_max:6}; {result.returned_mean:g} per page; "
        f"{result.full_gcs} full gc{wrong}"
    )


def server_versions(database: Database) -> dict[str, str]:
    """The PostgreSQL and PostGIS versions of the database server."""
    with database.engine.connect() as connection:
        postgres = connection.exec_driver_sql("SHOW server_version").scalar_one()
        postgis = connection.exec_driver_sql("SELECT postgis_lib_version()").scalar_one()
    return {"postgres": postgres, "postgis": postgis}


def make_workloads(database: Database, args: argparse.Namespace) -> list[Workload]:
    """Random points for every kind, with the ids each timed point matches."""
    rng = random.Random(args.seed + 1)
    stored = StoredPoints(database)
    result = []
    for kind in KINDS:
        points = random_points(args.warmup + args.queries, args.spread_deg, rng)
        warmup, timed = points[: args.warmup], points[args.warmup :]
        matches = [stored.matching_ids(kind.filters(lat, lon)) for lat, lon in timed]
        result.append(Workload(kind, warmup, timed, matches))
    return result


def run_all(
    workloads: list[Workload],
    via: str,
    fetch: Fetch,
    args: argparse.Namespace,
    collections: FullCollections,
) -> list[KindResult]:
    """Measure every workload through `fetch`, printing a line for each."""
    queries = args.queries if via == "service" else args.http_queries
    results = []
    for workload in workloads:
        result = measure(workload, via, fetch, queries, args.limit, collections)
        print(format_result(result), flush=True)
        results.append(result)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events stored")
    parser.add_argument("--cameras", type=int, default=4000, help="cameras they come from")
    parser.add_argument(
        "--spread-deg", type=float, default=0.1, help="cameras and query points: centre ± this"
    )
    parser.add_argument("--queries", type=int, default=150, help="timed queries per kind")
    parser.add_argument("--warmup", type=int, default=10, help="untimed queries per kind first")
    parser.add_argument(
        "--http-queries", type=int, default=40, help="of those, also timed over HTTP (0: none)"
    )
    parser.add_argument("--limit", type=int, default=100, help="page size (the API's default)")
    parser.add_argument("--seed", type=int, default=9, help="seed of the cameras and the points")
    parser.add_argument(
        "--explain", action="store_true", help="print the plan of one query of each kind"
    )
    args = parser.parse_args(argv)
    if min(args.events, args.cameras, args.limit) < 1 or args.warmup < 0:
        parser.error("--events, --cameras and --limit must be positive, --warmup not negative")
    if args.queries < 2 or args.http_queries < 0 or args.http_queries == 1:
        parser.error("percentiles need 2 queries or more (--http-queries 0: no HTTP)")
    args.http_queries = min(args.http_queries, args.queries)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its summary line."""
    args = parse_args(argv)
    # The machine is shared: the load when the run starts tells how much of it the run had.
    summary: dict = machine()
    with ExitStack() as stack:
        cluster = stack.enter_context(postgis_cluster())
        cluster.psql("CREATE DATABASE bench TEMPLATE vigie_template")
        url = cluster.url("bench")
        database = stack.enter_context(opened_database(url))
        summary.update(server_versions(database))
        print(
            f"CPU: {summary['cpu']} ({summary['cores']} cores, load {summary['load_1m']:.2f}); "
            f"PostgreSQL {summary['postgres']}, PostGIS {summary['postgis']}",
            flush=True,
        )
        fill_s = fill_events(database, args)
        print(f"stored {args.events} events of {args.cameras} cameras in {fill_s:.1f} s")
        summary.update(
            events=args.events,
            cameras=args.cameras,
            limit=args.limit,
            fill_s=round(fill_s, 1),
            target_ms=TARGET_MS,
        )
        loads = make_workloads(database, args)
        if args.explain:
            for workload in loads:
                plan = explain(database, workload.kind, workload.timed[0], args.limit)
                print(f"plan of {workload.kind.name}:\n{plan}")
        collections = FullCollections()
        gc.callbacks.append(collections)
        stack.callback(gc.callbacks.remove, collections)
        # As `vigie-hub serve` does: a full collection over the 150,000 or so objects the hub's
        # modules leave took 60 to 90 ms, and such a pause made the p99 of any kind it fell in.
        settle_heap()
        fetch = service_fetch(database)
        results = run_all(loads, "service", fetch, args, collections)
        if args.http_queries:
            broker = stack.enter_context(mosquitto_broker())
            base_url = stack.enter_context(running_hub(hub_settings(url, broker.url)))
            client = stack.enter_context(
                httpx.Client(base_url=base_url, headers=bearer(api_token(url)), timeout=30)
            )
            fetch = http_fetch(client)
            results += run_all(loads, "http", fetch, args, collections)
        summary["results"] = [asdict(result) for result in results]
    print("BENCH_SUMMARY " + json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
