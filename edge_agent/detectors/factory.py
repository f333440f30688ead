"""Building a detector from its config: runtime, decoder and label map."""

from __future__ import annotations

from typing import Any, Literal

from edge_agent.detectors.base import Detector, DetectorError
from edge_agent.detectors.catalog import default_label_path
from edge_agent.detectors.config import DetectorConfig
from edge_agent.detectors.labels import load_label_map
from edge_agent.detectors.runtime import load_model
from edge_agent.detectors.ssd import SsdDetector, is_ssd_output
from edge_agent.detectors.yolox import YoloxDetector, is_yolox_output


def infer_decoder(outputs: list[dict[str, Any]]) -> Literal["ssd", "yolox"]:
    """The decoder that fits a model's output tensor details, else a DetectorError."""
    if is_ssd_output(outputs):
        return "ssd"
    if is_yolox_output(outputs):
        return "yolox"
    shapes = [list(detail["shape"]) for detail in outputs]
    raise DetectorError(
        f"no decoder fits outputs {shapes}: ssd needs [1,N,4], [1,N], [1,N], [1] "
        "(TFLite_Detection_PostProcess), yolox needs one [1, N, 5 + classes] raw head"
    )


def create_detector(config: DetectorConfig) -> Detector:
    """Load the model and label map named by the config; a DetectorError says what is wrong."""
    model = load_model(config.model, config.runtime, config.threads)
    decoder = config.decoder
    if decoder == "auto":
        decoder = infer_decoder(model.interpreter.get_output_details())
    label_path = config.labels or default_label_path(config.model, model.sha256)
    labels = load_label_map(label_path, config.label_offset)
    if decoder == "ssd":
        return SsdDetector(model, labels, config.score_threshold)
    return YoloxDetector(model, labels, config.score_threshold, config.nms_iou)
