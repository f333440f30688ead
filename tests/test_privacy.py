"""Privacy at the edge, on real images with the real detector and face model: masks and blurring."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.config import CameraConfig, ConfigError, PrivacyConfig, config_from_mapping
from edge_agent.detectors import DetectorConfig, DetectorError, create_detector
from edge_agent.privacy import FaceDetector, anonymise_snapshot, blur_boxes, mask_frame
from edge_agent.runner import CameraPipeline
from edge_agent.sources import Frame
from vigie_contract import ModelInfo

SSD_V2 = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
# Where the faces are in the two portraits (pixels x0, y0, x1, y1), read off the images by eye:
# the core is well inside the face, the outline takes in hair, ears and chin with room to spare.
FACES = {
    "grace_hopper.jpg": {"core": (200, 150, 330, 300), "outline": (90, 40, 440, 400)},
    "astronaut.png": {"core": (195, 90, 258, 155), "outline": (130, 20, 325, 225)},
}
# A mean grey-level change this large means the face is gone, not merely re-encoded.
STRONG_CHANGE = 15.0


@pytest.fixture(scope="module")
def detector(models: Path):
    """The real SSD MobileNet v2 detector."""
    return create_detector(DetectorConfig(model=models / SSD_V2))


def camera(privacy: dict | None = None, snapshot: dict | None = None) -> CameraConfig:
    """A camera whose rule fires on the first person seen, motion gating off."""
    document = {
        "id": "portrait",
        "source": {"type": "folder", "path": "/nonexistent"},
        "position": {"lat": 48.85, "lon": 2.35},
        "motion": {"enabled": False},
        "rules": [
            {
                "labels": ["person"],
                "threat_type": "intrusion",
                "severity": "high",
                "confirm_frames": 1,
            }
        ],
        "privacy": privacy or {},
        "snapshot": {"max_width": 1024, "quality": 95, **(snapshot or {})},
    }
    return CameraConfig.model_validate(document)


def run_once(config: CameraConfig, detector, image: np.ndarray):
    """The alerts the camera's pipeline raises on one frame."""
    pipeline = CameraPipeline(config, "agent-1", detector, ModelInfo(name="ssd"))
    return pipeline.process(Frame(image=image, captured_at=T0))


def decode(jpeg: bytes) -> np.ndarray:
    """A JPEG's pixels."""
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def region(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels of a box, as signed integers."""
    x0, y0, x1, y1 = box
    return image[y0:y1, x0:x1].astype(int)


def outside(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels outside a box, as signed integers."""
    keep = np.ones(image.shape[:2], dtype=bool)
    x0, y0, x1, y1 = box
    keep[y0:y1, x0:x1] = False
    return image[keep].astype(int)


def test_a_mask_over_the_person_leaves_nothing_to_detect(media, detector):
    frame = cv2.imread(str(media / "grace_hopper.jpg"))
    over_the_person = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]

    unmasked = run_once(camera(), detector, frame)
    masked = run_once(camera({"masks": over_the_person}), detector, frame)

    assert len(unmasked) == 1, "the control: the person is found without the mask"
    assert masked == []
    assert detector.detect(mask_frame(frame, over_the_person)) == []


def test_snapshot_pixels_under_a_mask_are_black(media, detector):
    frame = cv2.imread(str(media / "grace_hopper.jpg"))  # 512x600
    # A "window" in the top-right background, away from the face, the person box's edges and labels.
    window = [(0.84, 0.1), (0.95, 0.1), (0.95, 0.5), (0.84, 0.5)]

    alerts = run_once(camera({"masks": [window]}), detector, frame)

    assert len(alerts) == 1 and alerts[0].snapshot is not None
    snapshot = decode(alerts[0].snapshot)
    assert snapshot.shape[:2] == frame.shape[:2]
    # A few pixels in from the polygon's edges, where JPEG blocks mix in the neighbourhood.
    under_mask = region(snapshot, (440, 70, 480, 290))
    assert under_mask.max() <= 24 and under_mask.mean() < 4
    assert region(frame, (440, 70, 480, 290)).mean() > 100, "the control: it was not dark"


@pytest.mark.parametrize("name", sorted(FACES))
def test_blurred_snapshots_hide_the_face_and_keep_the_rest(media, detector, name):
    frame = cv2.imread(str(media / name))
    face = FACES[name]

    blurred = run_once(camera({"blur_faces": True}), detector, frame)
    plain = run_once(camera({"blur_faces": False}), detector, frame)

    assert len(blurred) == len(plain) == 1
    with_blur, without = decode(blurred[0].snapshot), decode(plain[0].snapshot)
    original = frame.astype(int)
    face_change = np.abs(region(with_blur, face["core"]) - region(original, face["core"])).mean()
    assert face_change > STRONG_CHANGE
    # Both snapshots went through the same drawing and JPEG: away from the face they agree.
    rest_change = np.abs(outside(with_blur, face["outline"]) - outside(without, face["outline"]))
    assert rest_change.mean() < 0.5
    assert np.abs(region(without, face["core"]) - region(original, face["core"])).mean() < 5


@pytest.mark.parametrize("name", sorted(FACES))
def test_the_face_model_finds_the_face_inside_its_outline(media, name):
    frame = cv2.imread(str(media / name))
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = FACES[name]["outline"]
    cx0, cy0, cx1, cy1 = FACES[name]["core"]

    boxes = FaceDetector(min_score=0.5).detect(frame)

    assert boxes
    for bx0, by0, bx1, by1 in boxes:
        assert x0 <= bx0 * width <= cx0 and cx1 <= bx1 * width <= x1
        assert y0 <= by0 * height <= cy0 and cy1 <= by1 * height <= y1


def test_no_face_in_a_scene_without_people(media):
    frame = cv2.imread(str(media / "coco_000000475678_suitcases.jpg"))
    assert FaceDetector(min_score=0.5).detect(frame) == []


def test_bystanders_are_blurred_but_not_the_threat(media):
    frame = cv2.imread(str(media / "coco_000000520707_hall_luggage.jpg"))  # 640x480
    bystander = (0.05, 0.2, 0.3, 0.9)
    config = PrivacyConfig(blur_faces=False, blur_other_persons=True)

    result = anonymise_snapshot(frame, config, [], [bystander])

    pixels = (32, 96, 192, 432)
    assert np.abs(region(result, pixels) - region(frame, pixels)).mean() > STRONG_CHANGE
    assert np.array_equal(outside(result, pixels), outside(frame, pixels))
    unchanged = anonymise_snapshot(frame, PrivacyConfig(blur_faces=False), [], [bystander])
    assert np.array_equal(unchanged, frame)


def test_blurring_leaves_the_input_frame_alone(media):
    frame = cv2.imread(str(media / "astronaut.png"))
    before = frame.copy()
    blur_boxes(frame, [(0.2, 0.2, 0.6, 0.6)])
    mask_frame(frame, [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]])
    assert np.array_equal(frame, before)


def test_privacy_is_on_by_default_and_checked(tmp_path, models):
    base = {
        "agent_id": "agent-1",
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "detector": {"model": str(models / SSD_V2)},
    }
    cam = camera().model_dump(mode="json", exclude={"privacy"})
    config = config_from_mapping({**base, "cameras": [cam]}, base_dir=tmp_path)
    assert config.cameras[0].privacy.blur_faces is True
    assert config.cameras[0].privacy.masks == []

    two_points = {**cam, "privacy": {"masks": [[[0.1, 0.1], [0.2, 0.2]]]}}
    with pytest.raises(ConfigError, match=r"cameras\.0\.privacy\.masks\.0"):
        config_from_mapping({**base, "cameras": [two_points]}, base_dir=tmp_path)
    off_frame = {**cam, "privacy": {"masks": [[[0.1, 0.1], [1.5, 0.2], [0.3, 0.9]]]}}
    with pytest.raises(ConfigError, match=r"cameras\.0\.privacy\.masks\.0\.1\.0"):
        config_from_mapping({**base, "cameras": [off_frame]}, base_dir=tmp_path)


def test_a_missing_face_model_is_a_clear_error(tmp_path):
    with pytest.raises(DetectorError, match="model file not found"):
        FaceDetector(min_score=0.5, model_path=tmp_path / "absent.tflite")
