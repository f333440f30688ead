"""Raw YOLO heads (YOLOv5 [1, N, 5 + C], YOLOv8 [1, 4 + C, N]) and the detector every raw head
shares: letterboxed input, decoding to input pixels, per-class NMS, boxes back on the frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from edge_agent.detectors.base import Detection, DetectorError, check_frame, clip_box
from edge_agent.detectors.labels import LabelMap
from edge_agent.detectors.preprocess import InputEncoder, Letterbox, Preprocessing, image_input
from edge_agent.detectors.runtime import LoadedModel

# Ultralytics' conventions for YOLOv5 and YOLOv8 exports: centred letterbox on grey 114, RGB / 255.
YOLO_PREPROCESSING = Preprocessing(
    resize="letterbox-centre",
    pad_value=114,
    mean=(0.0, 0.0, 0.0),
    std=(255.0, 255.0, 255.0),
    channel_order="rgb",
)
# Box centres of a head in input pixels reach the input size (>= 32); normalised ones stay near 1.
NORMALISED_COORDINATE_LIMIT = 2.0

BoxUnits = Literal["auto", "pixels", "normalised"]
ScoreFormat = Literal["auto", "probabilities", "logits"]
Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]


def grid_cells(height: int, width: int, strides: tuple[int, ...]) -> int:
    """How many cells an anchor-free head has over all its strides."""
    return sum((height // stride) * (width // stride) for stride in strides)


def nms_per_class(
    xywh: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, nms_iou: float
) -> Decoded:
    """Boxes [x0, y0, x1, y1], scores and class ids that survive NMS within their class."""
    keep = np.asarray(
        cv2.dnn.NMSBoxesBatched(xywh, scores, class_ids, 0.0, nms_iou), dtype=np.int64
    ).reshape(-1)
    boxes = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)[keep]
    boxes[:, 2:] += boxes[:, :2]
    return boxes, scores[keep], class_ids[keep]


def score_cut(score_threshold: float, logits: bool) -> float:
    """The raw value a score must reach: the threshold, or its logit when the head gives logits."""
    if not logits:
        return score_threshold
    with np.errstate(divide="ignore"):  # thresholds 0 and 1 map to -inf and +inf
        return float(np.log(score_threshold) - np.log1p(-score_threshold))


def sigmoid(values: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large negative logits."""
    return 0.5 * (1.0 + np.tanh(0.5 * values))


def gives_logits(scores: np.ndarray, score_format: ScoreFormat) -> bool:
    """Whether raw scores are logits: as configured, or auto: any value outside [0, 1]."""
    if score_format != "auto":
        return score_format == "logits"
    return bool(scores.size) and (float(scores.min()) < 0.0 or float(scores.max()) > 1.0)


def pixel_scale(centres: np.ndarray, width: int, height: int, box_units: BoxUnits) -> np.ndarray:
    """What box values are multiplied by to be input pixels: 1, or the input size if normalised."""
    normalised = box_units == "normalised"
    if box_units == "auto":
        normalised = not centres.size or float(np.abs(centres).max()) <= NORMALISED_COORDINATE_LIMIT
    if normalised:
        return np.array([width, height, width, height], dtype=np.float64)
    return np.ones(4)


def finish(
    cxcywh: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, scale: np.ndarray, nms_iou: float
) -> Decoded:
    """Centre-size boxes scaled to input pixels, then per-class NMS."""
    boxes = np.asarray(cxcywh, dtype=np.float64).reshape(-1, 4) * scale
    boxes[:, :2] -= boxes[:, 2:] / 2
    finite = np.isfinite(boxes).all(axis=1)  # a broken head must not reach NMS
    return nms_per_class(
        boxes[finite], scores[finite].astype(np.float32), class_ids[finite], nms_iou
    )


def decode_yolov5(
    head: np.ndarray,
    width: int,
    height: int,
    score_threshold: float,
    nms_iou: float,
    box_units: BoxUnits = "auto",
    score_format: ScoreFormat = "auto",
) -> Decoded:
    """Boxes [x0, y0, x1, y1] in input pixels, scores and class ids of a [N, 5 + C] head."""
    logits = gives_logits(head[:, 4], score_format)
    cut = score_cut(score_threshold, logits)
    # Class probabilities are at most 1, so only cells whose objectness passes can score enough.
    objects = np.flatnonzero(head[:, 4] >= cut)
    raw = head[objects, 4:]
    probabilities = sigmoid(raw) if logits else raw
    scores = probabilities[:, :1] * probabilities[:, 1:]
    rows, class_ids = np.nonzero(scores >= score_threshold)
    cells = objects[rows]
    scale = pixel_scale(head[:, :2], width, height, box_units)
    return finish(head[cells, :4], scores[rows, class_ids], class_ids, scale, nms_iou)


def decode_yolov8(
    head: np.ndarray,
    width: int,
    height: int,
    score_threshold: float,
    nms_iou: float,
    box_units: BoxUnits = "auto",
    score_format: ScoreFormat = "auto",
) -> Decoded:
    """Boxes [x0, y0, x1, y1] in input pixels, scores and class ids of a [4 + C, N] head."""
    class_scores = head[4:]
    logits = gives_logits(class_scores, score_format)
    class_ids, cells = np.nonzero(class_scores >= score_cut(score_threshold, logits))
    scores = class_scores[class_ids, cells]
    if logits:
        scores = sigmoid(scores)
    scale = pixel_scale(head[:2], width, height, box_units)
    return finish(head[:4, cells].T, scores, class_ids, scale, nms_iou)


class RawHead(Protocol):
    """The decoding of one raw head layout for one input size."""

    display_name: str

    def expected_shape(self) -> str:
        """The output shape this head needs, for error messages."""
        ...

    def fits(self, shape: list[int]) -> bool:
        """Whether a model output of this shape is this head."""
        ...

    def decode(self, output: np.ndarray, score_threshold: float) -> Decoded:
        """Boxes [x0, y0, x1, y1] in input pixels, scores and class ids after NMS."""
        ...


@dataclass(frozen=True)
class _YoloHead:
    """What YOLOv5 and YOLOv8 heads share: input size, cells, NMS and output conventions."""

    width: int
    height: int
    cells: int
    nms_iou: float
    box_units: BoxUnits = "auto"
    score_format: ScoreFormat = "auto"

    def _decode_with(
        self, decoder: Callable[..., Decoded], output: np.ndarray, threshold: float
    ) -> Decoded:
        return decoder(
            output[0],
            self.width,
            self.height,
            threshold,
            self.nms_iou,
            self.box_units,
            self.score_format,
        )


@dataclass(frozen=True)
class Yolov5Head(_YoloHead):
    """YOLOv5-style rows (cx, cy, w, h, objectness, class scores), anchors x cells of them."""

    display_name: str = "YOLOv5"

    def expected_shape(self) -> str:
        """The output shape this head needs, for error messages."""
        return f"[1, anchors (2 or more) x {self.cells}, 5 + classes]"

    def fits(self, shape: list[int]) -> bool:
        """Whether a model output of this shape is this head."""
        return (
            len(shape) == 3 and shape[0] == 1 and shape[2] > 5 and has_anchors(shape[1], self.cells)
        )

    def decode(self, output: np.ndarray, score_threshold: float) -> Decoded:
        """Boxes [x0, y0, x1, y1] in input pixels, scores and class ids after NMS."""
        return self._decode_with(decode_yolov5, output, score_threshold)


@dataclass(frozen=True)
class Yolov8Head(_YoloHead):
    """YOLOv8-style columns: (cx, cy, w, h, class scores) by cell, no objectness."""

    display_name: str = "YOLOv8"

    def expected_shape(self) -> str:
        """The output shape this head needs, for error messages."""
        return f"[1, 4 + classes, {self.cells}]"

    def fits(self, shape: list[int]) -> bool:
        """Whether a model output of this shape is this head."""
        return len(shape) == 3 and shape[0] == 1 and shape[1] > 4 and shape[2] == self.cells

    def decode(self, output: np.ndarray, score_threshold: float) -> Decoded:
        """Boxes [x0, y0, x1, y1] in input pixels, scores and class ids after NMS."""
        return self._decode_with(decode_yolov8, output, score_threshold)


def has_anchors(rows: int, cells: int) -> bool:
    """Whether a head has several anchors per cell (one would be an anchor-free, YOLOX head)."""
    return cells > 0 and rows > cells and rows % cells == 0


class RawHeadDetector:
    """Runs a raw-head YOLO model on letterboxed frames and decodes its output with NMS."""

    def __init__(
        self,
        model: LoadedModel,
        labels: LabelMap,
        head: RawHead,
        preprocessing: Preprocessing,
        score_threshold: float,
    ) -> None:
        outputs = model.interpreter.get_output_details()
        detail, height, width = image_input(model.interpreter.get_input_details())
        shapes = [[int(size) for size in output["shape"]] for output in outputs]
        if len(shapes) != 1 or not head.fits(shapes[0]):
            raise DetectorError(
                f"{model.path.name} is not a raw-head {head.display_name} model (outputs "
                f"{shapes}; expected {head.expected_shape()} for a {width}x{height} input)"
            )
        self.name = model.name
        self.sha256 = model.sha256
        self.labels = labels
        self.score_threshold = score_threshold
        self.head = head
        self.preprocessing = preprocessing
        self._interpreter = model.interpreter
        self._input = model.interpreter.tensor(detail["index"])
        self._output = model.interpreter.tensor(outputs[0]["index"])
        self._encoder = InputEncoder(preprocessing, detail)
        self._letterbox = Letterbox(width, height, preprocessing.pad_value, preprocessing.resize)

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detections in one BGR frame, sorted by score, highest first."""
        frame_bgr = check_frame(frame_bgr)
        placement = self._letterbox.place(frame_bgr)
        # The tensor view must not outlive this statement: invoke() refuses to run while one exists.
        self._encoder.write(self._letterbox.canvas, self._input()[0])
        self._interpreter.invoke()
        boxes, scores, class_ids = self.head.decode(self._output(), self.score_threshold)
        frame_boxes = placement.to_frame(boxes, frame_bgr.shape[1], frame_bgr.shape[0])
        detections = [
            Detection(
                label=self.labels.label(int(class_id)),
                class_id=int(class_id),
                score=float(score),
                box=clip_box(*box),
            )
            for box, score, class_id in zip(frame_boxes, scores, class_ids, strict=True)
        ]
        return sorted(detections, key=lambda detection: detection.score, reverse=True)


def head_output(outputs: list[dict[str, Any]]) -> list[int] | None:
    """The shape of a model's single output, or None if it has several."""
    if len(outputs) != 1:
        return None
    return [int(size) for size in outputs[0]["shape"]]
