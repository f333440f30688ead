"""Benchmark of the agent's per-frame pipeline against the bare detector, on real footage.

For each model: frames/s through decode → motion → preprocess → invoke → decode → policy, and
the bare Interpreter.invoke() rate of the same model in the same run. For the first model: the
CPU time a static scene costs with and without motion gating, and how many cameras one agent
sustains at one capture per second each (every capture inferred), against the invoke rate.

    .venv/bin/python bench/agent_pipeline.py [--models a.tflite,b.tflite] [--frames 300]

The last line is one parseable summary: BENCH_SUMMARY {json}.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
from edge_agent.runner import CameraPipeline, SharedDetector
from edge_agent.sources import Frame
from vigie_contract import ModelInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine  # noqa: E402

DEFAULT_ASSETS = Path(os.environ.get("VIGIE_ASSETS_DIR", REPO.parent / "shared"))
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
CLIP_FPS = 10.0
CLIP_FRAMES = 350  # all of vtest_first350.avi: room for every camera's run without a loop
# Frames decoded ahead of the detector: decoding overlaps inference, as a capture thread would.
PREFETCH = 8


def bench_camera(motion_enabled: bool, snapshots: bool = True) -> CameraConfig:
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
            "snapshot": {"enabled": snapshots},
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


def pool_invoke_fps(models: list[LoadedModel], image: np.ndarray, runs: int) -> float:
    """Bare invoke() calls per second of several interpreters invoked side by side."""
    detectors = [create_detector_on(model) for model in models]
    for detector in detectors:
        detector.detect(image)
    threads = [
        threading.Thread(target=lambda m=model: [m.interpreter.invoke() for _ in range(runs)])
        for model in models
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(models) * runs / (time.perf_counter() - started)


def create_detector_on(model: LoadedModel) -> Detector:
    """A detector wrapping an already loaded model, with its catalog or sibling label map."""
    labels = load_label_map(default_label_path(model.path, model.sha256), 0)
    if infer_decoder(model.interpreter.get_output_details()) == "ssd":
        return SsdDetector(model, labels, score_threshold=0.3)
    return YoloxDetector(model, labels, score_threshold=0.3, nms_iou=0.45)


def pipeline_fps(pipeline: CameraPipeline, clip: Path, count: int) -> tuple[float, int]:
    """Frames per second through the whole pipeline, decoding included, and the alerts made."""
    frames = decoded_frames(clip, count)
    pipeline.process(next(frames))  # warm-up
    started = time.perf_counter()
    processed = alerts = 0
    for frame in frames:
        alerts += len(pipeline.process(frame))
        processed += 1
    return processed / (time.perf_counter() - started), alerts


def static_cpu_s(pipeline: CameraPipeline, image: np.ndarray, count: int) -> float:
    """CPU seconds the pipeline spends on `count` captures of one unchanging frame."""
    started = time.process_time()
    for index in range(count):
        pipeline.process(Frame(image, START + timedelta(seconds=index / CLIP_FPS)))
    return time.process_time() - started


@dataclass
class CameraLoad:
    """N cameras at one capture per second each: what they did in the measured time."""

    cameras: int
    seconds: float
    captures: int
    alerts: int
    late_p99_s: float

    @property
    def captures_per_s(self) -> float:
        """Captures made per second, all cameras together."""
        return self.captures / self.seconds

    @property
    def alerts_per_capture(self) -> float:
        """Confirmed threats (each with a snapshot) per capture."""
        return self.alerts / self.captures if self.captures else 0.0

    @property
    def sustained(self) -> bool:
        """True when the cameras kept (within 5 %) their one capture per second."""
        return self.captures_per_s >= 0.95 * self.cameras


def camera_load(
    shared: SharedDetector,
    model: ModelInfo,
    frames: list[Frame],
    cameras: int,
    seconds: float,
    warmup_s: float,
    snapshots: bool = True,
) -> CameraLoad:
    """Run `cameras` capture loops as the agent does (one thread each, shared detectors): a
    warm-up, then `seconds` measured."""
    # Built before the clock: each loads its own face model, a start-up cost, not a capture's.
    pipelines = [
        CameraPipeline(bench_camera(True, snapshots), "bench", shared, model)
        for _ in range(cameras)
    ]
    stop = threading.Event()
    captures = [0] * cameras
    counted = [0] * cameras
    alerts = [0] * cameras
    lateness: list[float] = []
    began = time.monotonic()
    start, end = began + warmup_s, began + warmup_s + seconds
    # Each camera starts at its own place in the clip and never runs past its end: a jump back
    # to the start would be a new scene, new tracks and a burst of confirmations.
    room = max(1, len(frames) - int((warmup_s + seconds + 2) * CLIP_FPS))

    def run(index: int) -> None:
        pipeline = pipelines[index]
        # Cameras do not capture in step: each starts at its own point of the first second.
        next_capture = began + index / cameras
        if stop.wait(next_capture - time.monotonic()):
            return
        # Only captures that start within the measured time count.
        while (now := time.monotonic()) < end:
            position = (index % room + captures[index] * int(CLIP_FPS)) % len(frames)
            confirmed = pipeline.process(
                Frame(frames[position].image, START + timedelta(seconds=captures[index]))
            )
            captures[index] += 1
            if now >= start:
                lateness.append(now - next_capture)
                counted[index] += 1
                alerts[index] += len(confirmed)
            # As the agent's capture loop: a slow capture delays the next, never a burst.
            next_capture = max(next_capture + 1.0, time.monotonic())
            if stop.wait(next_capture - time.monotonic()):
                return

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(cameras)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, end - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join()
    late = sorted(lateness) or [0.0]
    return CameraLoad(
        cameras, seconds, sum(counted), sum(alerts), late[int(0.99 * (len(late) - 1))]
    )


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    models = DEFAULT_ASSETS / "models"
    default_models = [
        models / "mobilenet_ssd_v2_coco_quant_postprocess.tflite",
        models / "ssd_mobilenet_v1_coco_quant.tflite",
        models / "yolox_nano_320_coco_float32.tflite",
    ]
    parser.add_argument(
        "--models",
        type=lambda text: [Path(part) for part in text.split(",") if part],
        default=default_models,
        help="comma-separated .tflite files; the first one also runs the static and camera tests",
    )
    parser.add_argument(
        "--clip", type=Path, default=DEFAULT_ASSETS / "media" / "vtest_first350.avi"
    )
    parser.add_argument("--frames", type=int, default=300, help="frames through the pipeline")
    parser.add_argument("--invokes", type=int, default=300, help="bare invoke() calls")
    parser.add_argument(
        "--static-frames", type=int, default=300, help="captures of the static scene (10/s)"
    )
    parser.add_argument(
        "--camera-seconds", type=float, default=8.0, help="how long each camera load is measured"
    )
    parser.add_argument(
        "--camera-warmup",
        type=float,
        default=8.0,
        help="seconds each camera load runs before it is measured (0: measure the start, when "
        "every camera confirms the people already in view at once)",
    )
    parser.add_argument(
        "--cameras",
        type=int,
        default=None,
        help="cameras at 1 capture/s (default: 0.8 x the invoke rate, then the invoke rate)",
    )
    parser.add_argument("--threads", type=int, default=2, help="interpreter threads")
    parser.add_argument(
        "--camera-interpreters",
        type=int,
        default=(os.cpu_count() or 1) + 1,
        help="interpreters the cameras share (detector.interpreters; default: one per core, "
        "plus one)",
    )
    parser.add_argument(
        "--camera-threads", type=int, default=1, help="threads of each of those interpreters"
    )
    parser.add_argument(
        "--camera-snapshots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="each confirmed threat makes a snapshot with faces blurred (off: the detector's "
        "capacity alone)",
    )
    return parser


def model_rates(path: Path, args: argparse.Namespace, still: np.ndarray) -> dict:
    """Bare invoke() and whole-pipeline rates of one model."""
    loaded = load_model(path, "auto", args.threads)
    detector = create_detector_on(loaded)
    model = ModelInfo(name=detector.name, sha256=detector.sha256)
    invoke = bare_invoke_fps(loaded, detector, still, args.invokes)
    # The per-frame chain alone, then with a snapshot (faces blurred) for each alert it makes.
    moving = CameraPipeline(bench_camera(True, snapshots=False), "bench", detector, model)
    through, alerts = pipeline_fps(moving, args.clip, args.frames)
    snapping = CameraPipeline(bench_camera(True), "bench", detector, model)
    with_snapshots, _ = pipeline_fps(snapping, args.clip, args.frames)
    print(
        f"{path.name}: bare invoke() {invoke:.1f}/s ({1000 / invoke:.2f} ms); full pipeline "
        f"{through:.1f} frames/s = {through / invoke:.3f} of bare invoke() "
        f"({moving.stats.detector_runs} detector runs for {moving.stats.frames} frames); "
        f"{with_snapshots:.1f} frames/s with a snapshot for each of its {alerts} alerts"
    )
    return {
        "model": path.name,
        "invoke_fps": round(invoke, 2),
        "pipeline_fps": round(through, 2),
        "ratio": round(through / invoke, 3),
        "alerts": alerts,
        "pipeline_with_snapshots_fps": round(with_snapshots, 2),
        "detector": detector,
        "info": model,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args = build_parser().parse_args(argv)
    summary: dict = {
        **machine(),
        "threads": args.threads,
        "frames": args.frames,
        "camera_interpreters": args.camera_interpreters,
        "camera_threads": args.camera_threads,
        "camera_warmup_s": args.camera_warmup,
        "camera_snapshots": args.camera_snapshots,
    }
    print(f"machine: {summary['cpu']}, {summary['cores']} cores; {args.threads} thread(s)")
    capture = cv2.VideoCapture(str(args.clip))
    ok, still = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"cannot read {args.clip}")

    rates = [model_rates(path, args, still) for path in args.models]
    first = rates[0]
    detector, model = first["detector"], first["info"]
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
    frames = list(decoded_frames(args.clip, max(args.frames, CLIP_FRAMES)))
    loaded = [
        load_model(args.models[0], "auto", args.camera_threads)
        for _ in range(args.camera_interpreters)
    ]
    # The limit of the camera test: the same interpreters invoked flat out, side by side.
    limit = pool_invoke_fps(loaded, still, args.invokes)
    pool = SharedDetector([create_detector_on(model) for model in loaded])
    print(
        f"cameras share {args.camera_interpreters} interpreter(s) of {args.camera_threads} "
        f"thread(s), snapshots {'on' if args.camera_snapshots else 'off'}: "
        f"bare invoke() side by side {limit:.1f}/s"
    )
    counts = [args.cameras] if args.cameras else [max(1, round(0.8 * limit)), round(limit)]
    loads = []
    for cameras in counts:
        load = camera_load(
            pool,
            model,
            frames,
            cameras,
            args.camera_seconds,
            args.camera_warmup,
            args.camera_snapshots,
        )
        print(
            f"{cameras} cameras at 1 capture/s: {load.captures_per_s:.1f} captures/s "
            f"({load.captures_per_s / limit:.2f} of the limit), "
            f"{load.alerts_per_capture:.2f} alerts (snapshots) per capture, "
            f"p99 lateness {load.late_p99_s * 1000:.0f} ms: "
            f"{'sustained' if load.sustained else 'NOT sustained'}"
        )
        loads.append(load)
    sustained = max((load.cameras for load in loads if load.sustained), default=0)
    print(f"cameras sustained: {sustained} = {sustained / limit:.2f} x the invoke rate")
    summary |= {
        "models": [
            {key: value for key, value in rate.items() if key not in ("detector", "info")}
            for rate in rates
        ],
        "static_cpu_gated_s": round(gated, 3),
        "static_cpu_ungated_s": round(ungated, 3),
        "gated_share": round(share, 4),
        "camera_loads": [
            {
                "cameras": load.cameras,
                "captures_per_s": round(load.captures_per_s, 2),
                "alerts_per_capture": round(load.alerts_per_capture, 3),
                "late_p99_ms": round(load.late_p99_s * 1000, 1),
                "sustained": load.sustained,
            }
            for load in loads
        ],
        "camera_invoke_fps": round(limit, 2),
        "cameras_sustained": sustained,
        "cameras_per_invoke_rate": round(sustained / limit, 3),
    }
    print("BENCH_SUMMARY " + json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
