"""A tiny run of bench/ws_fanout.py: its clients connect, receive every event, and it summarises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubserver import subprocess_env

pytestmark = [pytest.mark.mqtt, pytest.mark.postgis]
BENCH = Path(__file__).resolve().parents[1] / "bench" / "ws_fanout.py"


def test_fanout_smoke_run_delivers_every_event_to_every_client() -> None:
    arguments = ["--clients", "12", "--rate", "20", "--seconds", "1", "--client-processes", "2"]
    result = subprocess.run(
        [sys.executable, str(BENCH), *arguments],
        env=subprocess_env({}),
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.splitlines()[-1].removeprefix("BENCH_SUMMARY "))
    assert summary["cpu"] and summary["cores"] >= 1
    assert summary["backend"] == "postgis"
    alone, fanout = summary["alone"], summary["fanout"]
    assert (alone["clients"], fanout["clients"]) == (1, 12)
    assert alone["delivered"] == alone["expected"] == 20
    assert fanout["delivered"] == fanout["expected"] == 12 * 20
    assert fanout["disconnected"] == 0
    assert (fanout["short_clients"], fanout["most_missing"]) == (0, 0)
    # Each of the two runs (one client, then 12) published its own 20 events.
    assert summary["stored"] == summary["published"] == 2 * 20
    assert 0 < fanout["p50_ms"] <= fanout["p99_ms"] <= fanout["max_ms"]
