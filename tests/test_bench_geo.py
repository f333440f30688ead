"""A tiny run of bench/geo_query.py: it starts its services, measures, and prints its summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubserver import subprocess_env

pytestmark = [pytest.mark.postgis, pytest.mark.mqtt]
BENCH = Path(__file__).resolve().parents[1] / "bench" / "geo_query.py"
KINDS = [
    "radius_100m",
    "radius_500m",
    "radius_1km",
    "radius_2km",
    "bbox_500m",
    "bbox_2km",
    "bbox_5km",
]


def test_geo_bench_smoke_run_prints_a_complete_summary() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--events",
            "5000",
            "--queries",
            "5",
            "--warmup",
            "2",
            "--http-queries",
            "3",
        ],
        env=subprocess_env({}),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("BENCH_SUMMARY ")
    summary = json.loads(lines[-1].removeprefix("BENCH_SUMMARY "))
    assert summary["cpu"] and summary["cores"] >= 1
    assert summary["postgres"] and summary["postgis"]
    assert (summary["events"], summary["limit"]) == (5000, 100)
    results = summary["results"]
    assert [(step["via"], step["kind"]) for step in results] == [
        *(("service", kind) for kind in KINDS),
        *(("http", kind) for kind in KINDS),
    ]
    assert [step["queries"] for step in results] == [5] * len(KINDS) + [3] * len(KINDS)
    # Every page held exactly the newest matching events, through the service and over HTTP.
    assert all(step["wrong_pages"] == 0 for step in results)
    assert all(0 < step["p50_ms"] <= step["p99_ms"] <= step["max_ms"] for step in results)
    assert all(0 <= step["returned_mean"] <= min(100, step["matched_max"]) for step in results)
    # The full collections that ran inside timed queries are counted, none hidden.
    assert all(isinstance(step["full_gcs"], int) and step["full_gcs"] >= 0 for step in results)
    assert all("full gc" in line for line in lines if line.startswith(("service ", "http ")))
    # 5,000 events over the city: a 5 km box always holds more than a page.
    five_km = [step for step in results if step["kind"] == "bbox_5km"]
    assert all(step["matched_median"] > 100 and step["returned_mean"] == 100 for step in five_km)
