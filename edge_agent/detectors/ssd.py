"""SSD-style models whose graph ends in TFLite_Detection_PostProcess (SSD MobileNet,
EfficientDet-Lite): boxes, classes, scores and count, in whichever order the model lists them."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_agent.detectors.base import Detection, DetectorError, check_frame, clip_box
from edge_agent.detectors.config import SsdRole
from edge_agent.detectors.labels import LabelMap
from edge_agent.detectors.preprocess import InputEncoder, Letterbox, Preprocessing, image_input
from edge_agent.detectors.runtime import LoadedModel

# MobileNet-SSD inputs are pixels scaled to [-1, 1]. Written as (pixel - 128) / 128, the usual
# uint8 quantisation (scale 1/128, zero point 128) stores the pixels themselves, with no table pass.
SSD_PREPROCESSING = Preprocessing(
    resize="stretch",
    pad_value=0,
    mean=(128.0, 128.0, 128.0),
    std=(128.0, 128.0, 128.0),
    channel_order="rgb",
)
POSTPROCESS_OP = "TFLite_Detection_PostProcess"
# The op's own output order, which its tensors keep in the graph whatever order the
# model's signature lists them in (TF2 exports often list scores first).
OP_OUTPUT_ROLES: tuple[SsdRole, ...] = ("boxes", "classes", "scores", "count")
EXPECTED_SHAPES = "[1,N,4] boxes, [1,N] classes, [1,N] scores, [1] count, in any order"


def shape_of(detail: dict[str, Any]) -> list[int]:
    """A tensor's shape as a list of ints."""
    return [int(size) for size in detail["shape"]]


def is_ssd_output(output_details: list[dict[str, Any]]) -> bool:
    """True for the post-processing op's four outputs: [1,N,4], [1,N] twice and [1], any order."""
    shapes = [shape_of(detail) for detail in output_details]
    boxes = [shape for shape in shapes if len(shape) == 3]
    if len(shapes) != 4 or len(boxes) != 1 or boxes[0][0] != 1 or boxes[0][2] != 4:
        return False
    count = boxes[0][1]
    rest = sorted(shape for shape in shapes if len(shape) != 3)
    return rest == [[1], [1, count], [1, count]]


def ssd_output_indexes(
    output_details: list[dict[str, Any]],
    ops_details: list[dict[str, Any]],
    output_order: tuple[SsdRole, ...] | None = None,
) -> dict[SsdRole, int]:
    """The tensor index of each role: as configured, else from the graph, else from shapes."""
    indexes = [int(detail["index"]) for detail in output_details]
    if output_order is not None:
        return dict(zip(output_order, indexes, strict=True))
    for op in ops_details:
        op_outputs = [int(index) for index in op["outputs"]]
        if op["op_name"] == POSTPROCESS_OP and sorted(op_outputs) == sorted(indexes):
            return dict(zip(OP_OUTPUT_ROLES, op_outputs, strict=True))
    # No graph to read: boxes and count by shape, and the converter numbers the op's
    # outputs in creation order, so classes come before scores.
    by_rank: dict[int, list[int]] = {}
    for detail in output_details:
        by_rank.setdefault(len(detail["shape"]), []).append(int(detail["index"]))
    classes, scores = sorted(by_rank[2])
    return {"boxes": by_rank[3][0], "classes": classes, "scores": scores, "count": by_rank[1][0]}


def ops_details_of(interpreter: Any) -> list[dict[str, Any]]:
    """The interpreter's op list, or nothing on runtimes that do not expose it."""
    read_ops = getattr(interpreter, "_get_ops_details", None)
    if read_ops is None:
        return []
    try:
        return list(read_ops())
    except (ValueError, RuntimeError):
        return []


class SsdDetector:
    """Runs an SSD model with built-in post-processing on frames placed in its input."""

    def __init__(
        self,
        model: LoadedModel,
        labels: LabelMap,
        score_threshold: float,
        preprocessing: Preprocessing = SSD_PREPROCESSING,
        output_order: tuple[SsdRole, ...] | None = None,
    ) -> None:
        outputs = model.interpreter.get_output_details()
        if not is_ssd_output(outputs):
            shapes = [shape_of(detail) for detail in outputs]
            raise DetectorError(
                f"{model.path.name} is not an SSD model with {POSTPROCESS_OP} "
                f"(outputs {shapes}; expected {EXPECTED_SHAPES})"
            )
        detail, height, width = image_input(model.interpreter.get_input_details())
        indexes = ssd_output_indexes(outputs, ops_details_of(model.interpreter), output_order)
        check_roles(indexes, outputs)
        self.name = model.name
        self.sha256 = model.sha256
        self.labels = labels
        self.score_threshold = score_threshold
        self.output_indexes = indexes
        self.preprocessing = preprocessing
        self._interpreter = model.interpreter
        self._input = model.interpreter.tensor(detail["index"])
        self._encoder = InputEncoder(preprocessing, detail)
        self._letterbox = Letterbox(width, height, preprocessing.pad_value, preprocessing.resize)
        self._input_size = np.array([width, height, width, height], dtype=np.float64)

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detections in one BGR frame, sorted by score, highest first."""
        frame_bgr = check_frame(frame_bgr)
        placement = self._letterbox.place(frame_bgr)
        # The tensor view must not outlive this statement: invoke() refuses to run while one exists.
        self._encoder.write(self._letterbox.canvas, self._input()[0])
        self._interpreter.invoke()
        boxes, classes, scores = self._read_outputs()
        # [ymin, xmin, ymax, xmax] of the input -> [x0, y0, x1, y1] input pixels -> frame.
        input_boxes = boxes[:, [1, 0, 3, 2]] * self._input_size
        frame_boxes = placement.to_frame(input_boxes, frame_bgr.shape[1], frame_bgr.shape[0])
        detections = [
            Detection(
                label=self.labels.label(int(class_id)),
                class_id=int(class_id),
                score=float(score),
                box=clip_box(*box),
            )
            for box, class_id, score in zip(frame_boxes, classes, scores, strict=True)
            if score >= self.score_threshold
        ]
        return sorted(detections, key=lambda detection: detection.score, reverse=True)

    def _read_outputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        read = self._interpreter.get_tensor
        valid = int(read(self.output_indexes["count"])[0])
        boxes = read(self.output_indexes["boxes"])[0][:valid]
        classes = read(self.output_indexes["classes"])[0][:valid]
        scores = read(self.output_indexes["scores"])[0][:valid]
        return boxes, classes, scores


def check_roles(indexes: dict[SsdRole, int], output_details: list[dict[str, Any]]) -> None:
    """A DetectorError if a role landed on a tensor of the wrong rank (a bad output_order)."""
    ranks = {"boxes": 3, "classes": 2, "scores": 2, "count": 1}
    shapes = {int(detail["index"]): shape_of(detail) for detail in output_details}
    wrong = [role for role, index in indexes.items() if len(shapes[index]) != ranks[role]]
    if wrong:
        raise DetectorError(
            f"output_order puts {', '.join(wrong)} on a tensor of the wrong shape "
            f"(the model's outputs, in order: {list(shapes.values())})"
        )
