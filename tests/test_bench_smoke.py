"""The pipeline benchmark runs end to end on tiny sizes and prints a parseable summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_prints_a_parseable_summary(models, media):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "agent_pipeline.py"),
            "--model",
            str(models / "mobilenet_ssd_v2_coco_quant_postprocess.tflite"),
            "--clip",
            str(media / "vtest_first350.avi"),
            "--frames",
            "12",
            "--invokes",
            "5",
            "--static-frames",
            "20",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [summary] = [line for line in result.stdout.splitlines() if line.startswith("SUMMARY ")]
    fields = dict(item.split("=", 1) for item in summary.removeprefix("SUMMARY ").split())
    assert {"pipeline_fps", "invoke_fps", "ratio", "gated_share", "cpu", "cores"} <= set(fields)
    assert float(fields["pipeline_fps"]) > 0 and float(fields["invoke_fps"]) > 0
    assert (fields["frames"], fields["static_frames"], fields["threads"]) == ("12", "20", "1")
    assert "(1 detector runs)" in result.stdout  # 20 static captures at 10/s: no periodic check
