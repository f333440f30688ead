"""A tiny run of bench/hub_ingest.py: it starts its services, measures, and prints its summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubserver import subprocess_env

pytestmark = pytest.mark.mqtt
BENCH = Path(__file__).resolve().parents[1] / "bench" / "hub_ingest.py"


def test_bench_smoke_run_prints_a_complete_summary() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--backends",
            "sqlite",
            "--rates",
            "50",
            "--step-seconds",
            "0.4",
            "--burst",
            "40",
            "--raw",
            "100",
        ],
        env=subprocess_env({}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("BENCH_SUMMARY ")
    summary = json.loads(lines[-1].removeprefix("BENCH_SUMMARY "))
    assert summary["cores"] >= 1
    assert summary["cpu"]
    assert summary["raw_broker_msgs_per_s"] > 0
    steps = summary["steps"]
    assert [(step["backend"], step["offered_eps"]) for step in steps] == [
        ("sqlite", 50.0),
        ("sqlite", None),
    ]
    assert [(step["events"], step["received"]) for step in steps] == [(20, 20), (40, 40)]
    assert all(step["sustained_eps"] > 0 and step["p99_ms"] >= step["p50_ms"] for step in steps)
