"""`vigie-agent detect` as a real subprocess on the shared models and grace_hopper.jpg."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OUTPUT_LINE = re.compile(r"(?P<label>[^\t]+)\t(?P<score>\d\.\d{3})\t\[(?P<box>-?\d+(, -?\d+){3})\]")

# (model, label file for --labels or None to let the catalog resolve it)
CASES = [
    ("mobilenet_ssd_v2_coco_quant_postprocess.tflite", None),
    ("mobilenet_ssd_v2_coco_quant_postprocess.tflite", "mobilenet_ssd_v2_coco_labels.txt"),
    ("ssd_mobilenet_v1_coco_quant.tflite", None),
    ("ssd_mobilenet_v1_coco_quant.tflite", "ssd_mobilenet_v1_coco_labels.txt"),
    ("yolox_nano_320_coco_float32.tflite", None),
]


def run_agent(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `vigie-agent` with these arguments through the current interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "edge_agent.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def parse_detections(stdout: str) -> list[tuple[str, float, list[int]]]:
    """The (label, score, pixel box) lines that `detect` prints; any other line fails."""
    detections = []
    for line in stdout.splitlines():
        match = OUTPUT_LINE.fullmatch(line)
        assert match, f"unexpected output line {line!r}"
        box = [int(value) for value in match["box"].split(", ")]
        detections.append((match["label"], float(match["score"]), box))
    return detections


@pytest.mark.parametrize(("model", "labels"), CASES)
def test_detect_prints_the_person(models, media, model, labels):
    args = ["detect", str(media / "grace_hopper.jpg"), "--model", str(models / model)]
    if labels:
        args += ["--labels", str(models / labels)]
    result = run_agent(*args)
    assert result.returncode == 0, result.stderr
    detections = parse_detections(result.stdout)
    people = [d for d in detections if d[0] == "person" and d[1] >= 0.5]
    assert people, f"no person >= 0.5 in {detections}"
    x0, y0, x1, y1 = people[0][2]
    # The person fills the 512x600 portrait: the pixel box must say so.
    assert x1 - x0 > 400 and y1 - y0 > 450, people[0]


@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        (None, [], "model file not found"),
        ("yolox_nano_320_coco_float32.tflite", ["--decoder", "ssd"], "not an SSD model"),
        ("ssd_mobilenet_v1_coco_quant.tflite", ["--threads", "0"], "threads"),
    ],
    ids=["missing-model", "wrong-decoder", "bad-threads"],
)
def test_detect_errors_are_reported_without_a_traceback(models, media, model, extra, message):
    model_path = models / model if model else Path("/nonexistent/model.tflite")
    result = run_agent(
        "detect", str(media / "grace_hopper.jpg"), "--model", str(model_path), *extra
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
