"""YOLOX models that output the raw head [1, N, 5 + classes] (anchor-free, strides 8/16/32)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edge_agent.detectors.base import Detection, DetectorError, check_frame, clip_box
from edge_agent.detectors.labels import LabelMap
from edge_agent.detectors.preprocess import InputEncoder, Letterbox, image_input
from edge_agent.detectors.runtime import LoadedModel

YOLOX_STRIDES = (8, 16, 32)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])
LETTERBOX_FILL = 114


def is_yolox_output(output_details: list[dict[str, Any]]) -> bool:
    """True for a single [1, N, 5 + classes] output (box 4, objectness 1, class scores)."""
    shapes = [list(detail["shape"]) for detail in output_details]
    return len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][0] == 1 and shapes[0][2] > 5


def yolox_grid(height: int, width: int, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets (N, 2) as (x, y) and cell strides (N, 1), in the head's row order."""
    offsets, cell_strides = [], []
    for stride in strides:
        rows, cols = height // stride, width // stride
        ys, xs = np.mgrid[0:rows, 0:cols]
        offsets.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        cell_strides.append(np.full((rows * cols, 1), stride))
    return (
        np.concatenate(offsets).astype(np.float32),
        np.concatenate(cell_strides).astype(np.float32),
    )


def decode_yolox(
    head: np.ndarray,
    grid: np.ndarray,
    strides: np.ndarray,
    score_threshold: float,
    nms_iou: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes [x0, y0, x1, y1] in input pixels, scores and class ids kept by per-class NMS."""
    # Class probabilities are at most 1, so only cells whose objectness passes can score enough.
    objects = np.flatnonzero(head[:, 4] >= score_threshold)
    scores = head[objects, 4:5] * head[objects, 5:]  # objectness x class probability (sigmoids)
    rows, class_ids = np.nonzero(scores >= score_threshold)
    kept_scores = scores[rows, class_ids]
    cells = objects[rows]
    centres = (head[cells, 0:2] + grid[cells]) * strides[cells]
    with np.errstate(over="ignore"):  # absurd logits give infinite sizes, dropped below
        sizes = np.exp(head[cells, 2:4]) * strides[cells]
    finite = np.isfinite(sizes).all(axis=1)
    corners = centres - sizes / 2
    xywh = np.concatenate([corners, sizes], axis=1)[finite]
    kept_scores, class_ids = kept_scores[finite], class_ids[finite]
    keep = np.asarray(
        cv2.dnn.NMSBoxesBatched(xywh, kept_scores, class_ids, score_threshold, nms_iou),
        dtype=np.int64,
    ).reshape(-1)
    boxes = xywh[keep]
    boxes[:, 2:] += boxes[:, :2]
    return boxes, kept_scores[keep], class_ids[keep]


class YoloxDetector:
    """Runs a raw-head YOLOX model on letterboxed frames and decodes its output with NMS."""

    def __init__(
        self, model: LoadedModel, labels: LabelMap, score_threshold: float, nms_iou: float
    ) -> None:
        outputs = model.interpreter.get_output_details()
        detail, height, width = image_input(model.interpreter.get_input_details())
        grid, strides = yolox_grid(height, width, YOLOX_STRIDES)
        shapes = [list(output["shape"]) for output in outputs]
        if not is_yolox_output(outputs) or shapes[0][1] != len(grid):
            raise DetectorError(
                f"{model.path.name} is not a raw-head YOLOX model (outputs {shapes}; expected "
                f"[1, {len(grid)}, 5 + classes] for a {width}x{height} input)"
            )
        self.name = model.name
        self.sha256 = model.sha256
        self.labels = labels
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self._interpreter = model.interpreter
        self._input = model.interpreter.tensor(detail["index"])
        self._output = model.interpreter.tensor(outputs[0]["index"])
        self._grid = grid
        self._strides = strides
        # The older YOLOX convention this head was trained with: RGB / 255, ImageNet mean/std.
        self._encoder = InputEncoder(
            1 / (255 * IMAGENET_STD), -IMAGENET_MEAN / IMAGENET_STD, detail
        )
        self._letterbox = Letterbox(width, height, LETTERBOX_FILL)

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detections in one BGR frame, sorted by score, highest first."""
        frame_bgr = check_frame(frame_bgr)
        ratio = self._write_input(frame_bgr)
        self._interpreter.invoke()
        return self._read_detections(ratio, frame_bgr.shape[1], frame_bgr.shape[0])

    def _write_input(self, frame_bgr: np.ndarray) -> float:
        ratio = self._letterbox.place(frame_bgr)
        # The tensor view must not outlive this call: invoke() refuses to run while one exists.
        self._encoder.write(self._letterbox.canvas, self._input()[0])
        return ratio

    def _read_detections(self, ratio: float, width: int, height: int) -> list[Detection]:
        boxes, scores, class_ids = decode_yolox(
            self._output()[0], self._grid, self._strides, self.score_threshold, self.nms_iou
        )
        # Letterboxing put the frame at the top-left, so input pixels / ratio = frame pixels.
        scale = np.array([width, height, width, height]) * ratio
        detections = [
            Detection(
                label=self.labels.label(int(class_id)),
                class_id=int(class_id),
                score=float(score),
                box=clip_box(*(box / scale)),
            )
            for box, score, class_id in zip(boxes, scores, class_ids, strict=True)
        ]
        return sorted(detections, key=lambda detection: detection.score, reverse=True)
