"""Motion gating on real footage: a static scene skips the detector, a moving one does not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from edge_agent.config import CameraConfig, MotionConfig
from edge_agent.detectors import DetectorConfig, create_detector
from edge_agent.motion import MotionGate, motion_mask
from edge_agent.runner import CameraPipeline
from edge_agent.sources import Frame
from vigie_contract import ModelInfo

START = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc)
FPS = 10


@pytest.fixture(scope="module")
def street_frames(media) -> list[np.ndarray]:
    """The first 60 frames of the campus street clip (people walking)."""
    capture = cv2.VideoCapture(str(media / "vtest_first350.avi"))
    frames = []
    while len(frames) < 60:
        ok, image = capture.read()
        assert ok
        frames.append(image)
    capture.release()
    return frames


def timed(images: list[np.ndarray], fps: float = FPS) -> list[Frame]:
    """Frames captured at a steady rate from START."""
    return [
        Frame(image=image, captured_at=START + timedelta(seconds=index / fps))
        for index, image in enumerate(images)
    ]


def gate_runs(gate: MotionGate, frames: list[Frame]) -> list[bool]:
    """Whether the gate let the detector run, per frame."""
    return [gate.check(frame.image, frame.captured_at).run_detector for frame in frames]


def test_a_repeated_frame_runs_the_detector_only_on_its_periodic_check(street_frames):
    frames = timed([street_frames[0]] * 250)  # 25 s of a frozen scene
    runs = gate_runs(MotionGate(MotionConfig(check_interval_s=10)), frames)
    assert [index for index, ran in enumerate(runs) if ran] == [0, 100, 200]


def test_a_street_with_walkers_runs_the_detector_on_every_frame(street_frames):
    gate = MotionGate(MotionConfig(check_interval_s=10))
    results = [gate.check(frame.image, frame.captured_at) for frame in timed(street_frames)]
    assert all(result.run_detector and result.moving for result in results)
    ratios = [result.ratio for result in results[1:]]
    assert min(ratios) >= 0.003 and max(ratios) < 0.2  # a few walkers, not the whole scene


def test_a_mask_over_the_moving_area_makes_the_scene_static(street_frames):
    everything = [[0, 0], [1, 0], [1, 1], [0, 1]]
    gate = MotionGate(MotionConfig(check_interval_s=10, masks=[everything]))
    runs = gate_runs(gate, timed(street_frames))
    assert sum(runs) == 1  # the first frame only: nothing unmasked moves


def test_slow_changes_add_up_against_the_last_detector_run(street_frames):
    # Fade frame 0 into frame 30 in 40 small steps: no single step passes the pixel threshold,
    # but the change since the last detector run does, several times over.
    first, later = street_frames[0].astype(np.float32), street_frames[30].astype(np.float32)
    fading = [
        np.clip(first + (later - first) * step / 40, 0, 255).astype(np.uint8) for step in range(41)
    ]
    gate = MotionGate(MotionConfig(check_interval_s=3600))
    runs = gate_runs(gate, timed(fading))
    assert 2 < sum(runs) < len(runs) // 2


def test_disabled_gating_runs_every_frame_without_measuring(street_frames):
    gate = MotionGate(MotionConfig(enabled=False))
    results = [gate.check(f.image, f.captured_at) for f in timed([street_frames[0]] * 5)]
    assert all(r.run_detector and r.ratio is None for r in results)


def test_a_new_frame_size_starts_over(street_frames):
    gate = MotionGate(MotionConfig())
    assert gate.check(street_frames[0], START).run_detector
    square = cv2.resize(street_frames[0], (384, 384))
    assert gate.check(square, START + timedelta(seconds=0.1)).run_detector


def test_mask_polygons_are_scaled_to_the_small_frame():
    mask = motion_mask((100, 200), [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]])
    assert mask[50, 10] == 0 and mask[50, 190] == 255


def test_the_pipeline_skips_the_real_detector_on_a_static_scene(street_frames, models):
    detector = create_detector(
        DetectorConfig(model=models / "mobilenet_ssd_v2_coco_quant_postprocess.tflite", threads=1)
    )
    camera = CameraConfig.model_validate(
        {
            "id": "campus",
            "source": {"type": "folder", "path": "/frames"},
            "position": {"lat": 51.44, "lon": -0.94},
            "rules": [{"labels": ["person"], "threat_type": "intrusion", "severity": "low"}],
            "motion": {"check_interval_s": 10},
        }
    )
    static = CameraPipeline(camera, "agent-1", detector, ModelInfo(name="ssd"))
    for frame in timed([street_frames[0]] * 100):
        static.process(frame)
    moving = CameraPipeline(camera, "agent-1", detector, ModelInfo(name="ssd"))
    for frame in timed(street_frames):
        moving.process(frame)

    assert (static.stats.frames, static.stats.detector_runs) == (100, 1)
    assert static.stats.last_motion_ratio == 0.0
    assert (moving.stats.frames, moving.stats.detector_runs) == (60, 60)
