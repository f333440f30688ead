"""Benchmark of the agent's per-frame pipeline against the bare detector, on real footage.

Prints frames/s through decode → motion → preprocess → invoke → decode → policy, the bare
Interpreter.invoke() rate of the same model in the same run, and the CPU time a static scene
costs with and without motion gating; the last line is one parseable `SUMMARY key=value ...`.

    .venv/bin/python bench/agent_pipeline.py [--frames 300] [--static-frames 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from edge_agent.config import CameraConfig
from edge_agent.detectors import Detector, load_label_map
from edge_agent.detectors.catalog import default_label_path
from edge_agent.detectors.factory import infer_decoder
from edge_agent.detectors.runtime import LoadedModel, load_model
from edge_agent.detectors.ssd import SsdDetector
from edge_agent.detectors.yolox import YoloxDetector
from edge_agent.runner import CameraPipeline
from edge_agent.sources import Frame
from vigie_contract import ModelInfo

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ASSETS = Path(os.environ.get("VIGIE_ASSETS_DIR", REPO.parent / "shared"))
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
CLIP_FPS = 10.0
# Frames decoded ahead of the detector: decoding overlaps inference, as a capture thread would.
PREFETCH = 8


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_camera(motion_enabled: bool) -> CameraConfig:
    """A camera with a person rule, as a street camera would have."""
    return CameraConfig.model_validate(
        {
            "id": "bench",
            "source": {"type": "folder", "path": "/frames"},
            "position": {"lat": 51.44, "lon": -0.94},
            "rules": [
                {"labels": ["person"], "threat_type": "intrusion", "severity": "low"},
                {
                    "labels": ["bag"],
                    "threat_type": "abandoned_object",
                    "severity": "medium",
                    "kind": "abandoned",
                    "unattended_s": 30,
                },
            ],
            # Any changed pixel counts as motion: the moving clip then runs the detector on
            # every frame, so that frames/s compares like with like.
            "motion": {"enabled": motion_enabled, "min_area_ratio": 0.0},
        }
    )


def decoded_frames(clip: Path, count: int) -> Iterator[Frame]:
    """`count` frames of the clip (looping), decoded on a helper thread ahead of use."""
    frames: queue.Queue[Frame | None] = queue.Queue(maxsize=PREFETCH)

    def decode() -> None:
        capture = cv2.VideoCapture(str(clip))
        for index in range(count):
            ok, image = capture.read()
            if not ok:
                capture.release()
                capture = cv2.VideoCapture(str(clip))
                ok, image = capture.read()
            frames.put(Frame(image, START + timedelta(seconds=index / CLIP_FPS)))
        capture.release()
        frames.put(None)

    threading.Thread(target=decode, name="bench-decode", daemon=True).start()
    while (frame := frames.get()) is not None:
        yield frame


def bare_invoke_fps(model: LoadedModel, detector: Detector, image: np.ndarray, runs: int) -> float:
    """Interpreter.invoke() calls per second on a real frame's input, nothing else."""
    # The detector writes the frame into the interpreter's input tensor, as in the pipeline
    # (the post-processing op's work depends on the picture, so random input would not do).
    detector.detect(image)
    interpreter = model.interpreter
    started = time.perf_counter()
    for _ in range(runs):
        interpreter.invoke()
    return runs / (time.perf_counter() - started)


def create_detector_on(model: LoadedModel) -> Detector:
    """A detector wrapping an already loaded model, with its catalog or sibling label map."""
    labels = load_label_map(default_label_path(model.path, model.sha256), 0)
    if infer_decoder(model.interpreter.get_output_details()) == "ssd":
        return SsdDetector(model, labels, score_threshold=0.3)
    return YoloxDetector(model, labels, score_threshold=0.3, nms_iou=0.45)


def pipeline_fps(pipeline: CameraPipeline, clip: Path, count: int) -> float:
    """Frames per second through the whole pipeline, decoding included."""
    frames = decoded_frames(clip, count)
    pipeline.process(next(frames))  # warm-up
    started = time.perf_counter()
    processed = 0
    for frame in frames:
        pipeline.process(frame)
        processed += 1
    return processed / (time.perf_counter() - started)


def static_cpu_s(pipeline: CameraPipeline, image: np.ndarray, count: int) -> float:
    """CPU seconds the pipeline spends on `count` captures of one unchanging frame."""
    started = time.process_time()
    for index in range(count):
        pipeline.process(Frame(image, START + timedelta(seconds=index / CLIP_FPS)))
    return time.process_time() - started


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    models = DEFAULT_ASSETS / "models"
    parser.add_argument(
        "--model", type=Path, default=models / "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
    )
    parser.add_argument(
        "--clip", type=Path, default=DEFAULT_ASSETS / "media" / "vtest_first350.avi"
    )
    parser.add_argument("--frames", type=int, default=300, help="frames through the pipeline")
    parser.add_argument("--invokes", type=int, default=300, help="bare invoke() calls")
    parser.add_argument(
        "--static-frames", type=int, default=300, help="captures of the static scene (10/s)"
    )
    parser.add_argument("--threads", type=int, default=2, help="interpreter threads")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args = build_parser().parse_args(argv)
    loaded = load_model(args.model, "auto", args.threads)
    detector = create_detector_on(loaded)
    model = ModelInfo(name=detector.name, sha256=detector.sha256)
    cpu, cores = cpu_model(), os.cpu_count() or 0
    print(f"machine: {cpu}, {cores} cores; model {args.model.name}, {args.threads} thread(s)")

    capture = cv2.VideoCapture(str(args.clip))
    ok, still = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"cannot read {args.clip}")

    invoke = bare_invoke_fps(loaded, detector, still, args.invokes)
    print(f"bare invoke():  {invoke:7.1f} /s ({1000 / invoke:.2f} ms)")
    moving = CameraPipeline(bench_camera(motion_enabled=True), "bench", detector, model)
    through = pipeline_fps(moving, args.clip, args.frames)
    ratio = through / invoke
    print(
        f"full pipeline:  {through:7.1f} frames/s, {ratio:.3f} of bare invoke() "
        f"({moving.stats.detector_runs} detector runs for {moving.stats.frames} frames)"
    )
    gated_pipeline = CameraPipeline(bench_camera(motion_enabled=True), "bench", detector, model)
    gated = static_cpu_s(gated_pipeline, still, args.static_frames)
    ungated_pipeline = CameraPipeline(bench_camera(motion_enabled=False), "bench", detector, model)
    ungated = static_cpu_s(ungated_pipeline, still, args.static_frames)
    share = gated / ungated if ungated else float("nan")
    print(
        f"static scene, {args.static_frames} captures: CPU {gated:.3f} s gated "
        f"({gated_pipeline.stats.detector_runs} detector runs) vs {ungated:.3f} s ungated "
        f"({ungated_pipeline.stats.detector_runs} runs): {share:.1%}"
    )
    print(
        f"SUMMARY pipeline_fps={through:.2f} invoke_fps={invoke:.2f} ratio={ratio:.3f} "
        f"static_cpu_gated_s={gated:.3f} static_cpu_ungated_s={ungated:.3f} "
        f"gated_share={share:.4f} frames={args.frames} static_frames={args.static_frames} "
        f"threads={args.threads} cores={cores} cpu={cpu.replace(' ', '_')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
