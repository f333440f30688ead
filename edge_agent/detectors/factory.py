"""Building a detector from its config: runtime, decoder plugin, input conventions, label map."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from edge_agent.detectors.base import Detector, DetectorError
from edge_agent.detectors.catalog import default_label_path
from edge_agent.detectors.config import DecoderName, DetectorConfig
from edge_agent.detectors.labels import LabelMap, load_label_map
from edge_agent.detectors.preprocess import Preprocessing, image_input
from edge_agent.detectors.runtime import LoadedModel, load_model
from edge_agent.detectors.ssd import SSD_PREPROCESSING, SsdDetector, is_ssd_output
from edge_agent.detectors.yolo import (
    YOLO_PREPROCESSING,
    RawHeadDetector,
    Yolov5Head,
    Yolov8Head,
    grid_cells,
    has_anchors,
    head_output,
)
from edge_agent.detectors.yolox import YOLOX_PREPROCESSING, YOLOX_STRIDES, YoloxDetector

DEFAULT_PREPROCESSING: dict[DecoderName, Preprocessing] = {
    "ssd": SSD_PREPROCESSING,
    "yolox": YOLOX_PREPROCESSING,
    "yolov5": YOLO_PREPROCESSING,
    "yolov8": YOLO_PREPROCESSING,
}
YoloDecoder = Literal["yolov5", "yolov8"]
YOLO_HEADS: dict[YoloDecoder, type[Yolov5Head] | type[Yolov8Head]] = {
    "yolov5": Yolov5Head,
    "yolov8": Yolov8Head,
}
RAW_HEAD_LAYOUTS = (
    "yolox needs one [1, cells, 5 + classes] head, yolov5 one [1, anchors x cells, 5 + classes], "
    "yolov8 one [1, 4 + classes, cells] (cells: the strides' grid cells)"
)


def raw_head_decoders(
    shape: list[int], height: int, width: int, strides: tuple[int, ...]
) -> list[DecoderName]:
    """The raw YOLO decoders whose layout fits one output shape for this input size."""
    cells = grid_cells(height, width, strides)
    if len(shape) != 3 or shape[0] != 1 or cells == 0:
        return []
    fitting: list[DecoderName] = []
    if shape[1] == cells and shape[2] > 5:
        fitting.append("yolox")
    if shape[2] > 5 and has_anchors(shape[1], cells):
        fitting.append("yolov5")
    if shape[2] == cells and shape[1] > 4:
        fitting.append("yolov8")
    return fitting


def infer_decoder(
    outputs: list[dict[str, Any]],
    inputs: list[dict[str, Any]] | None = None,
    strides: tuple[int, ...] = YOLOX_STRIDES,
) -> DecoderName:
    """The decoder that fits a model's tensor details unambiguously, else a DetectorError.

    Without the input details a single [1, N, 5 + classes] head is taken for YOLOX (the
    catalog's raw head); with them, the grid size tells YOLOX, YOLOv5 and YOLOv8 apart.
    """
    if is_ssd_output(outputs):
        return "ssd"
    shapes = [[int(size) for size in detail["shape"]] for detail in outputs]
    shape = head_output(outputs)
    fitting: list[DecoderName] = []
    if shape is not None and inputs is None:
        fitting = ["yolox"] if len(shape) == 3 and shape[0] == 1 and shape[2] > 5 else []
    elif shape is not None:
        _, height, width = image_input(inputs)
        fitting = raw_head_decoders(shape, height, width, strides)
    if len(fitting) == 1:
        return fitting[0]
    if fitting:
        raise DetectorError(
            f"outputs {shapes} fit several decoders ({', '.join(fitting)}): set decoder"
        )
    raise DetectorError(
        f"no decoder fits outputs {shapes}: ssd needs [1,N,4], [1,N], [1,N], [1] "
        f"(TFLite_Detection_PostProcess), {RAW_HEAD_LAYOUTS}"
    )


def preprocessing_for(decoder: DecoderName, config: DetectorConfig) -> Preprocessing:
    """The decoder family's input conventions with the config's overrides applied."""
    return DEFAULT_PREPROCESSING[decoder].with_overrides(config.preprocess)


def build_ssd(model: LoadedModel, labels: LabelMap, config: DetectorConfig) -> Detector:
    """An SSD (or EfficientDet-Lite) detector with built-in post-processing."""
    preprocessing = preprocessing_for("ssd", config)
    return SsdDetector(model, labels, config.score_threshold, preprocessing, config.output_order)


def build_yolox(model: LoadedModel, labels: LabelMap, config: DetectorConfig) -> Detector:
    """A raw-head YOLOX detector."""
    preprocessing = preprocessing_for("yolox", config)
    return YoloxDetector(
        model, labels, config.score_threshold, config.nms_iou, preprocessing, config.strides
    )


def build_yolo(
    model: LoadedModel, labels: LabelMap, config: DetectorConfig, decoder: YoloDecoder
) -> Detector:
    """A raw-head YOLOv5 or YOLOv8 detector."""
    _, height, width = image_input(model.interpreter.get_input_details())
    cells = grid_cells(height, width, config.strides)
    head = YOLO_HEADS[decoder](
        width, height, cells, config.nms_iou, config.box_units, config.score_format
    )
    preprocessing = preprocessing_for(decoder, config)
    return RawHeadDetector(model, labels, head, preprocessing, config.score_threshold)


# The decoder plugins: a model with one of these layouts needs only a config entry.
DECODERS: dict[DecoderName, Callable[[LoadedModel, LabelMap, DetectorConfig], Detector]] = {
    "ssd": build_ssd,
    "yolox": build_yolox,
    "yolov5": partial(build_yolo, decoder="yolov5"),
    "yolov8": partial(build_yolo, decoder="yolov8"),
}


def detector_for(model: LoadedModel, config: DetectorConfig) -> Detector:
    """A detector on an already loaded model, decoded and labelled as the config says."""
    decoder = config.decoder
    if decoder == "auto":
        interpreter = model.interpreter
        decoder = infer_decoder(
            interpreter.get_output_details(), interpreter.get_input_details(), config.strides
        )
    label_path = config.labels or default_label_path(config.model, model.sha256)
    labels = load_label_map(label_path, config.label_offset)
    return DECODERS[decoder](model, labels, config)


def create_detector(config: DetectorConfig) -> Detector:
    """Load the model and label map named by the config; a DetectorError says what is wrong."""
    model = load_model(config.model, config.runtime, config.threads, config.delegate)
    return detector_for(model, config)
