"""Privacy at the edge: masks blacked out on every frame, faces and bystanders blurred in snapshots.

The face detector is MediaPipe's BlazeFace full-range model (Apache-2.0), fetched once by
`vigie-agent fetch-face-model` (provenance and pins: edge_agent/face_model.py); the agent refuses
to start without it when a camera blurs faces, and never downloads it at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge_agent.config import AgentConfig, PrivacyConfig
from edge_agent.detectors.runtime import RuntimeName, load_model
from edge_agent.face_model import check_face_model, default_face_model

# BlazeFace full-range: a 192x192 input, one anchor per cell of a 48x48 grid (stride 4).
FACE_INPUT_SIZE = 192
FACE_GRID = 48
# A face box covers eyes to chin; the margin takes in hair, ears and the jaw line too.
FACE_MARGIN = 0.25
# Blocks across a blurred region: few enough that nobody can be recognised.
MOSAIC_BLOCKS = 6
MASK_COLOUR = (0, 0, 0)

Box = tuple[float, float, float, float]  # normalised x0, y0, x1, y1


def mask_frame(image_bgr: np.ndarray, masks: Sequence[Sequence[tuple[float, float]]]) -> np.ndarray:
    """The frame with every mask polygon (normalised points) filled black; the frame if none."""
    if not masks:
        return image_bgr
    height, width = image_bgr.shape[:2]
    polygons = [
        np.array([(round(x * width), round(y * height)) for x, y in polygon], dtype=np.int32)
        for polygon in masks
    ]
    masked = image_bgr.copy()
    cv2.fillPoly(masked, polygons, MASK_COLOUR)
    return masked


def blur_boxes(image_bgr: np.ndarray, boxes: Sequence[Box], margin: float = 0.0) -> np.ndarray:
    """A copy of the image with each box (grown by `margin` of its size) made a coarse mosaic."""
    blurred = image_bgr.copy()
    height, width = blurred.shape[:2]
    for x0, y0, x1, y1 in boxes:
        grow_x, grow_y = (x1 - x0) * margin, (y1 - y0) * margin
        left, right = round(max(0.0, x0 - grow_x) * width), round(min(1.0, x1 + grow_x) * width)
        top, bottom = round(max(0.0, y0 - grow_y) * height), round(min(1.0, y1 + grow_y) * height)
        if right - left < 2 or bottom - top < 2:
            continue
        region = blurred[top:bottom, left:right]
        blurred[top:bottom, left:right] = _mosaic(region)
    return blurred


def _mosaic(region: np.ndarray) -> np.ndarray:
    height, width = region.shape[:2]
    scale = MOSAIC_BLOCKS / max(height, width)
    small = cv2.resize(
        region,
        (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA,
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


class FaceDetector:
    """Faces in a BGR frame, as normalised boxes, by the BlazeFace full-range model."""

    def __init__(
        self, min_score: float, model_path: Path | None = None, runtime: RuntimeName = "auto"
    ) -> None:
        model = load_model(model_path or default_face_model(), runtime, threads=1)
        self._interpreter = model.interpreter
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        # The regressor has 16 values per anchor (box + 6 key points), the classifier one.
        self._boxes = next(o["index"] for o in outputs if o["shape"][-1] == 16)
        self._scores = next(o["index"] for o in outputs if o["shape"][-1] == 1)
        # A logit threshold spares computing a sigmoid on every anchor.
        self._min_logit = float(np.log(min_score / (1.0 - min_score))) if min_score < 1 else 1e9
        cells = (np.arange(FACE_GRID, dtype=np.float32) + 0.5) / FACE_GRID
        column, row = np.meshgrid(cells, cells)
        self._anchors = np.stack([column.ravel(), row.ravel()], axis=1)

    def detect(self, image_bgr: np.ndarray) -> list[Box]:
        """Boxes of the faces found, normalised to the frame (overlapping boxes are kept)."""
        height, width = image_bgr.shape[:2]
        side = max(height, width)
        # Letterboxed into a square at the top-left, so that faces keep their proportions.
        square = np.zeros((side, side, 3), dtype=np.uint8)
        square[:height, :width] = image_bgr
        rgb = cv2.cvtColor(
            cv2.resize(square, (FACE_INPUT_SIZE, FACE_INPUT_SIZE), interpolation=cv2.INTER_AREA),
            cv2.COLOR_BGR2RGB,
        )
        tensor = (rgb.astype(np.float32) / 127.5 - 1.0)[np.newaxis]
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        logits = self._interpreter.get_tensor(self._scores)[0, :, 0]
        raw = self._interpreter.get_tensor(self._boxes)[0]
        boxes = []
        for index in np.flatnonzero(logits >= self._min_logit):
            centre_x, centre_y, box_w, box_h = raw[index, :4] / FACE_INPUT_SIZE
            centre_x += self._anchors[index, 0]
            centre_y += self._anchors[index, 1]
            boxes.append(
                _clipped(
                    (centre_x - box_w / 2) * side / width,
                    (centre_y - box_h / 2) * side / height,
                    (centre_x + box_w / 2) * side / width,
                    (centre_y + box_h / 2) * side / height,
                )
            )
        return boxes


def _clipped(x0: float, y0: float, x1: float, y1: float) -> Box:
    return (
        float(np.clip(x0, 0.0, 1.0)),
        float(np.clip(y0, 0.0, 1.0)),
        float(np.clip(x1, 0.0, 1.0)),
        float(np.clip(y1, 0.0, 1.0)),
    )


def anonymise_snapshot(
    image_bgr: np.ndarray,
    config: PrivacyConfig,
    faces: Sequence[Box],
    bystanders: Sequence[Box] = (),
) -> np.ndarray:
    """The frame to put in a snapshot: bystanders' boxes (if configured) and `faces` blurred.

    Faces are found on the unblurred frame (FaceDetector), so a blurred bystander hides none.
    """
    image = image_bgr
    if config.blur_other_persons and bystanders:
        image = blur_boxes(image, bystanders)
    if config.blur_faces and faces:
        image = blur_boxes(image, faces, margin=FACE_MARGIN)
    return image


def require_face_model(config: AgentConfig) -> None:
    """Refuse to start (FaceModelError) when a camera blurs faces and face_model is not usable."""
    # Without the model a snapshot would leave with its faces clear: never start like that.
    if any(camera.snapshot.enabled and camera.privacy.blur_faces for camera in config.cameras):
        check_face_model(config.face_model)
