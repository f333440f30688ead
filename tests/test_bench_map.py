"""A small run of bench/map_render.py: it starts its services, renders the map, prints a summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubserver import subprocess_env

pytestmark = [pytest.mark.browser, pytest.mark.postgis, pytest.mark.mqtt]
BENCH = Path(__file__).resolve().parents[1] / "bench" / "map_render.py"


def test_map_bench_smoke_run_prints_a_complete_summary() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--events", "300"],
        env=subprocess_env({}),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.splitlines()[-1].removeprefix("BENCH_SUMMARY "))
    assert summary["events"] == summary["markers"] == 300
    assert 0 < summary["first_render_ms"] <= summary["all_placed_ms"]
    assert summary["cpu"] and summary["cores"] >= 1
