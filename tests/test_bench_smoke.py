"""The pipeline benchmark runs end to end on tiny sizes and prints a parseable summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_prints_a_parseable_summary(models, media):
    chosen = [
        models / "mobilenet_ssd_v2_coco_quant_postprocess.tflite",
        models / "yolox_nano_320_coco_float32.tflite",
    ]
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "agent_pipeline.py"),
            "--models",
            ",".join(str(path) for path in chosen),
            "--clip",
            str(media / "vtest_first350.avi"),
            "--frames",
            "12",
            "--invokes",
            "5",
            "--static-frames",
            "20",
            "--cameras",
            "3",
            "--camera-seconds",
            "2",
            "--camera-warmup",
            "1",
            "--threads",
            "1",
            "--camera-interpreters",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.splitlines()[-1].removeprefix("BENCH_SUMMARY "))
    assert summary["cpu"] and summary["cores"] >= 1
    assert (summary["frames"], summary["threads"]) == (12, 1)
    assert [entry["model"] for entry in summary["models"]] == [path.name for path in chosen]
    for entry in summary["models"]:
        assert entry["pipeline_fps"] > 0 and entry["invoke_fps"] > 0
        assert entry["pipeline_with_snapshots_fps"] > 0 and entry["alerts"] >= 0
    assert 0 < summary["gated_share"] < 1
    [load] = summary["camera_loads"]
    assert load["cameras"] == 3 and load["captures_per_s"] > 0
    assert load["alerts_per_capture"] >= 0 and summary["camera_warmup_s"] == 1
    assert summary["camera_interpreters"] == 2 and summary["camera_invoke_fps"] > 0
    assert summary["camera_snapshots"] is True  # the expensive case unless told otherwise
    assert summary["cameras_sustained"] in (0, 3)
    assert "(1 detector runs)" in result.stdout  # 20 static captures at 10/s: no periodic check
