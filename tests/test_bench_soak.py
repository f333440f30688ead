"""A tiny run of bench/soak.py: hub, a real agent, a synthetic one and WebSocket clients, with
every sent event stored and received once, and one parseable summary line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubserver import subprocess_env

pytestmark = pytest.mark.mqtt
BENCH = Path(__file__).resolve().parents[1] / "bench" / "soak.py"


def test_soak_smoke_run_loses_nothing_and_prints_a_complete_summary(assets: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--minutes", "0.05", "--rate", "10", "--clients", "2"),
            *("--backend", "sqlite", "--max-growth-mb", "1000"),
        ],
        env=subprocess_env({"VIGIE_ASSETS_DIR": str(assets)}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    last = result.stdout.splitlines()[-1]
    assert last.startswith("SOAK_SUMMARY ")
    summary = json.loads(last.removeprefix("SOAK_SUMMARY "))
    assert summary["sent"] >= 30  # 0.05 min at 10/s from the synthetic agent alone
    assert summary["sent_real_agent"] >= 1
    assert summary["lost"] == summary["stored_twice"] == summary["received_twice"] == 0
    assert summary["received_min"] >= summary["sent"]
    assert summary["p99_ms"] >= summary["p50_ms"] > 0
    for key in ("hub_rss_start_mb", "hub_rss_end_mb", "agent_rss_start_mb", "agent_rss_end_mb"):
        assert summary[key] > 0
    assert summary["ok"] is True
