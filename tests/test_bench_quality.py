"""The threat-quality bench replays real clips through the real model and prints its summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench" / "threat_quality.py"


def _run(*args):
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        check=False,
    )


def test_bench_reports_episodes_false_alarms_sweep_and_augmentations():
    result = _run(
        "--models", "ssd_v2", "--clips", "worker-zone-detection,USFS_fire_Alaska", "--threads", "1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    [summary] = [line for line in out.splitlines() if line.startswith("SUMMARY ")]
    fields = dict(item.split("=", 1) for item in summary.removeprefix("SUMMARY ").split())
    assert fields["clips"] == "2"
    # The worker is a large, well-lit person: both of its episodes are confirmed.
    assert fields["ssd_v2_found"] == "2/2"
    assert fields["ssd_v2_kept"] == "100"
    assert {f"ssd_v2_{kind}_found" for kind in ("noise", "blur", "dark", "jpeg", "rotate")} <= set(
        fields
    )
    assert "worker-zone-detection policy" in out and "worker-zone-detection single" in out
    assert "== sweep on ssd_v2" in out and "thr=0.6 N=5 cd=60" in out


def test_unknown_model_or_clip_is_a_clear_error():
    unknown_model = _run("--models", "resnet", "--no-augment")
    assert unknown_model.returncode == 2
    assert "unknown model(s) ['resnet']" in unknown_model.stderr
    no_clip = _run("--clips", "no-such-clip", "--no-augment")
    assert no_clip.returncode == 2
    assert "no ground-truth clip selected" in no_clip.stderr
