"""YOLOX models that output the raw head [1, N, 5 + classes] (anchor-free, strides 8/16/32)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.detectors.labels import LabelMap
from edge_agent.detectors.preprocess import Preprocessing, image_input
from edge_agent.detectors.runtime import LoadedModel
from edge_agent.detectors.yolo import Decoded, RawHeadDetector, nms_per_class

YOLOX_STRIDES = (8, 16, 32)
# The older YOLOX convention this family was trained with: top-left letterbox on grey 114,
# RGB / 255 then ImageNet mean and std (written here in 0-255 pixel units).
YOLOX_PREPROCESSING = Preprocessing(
    resize="letterbox-top-left",
    pad_value=114,
    mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
    std=(0.229 * 255, 0.224 * 255, 0.225 * 255),
    channel_order="rgb",
)


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
) -> Decoded:
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
    return nms_per_class(xywh, kept_scores[finite], class_ids[finite], nms_iou)


@dataclass(frozen=True)
class YoloxHead:
    """YOLOX rows (grid-relative centre, log size, objectness, class probabilities) per cell."""

    grid: np.ndarray
    strides: np.ndarray
    nms_iou: float
    display_name: str = "YOLOX"

    @classmethod
    def for_input(
        cls, width: int, height: int, strides: tuple[int, ...], nms_iou: float
    ) -> YoloxHead:
        """The head of a YOLOX model with this input size and these strides."""
        grid, cell_strides = yolox_grid(height, width, strides)
        return cls(grid=grid, strides=cell_strides, nms_iou=nms_iou)

    def expected_shape(self) -> str:
        """The output shape this head needs, for error messages."""
        return f"[1, {len(self.grid)}, 5 + classes]"

    def fits(self, shape: list[int]) -> bool:
        """Whether a model output of this shape is this head."""
        return len(shape) == 3 and shape[0] == 1 and shape[1] == len(self.grid) and shape[2] > 5

    def decode(self, output: np.ndarray, score_threshold: float) -> Decoded:
        """Boxes [x0, y0, x1, y1] in input pixels, scores and class ids after NMS."""
        return decode_yolox(output[0], self.grid, self.strides, score_threshold, self.nms_iou)


class YoloxDetector(RawHeadDetector):
    """A raw-head YOLOX model with the family's input conventions unless told otherwise."""

    def __init__(
        self,
        model: LoadedModel,
        labels: LabelMap,
        score_threshold: float,
        nms_iou: float,
        preprocessing: Preprocessing = YOLOX_PREPROCESSING,
        strides: tuple[int, ...] = YOLOX_STRIDES,
    ) -> None:
        _, height, width = image_input(model.interpreter.get_input_details())
        head = YoloxHead.for_input(width, height, strides, nms_iou)
        super().__init__(model, labels, head, preprocessing, score_threshold)
