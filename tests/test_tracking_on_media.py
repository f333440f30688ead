"""The tracker on the real street clip at the agent's usual 1 capture a second, real detector.

`vtest_first350.avi` (10 fps, 35 s) shows 3-9 walkers at a time on a campus path; far walkers
are 0.04 of the frame wide and move 2-3 box widths a second, so their boxes do not overlap from
one capture to the next.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import pytest

from edge_agent.config import CameraConfig
from edge_agent.detectors import DetectorConfig, create_detector
from edge_agent.runner import CameraPipeline
from edge_agent.sources import Frame
from vigie_contract import ModelInfo

START = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc)
MODEL_FILE = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
CLIP_FPS = 10
# Measured with SSD MobileNet v2: 20 to 27 person track ids over the 10 ways of taking one frame
# a second (23 from frame 0), for roughly 15 people; the IoU-only tracker made 127 to 139 (129).
# 45 leaves room for another runtime's rounding, and still fails the IoU-only tracker 3 times over.
MAX_PERSON_IDS = 45
# The longest person track covers 29 to 34 of the 35 captures (a walker who stops by the lamp
# post, then walks on); the IoU-only tracker's longest covered 12 to 16.
MIN_LONGEST_TRACK = 20


def one_capture_a_second(path: Path) -> list:
    """Every tenth frame of the 10 fps clip."""
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % CLIP_FPS == 0:
            frames.append(image)
        index += 1
    capture.release()
    return frames


@pytest.fixture(scope="module")
def person_tracks(media: Path, models: Path) -> dict[int, int]:
    """Each person track id of the clip at 1 capture a second, with its hits."""
    camera = CameraConfig.model_validate(
        {
            "id": "street",
            "source": {"type": "folder", "path": "/frames"},
            "position": {"lat": 51.44, "lon": -0.94},
            "rules": [{"labels": ["person"], "threat_type": "intrusion", "severity": "low"}],
            "motion": {"enabled": False},
            "snapshot": {"enabled": False},
        }
    )
    detector = create_detector(DetectorConfig(model=models / MODEL_FILE, threads=2))
    pipeline = CameraPipeline(camera, "test", detector, ModelInfo(name="ssd", sha256="0" * 64))
    hits: dict[int, int] = {}
    for second, image in enumerate(one_capture_a_second(media / "vtest_first350.avi")):
        pipeline.process(Frame(image=image, captured_at=START + timedelta(seconds=second)))
        for track in pipeline.policy.tracks:
            if track.detection.label == "person":
                hits[track.track_id] = track.hits
    return hits


def test_walkers_keep_their_ids_at_one_capture_a_second(person_tracks):
    assert len(person_tracks) <= MAX_PERSON_IDS


def test_a_walker_is_followed_across_most_of_the_clip(person_tracks):
    assert max(person_tracks.values()) >= MIN_LONGEST_TRACK
