"""SSD models whose graph ends in TFLite_Detection_PostProcess (boxes, classes, scores, count)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edge_agent.detectors.base import Detection, DetectorError, check_frame, clip_box
from edge_agent.detectors.labels import LabelMap
from edge_agent.detectors.preprocess import InputEncoder, image_input
from edge_agent.detectors.runtime import LoadedModel

# MobileNet-SSD inputs are pixels scaled to [-1, 1]. Written as (pixel - 128) / 128, the usual
# uint8 quantisation (scale 1/128, zero point 128) stores the pixels themselves, with no table pass.
SSD_PIXEL_SCALE = (1 / 128,) * 3
SSD_PIXEL_OFFSET = (-1.0,) * 3


def is_ssd_output(output_details: list[dict[str, Any]]) -> bool:
    """True for the post-processing op's outputs: [1,N,4] boxes, [1,N] classes and scores, [1]."""
    shapes = [list(detail["shape"]) for detail in output_details]
    if len(shapes) != 4 or len(shapes[0]) != 3:
        return False
    count = shapes[0][1]
    return shapes == [[1, count, 4], [1, count], [1, count], [1]]


class SsdDetector:
    """Runs an SSD model with built-in post-processing on frames stretched to its input size."""

    def __init__(self, model: LoadedModel, labels: LabelMap, score_threshold: float) -> None:
        outputs = model.interpreter.get_output_details()
        if not is_ssd_output(outputs):
            shapes = [list(detail["shape"]) for detail in outputs]
            raise DetectorError(
                f"{model.path.name} is not an SSD model with TFLite_Detection_PostProcess "
                f"(outputs {shapes}; expected [1,N,4], [1,N], [1,N], [1])"
            )
        detail, height, width = image_input(model.interpreter.get_input_details())
        self.name = model.name
        self.sha256 = model.sha256
        self.labels = labels
        self.score_threshold = score_threshold
        self._interpreter = model.interpreter
        self._input = model.interpreter.tensor(detail["index"])
        self._output_indexes = [output["index"] for output in outputs]
        self._encoder = InputEncoder(SSD_PIXEL_SCALE, SSD_PIXEL_OFFSET, detail)
        self._resized = np.empty((height, width, 3), dtype=np.uint8)

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detections in one BGR frame, sorted by score, highest first."""
        self._write_input(check_frame(frame_bgr))
        self._interpreter.invoke()
        return self._read_detections()

    def _write_input(self, frame_bgr: np.ndarray) -> None:
        height, width = self._resized.shape[:2]
        cv2.resize(frame_bgr, (width, height), dst=self._resized, interpolation=cv2.INTER_LINEAR)
        # The tensor view must not outlive this call: invoke() refuses to run while one exists.
        self._encoder.write(self._resized, self._input()[0])

    def _read_detections(self) -> list[Detection]:
        boxes, classes, scores, count = (
            self._interpreter.get_tensor(index) for index in self._output_indexes
        )
        valid = int(count[0])
        detections = [
            Detection(
                label=self.labels.label(int(class_id)),
                class_id=int(class_id),
                score=float(score),
                box=clip_box(xmin, ymin, xmax, ymax),
            )
            for (ymin, xmin, ymax, xmax), class_id, score in zip(
                boxes[0][:valid], classes[0][:valid], scores[0][:valid], strict=True
            )
            if score >= self.score_threshold
        ]
        return sorted(detections, key=lambda detection: detection.score, reverse=True)
