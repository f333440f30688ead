"""Detector plugins: YOLOv5/v8 raw heads, input conventions as config, SSD output order,
the Edge TPU delegate and the tflite-runtime fallback.

No YOLOv5/v8 .tflite exists here and nothing may be downloaded: their decoders are checked on
synthetic head tensors with known boxes, and the detector path they share with YOLOX runs on the
real YOLOX model. tflite-runtime cannot be installed next to numpy 2: its fallback is checked
with the real ai-edge-litert interpreter standing in under the tflite_runtime module name.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.config import ConfigError, config_from_mapping
from edge_agent.detectors import Detection, DetectorConfig, DetectorError, create_detector
from edge_agent.detectors.factory import detector_for, infer_decoder
from edge_agent.detectors.preprocess import InputEncoder, Letterbox, Placement, Preprocessing
from edge_agent.detectors.runtime import LoadedModel, load_model
from edge_agent.detectors.ssd import is_ssd_output, ssd_output_indexes
from edge_agent.detectors.yolo import decode_yolov5, decode_yolov8, grid_cells

SSD_V2 = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
SSD_V1 = "ssd_mobilenet_v1_coco_quant.tflite"
YOLOX = "yolox_nano_320_coco_float32.tflite"
GRACE = "grace_hopper.jpg"
GRACE_PERSON = {  # reference boxes in source pixels, from the shared models README
    YOLOX: (8, 20, 512, 593),
    SSD_V2: (0, 13, 510, 593),
    SSD_V1: (3, 33, 504, 594),
}
CELLS_320 = 2100  # 40x40 + 20x20 + 10x10 cells of a 320x320 input at strides 8, 16, 32


def read_image(media: Path, name: str) -> np.ndarray:
    """A shared test image as a BGR array."""
    frame = cv2.imread(str(media / name), cv2.IMREAD_COLOR)
    assert frame is not None, f"cannot read {name}"
    return frame


def pixel_box(detection: Detection, frame: np.ndarray) -> tuple[float, float, float, float]:
    """A detection's box in the frame's pixels."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = detection.box
    return (x0 * width, y0 * height, x1 * width, y1 * height)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def best_person_iou(detections: list[Detection], frame: np.ndarray, reference: tuple) -> float:
    """The IoU of the person detection closest to the reference box (0 without a person)."""
    people = [d for d in detections if d.label == "person" and d.score >= 0.5]
    return max((iou(pixel_box(d, frame), reference) for d in people), default=0.0)


# --- synthetic YOLOv5 / YOLOv8 heads --------------------------------------------------------

# Four boxes (cx, cy, w, h in 320x320 input pixels), their objectness and one class score each:
# A is kept; B overlaps A in the same class with a lower score (suppressed by NMS); C is A's box
# in another class (kept: NMS is per class); D scores 0.5 x 0.5 = 0.25, under the threshold 0.3.
SYNTHETIC = [
    # (row, cx, cy, w, h, objectness, class, class score)
    (10, 100.0, 60.0, 40.0, 20.0, 0.9, 1, 0.8),  # A: score 0.72
    (11, 101.0, 61.0, 40.0, 20.0, 0.6, 1, 0.8),  # B: 0.48, IoU with A ~0.86
    (12, 100.0, 60.0, 40.0, 20.0, 0.9, 2, 0.7),  # C: 0.63
    (13, 250.0, 250.0, 30.0, 30.0, 0.5, 0, 0.5),  # D: 0.25
]
EXPECTED_SCORES = [0.72, 0.63]
EXPECTED_CLASSES = [1, 2]
EXPECTED_BOXES = [[80.0, 50.0, 120.0, 70.0], [80.0, 50.0, 120.0, 70.0]]
CLASSES = 3


def logit(probability: float) -> float:
    """The logit of a probability."""
    return float(np.log(probability / (1 - probability)))


def yolov5_head(normalised: bool, logits: bool) -> np.ndarray:
    """A [6300, 5 + 3] YOLOv5 head (3 anchors x 2100 cells) holding the synthetic boxes."""
    background = logit(1e-4) if logits else 0.0
    head = np.full((3 * CELLS_320, 5 + CLASSES), background, np.float32)
    head[:, :4] = 0.0
    # Real heads predict a box at every cell: put the centres across the input as they would.
    head[:, 0] = np.linspace(0, 320, len(head))
    head[:, 1] = np.linspace(0, 320, len(head))
    for row, cx, cy, w, h, objectness, class_id, class_score in SYNTHETIC:
        head[row, :4] = (cx, cy, w, h)
        head[row, 4] = logit(objectness) if logits else objectness
        head[row, 5 + class_id] = logit(class_score) if logits else class_score
    if normalised:
        head[:, :4] /= 320.0
    return head


def yolov8_head(normalised: bool, logits: bool) -> np.ndarray:
    """A [4 + 3, 2100] YOLOv8 head holding the synthetic boxes with score = objectness x class."""
    rows = yolov5_head(normalised, logits=False)[:CELLS_320]
    head = np.zeros((4 + CLASSES, CELLS_320), np.float32)
    head[:4] = rows[:, :4].T
    head[4:] = (rows[:, 4:5] * rows[:, 5:]).T
    if logits:
        head[4:] = np.log(np.clip(head[4:], 1e-6, None) / (1 - np.clip(head[4:], 1e-6, None)))
    return head


def assert_expected(decoded: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """The decoded boxes, scores and classes are exactly A and C."""
    boxes, scores, class_ids = decoded
    order = np.argsort(-scores)
    assert class_ids[order].tolist() == EXPECTED_CLASSES
    assert scores[order] == pytest.approx(EXPECTED_SCORES, abs=1e-5)
    assert boxes[order] == pytest.approx(np.array(EXPECTED_BOXES), abs=1e-3)


@pytest.mark.parametrize("normalised", [False, True], ids=["pixels", "normalised"])
@pytest.mark.parametrize("logits", [False, True], ids=["probabilities", "logits"])
def test_yolov5_head_decodes_to_the_known_boxes(normalised, logits):
    head = yolov5_head(normalised, logits)
    assert_expected(decode_yolov5(head, 320, 320, 0.3, 0.45))


@pytest.mark.parametrize("normalised", [False, True], ids=["pixels", "normalised"])
@pytest.mark.parametrize("logits", [False, True], ids=["probabilities", "logits"])
def test_yolov8_head_decodes_to_the_known_boxes(normalised, logits):
    head = yolov8_head(normalised, logits)
    assert_expected(decode_yolov8(head, 320, 320, 0.3, 0.45))


def test_configured_units_and_score_format_override_detection():
    # Told "pixels", normalised boxes stay tiny; told "probabilities", logits are not squashed.
    boxes, _, _ = decode_yolov5(yolov5_head(True, False), 320, 320, 0.3, 0.45, "pixels")
    assert boxes.max() <= 1.0
    assert_expected(decode_yolov5(yolov5_head(True, False), 320, 320, 0.3, 0.45, "normalised"))
    assert_expected(decode_yolov8(yolov8_head(False, True), 320, 320, 0.3, 0.45, "auto", "logits"))
    _, scores, _ = decode_yolov8(yolov8_head(False, False), 320, 320, 0.3, 0.45, "pixels", "logits")
    assert scores.max() < 0.7  # sigmoid(0.72): the probabilities were squashed again


def test_empty_heads_decode_to_nothing():
    for decoded in (
        decode_yolov5(np.zeros((3 * CELLS_320, 85), np.float32), 320, 320, 0.3, 0.45),
        decode_yolov8(np.zeros((84, CELLS_320), np.float32), 320, 320, 0.3, 0.45),
    ):
        assert [len(part) for part in decoded] == [0, 0, 0]


def test_absurd_head_values_never_crash():
    head = yolov5_head(False, False)
    head[20, :5] = (np.inf, np.nan, 1e30, -1e30, 0.99)
    head[20, 5] = 0.99
    boxes, scores, class_ids = decode_yolov5(head, 320, 320, 0.3, 0.45)
    assert len(boxes) == len(scores) == len(class_ids) >= 2


# --- choosing the decoder from shapes -------------------------------------------------------


def details(*shapes: list[int]) -> list[dict[str, Any]]:
    """Tensor details as the interpreter reports them, with these shapes."""
    return [{"shape": np.array(shape), "index": index} for index, shape in enumerate(shapes)]


@pytest.mark.parametrize(
    ("input_size", "output", "decoder"),
    [
        (320, [1, 2100, 85], "yolox"),
        (320, [1, 6300, 85], "yolov5"),
        (320, [1, 84, 2100], "yolov8"),
        (640, [1, 25200, 85], "yolov5"),
        (640, [1, 84, 8400], "yolov8"),
        (640, [1, 8400, 85], "yolox"),
    ],
)
def test_auto_decoder_from_the_output_shape(input_size, output, decoder):
    inputs = details([1, input_size, input_size, 3])
    assert infer_decoder(details(output), inputs) == decoder


def test_ambiguous_or_unknown_heads_are_clear_errors():
    inputs = details([1, 320, 320, 3])
    with pytest.raises(DetectorError, match=r"fit several decoders \(yolox, yolov8\): set decoder"):
        infer_decoder(details([1, 2100, 2100]), inputs)
    with pytest.raises(DetectorError, match=r"no decoder fits outputs.*yolov8 one"):
        infer_decoder(details([1, 1000, 85]), inputs)
    with pytest.raises(DetectorError, match="no decoder fits"):
        infer_decoder(details([1, 2100, 85], [1, 84, 2100]), inputs)


def test_grid_cells():
    assert grid_cells(320, 320, (8, 16, 32)) == CELLS_320
    assert grid_cells(640, 640, (8, 16, 32)) == 8400
    assert grid_cells(320, 320, (8, 16, 32, 64)) == CELLS_320 + 25


# --- input conventions ----------------------------------------------------------------------


def test_centred_letterbox_pads_both_sides_and_maps_boxes_back():
    letterbox = Letterbox(320, 320, fill=7, resize="letterbox-centre")
    placement = letterbox.place(np.zeros((100, 400, 3), np.uint8))
    assert placement == Placement(0.8, 0.8, 0, 120)
    canvas = letterbox.canvas
    assert (canvas[120:200] == 0).all() and (canvas[:120] == 7).all() and (canvas[200:] == 7).all()
    frame_box = placement.to_frame(np.array([[0.0, 120.0, 320.0, 200.0]]), 400, 100)
    assert frame_box[0] == pytest.approx([0.0, 0.0, 1.0, 1.0])
    tall = letterbox.place(np.zeros((400, 100, 3), np.uint8))
    assert tall == Placement(0.8, 0.8, 120, 0)
    assert (canvas[:, 120:200] == 0).all() and (canvas[:, :120] == 7).all()


def test_stretch_maps_input_boxes_back_per_axis():
    letterbox = Letterbox(300, 300, resize="stretch")
    placement = letterbox.place(np.zeros((150, 600, 3), np.uint8))
    assert (placement.scale_x, placement.scale_y) == (0.5, 2.0)
    box = placement.to_frame(np.array([[30.0, 60.0, 150.0, 300.0]]), 600, 150)
    assert box[0] == pytest.approx([0.1, 0.2, 0.5, 1.0])


@pytest.mark.parametrize(("order", "first_channel"), [("rgb", 30), ("bgr", 10)])
def test_channel_order_and_normalisation_reach_the_tensor(order, first_channel):
    detail = {"dtype": np.dtype("float32"), "quantization": (0.0, 0), "shape": [1, 2, 2, 3]}
    preprocessing = Preprocessing("stretch", 0, (0.0, 0.0, 0.0), (255.0, 255.0, 255.0), order)
    image = np.empty((2, 2, 3), np.uint8)
    image[...] = (10, 20, 30)  # B, G, R
    out = np.empty((2, 2, 3), np.float32)
    InputEncoder(preprocessing, detail).write(image, out)
    assert out[0, 0, 0] == pytest.approx(first_channel / 255)
    assert out[0, 0, 1] == pytest.approx(20 / 255)


def test_config_overrides_keep_the_other_defaults(models):
    config = DetectorConfig(model=models / YOLOX, preprocess={"resize": "letterbox-centre"})
    assert create_detector(config).preprocessing == Preprocessing(
        resize="letterbox-centre",
        pad_value=114,
        mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
        std=(0.229 * 255, 0.224 * 255, 0.225 * 255),
        channel_order="rgb",
    )


@pytest.fixture(scope="module")
def yolox_default(models: Path):
    """The real YOLOX model with its default conventions."""
    return create_detector(DetectorConfig(model=models / YOLOX))


def test_yolox_with_its_conventions_spelled_out_in_config_is_the_same_detector(
    models, media, yolox_default
):
    spelled_out = DetectorConfig(
        model=models / YOLOX,
        decoder="yolox",
        preprocess={
            "resize": "letterbox-top-left",
            "pad_value": 114,
            "mean": [123.675, 116.28, 103.53],
            "std": [58.395, 57.12, 57.375],
            "channel_order": "rgb",
        },
    )
    frame = read_image(media, GRACE)
    expected = yolox_default.detect(frame)
    found = create_detector(spelled_out).detect(frame)
    assert [d.label for d in found] == [d.label for d in expected]
    for got, want in zip(found, expected, strict=True):
        assert got.score == pytest.approx(want.score, abs=1e-4)
        assert got.box == pytest.approx(want.box, abs=1e-3)


@pytest.mark.parametrize("resize", ["letterbox-centre", "stretch"])
def test_real_yolox_boxes_land_on_the_person_whatever_the_placement(models, media, resize):
    # The shared detector code un-letterboxes for every placement: the person box must stay put.
    detector = create_detector(DetectorConfig(model=models / YOLOX, preprocess={"resize": resize}))
    frame = read_image(media, GRACE)
    assert best_person_iou(detector.detect(frame), frame, GRACE_PERSON[YOLOX]) >= 0.8


@pytest.mark.parametrize(
    ("decoder", "message"),
    [
        (
            "yolov5",
            r"is not a raw-head YOLOv5 model .*expected \[1, anchors \(2 or more\) x 2100, 5 \+ "
            r"classes\]",
        ),
        ("yolov8", r"is not a raw-head YOLOv8 model .*expected \[1, 4 \+ classes, 2100\]"),
    ],
)
def test_yolo_decoder_on_the_yolox_model_is_a_clear_error(models, decoder, message):
    with pytest.raises(DetectorError, match=message):
        create_detector(DetectorConfig(model=models / YOLOX, decoder=decoder))


def test_yolov8_decoder_on_an_ssd_model_is_a_clear_error(models):
    with pytest.raises(DetectorError, match="is not a raw-head YOLOv8 model"):
        create_detector(DetectorConfig(model=models / SSD_V2, decoder="yolov8"))


def test_other_strides_change_the_expected_grid(models):
    config = DetectorConfig(model=models / YOLOX, decoder="yolox", strides=(8, 16, 32, 64))
    with pytest.raises(DetectorError, match=r"expected \[1, 2125, 5 \+ classes\]"):
        create_detector(config)


@pytest.mark.parametrize(
    "fields",
    [
        {"decoder": "yolov7"},
        {"preprocess": {"resize": "crop"}},
        {"preprocess": {"pad_value": 256}},
        {"preprocess": {"std": [1, 0, 1]}},
        {"preprocess": {"mean": [1, 2]}},
        {"preprocess": {"channel_order": "grb"}},
        {"preprocess": {"gamma": 2}},
        {"strides": []},
        {"box_units": "inches"},
        {"score_format": "odds"},
        {"delegate": "gpu"},
        {"output_order": ["boxes", "boxes", "scores", "count"]},
        {"output_order": ["boxes", "scores", "count"]},
    ],
    ids=lambda fields: next(iter(fields)) + ":" + str(next(iter(fields.values()))),
)
def test_invalid_plugin_settings_are_rejected(fields):
    with pytest.raises(ValidationError):
        DetectorConfig(model=Path("model.tflite"), **fields)


def agent_document(detector: dict[str, Any]) -> dict[str, Any]:
    """A minimal agent config with this detector section."""
    return {
        "agent_id": "agent-1",
        "mqtt": {"url": "mqtt://broker.local:1883"},
        "detector": detector,
        "cameras": [
            {
                "id": "gate",
                "source": {"type": "file", "path": "clip.mp4"},
                "position": {"lat": 48.85, "lon": 2.35},
                "rules": [{"labels": ["person"], "threat_type": "intrusion", "severity": "high"}],
            }
        ],
    }


def test_agent_config_takes_a_new_model_as_config_only(tmp_path):
    detector = {
        "model": "models/yolov8n_320.tflite",
        "labels": "models/coco80.txt",
        "decoder": "yolov8",
        "box_units": "normalised",
        "preprocess": {"resize": "letterbox-centre", "pad_value": 114},
    }
    config = config_from_mapping(agent_document(detector), tmp_path)
    assert config.detector.decoder == "yolov8"
    assert config.detector.model == tmp_path / "models/yolov8n_320.tflite"
    assert config.detector.preprocess.resize == "letterbox-centre"
    assert config.detector.preprocess.mean is None  # the decoder's default


def test_agent_config_names_a_bad_plugin_key(tmp_path):
    detector = {"model": "m.tflite", "preprocess": {"resize": "crop"}, "delegate": "tpu"}
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(agent_document(detector), tmp_path)
    message = str(caught.value)
    assert "detector.preprocess.resize: got 'crop'; allowed values:" in message
    assert "'letterbox-centre'" in message
    assert "detector.delegate: got 'tpu'; allowed values: 'none' or 'edgetpu'" in message


# --- SSD output order (SSD MobileNet, EfficientDet-Lite) ------------------------------------

ROLES_BY_OP = ("boxes", "classes", "scores", "count")


def ssd_details(order: tuple[str, ...], first_index: int = 600) -> list[dict[str, Any]]:
    """Post-processing outputs listed in this order; tensor indexes follow the op's order."""
    shapes = {"boxes": [1, 25, 4], "classes": [1, 25], "scores": [1, 25], "count": [1]}
    return [
        {"shape": np.array(shapes[role]), "index": first_index + ROLES_BY_OP.index(role)}
        for role in order
    ]


def postprocess_op(first_index: int = 600) -> list[dict[str, Any]]:
    """The op list of a model whose TFLite_Detection_PostProcess writes these tensors."""
    outputs = np.arange(first_index, first_index + 4)
    return [
        {"op_name": "CONV_2D", "outputs": np.array([5])},
        {"op_name": "TFLite_Detection_PostProcess", "outputs": outputs},
    ]


EFFICIENTDET_ORDERS = [
    ("boxes", "classes", "scores", "count"),  # TF1 SSD MobileNet
    ("scores", "boxes", "count", "classes"),  # TF2 object detection API exports
    ("boxes", "scores", "classes", "count"),
    ("count", "scores", "classes", "boxes"),
]


@pytest.mark.parametrize("order", EFFICIENTDET_ORDERS, ids="-".join)
def test_ssd_output_order_is_read_from_the_graph_or_the_tensor_numbering(order):
    outputs = ssd_details(order)
    assert is_ssd_output(outputs)
    expected = {role: 600 + ROLES_BY_OP.index(role) for role in ROLES_BY_OP}
    assert ssd_output_indexes(outputs, postprocess_op()) == expected
    assert ssd_output_indexes(outputs, []) == expected


def test_graph_order_wins_over_tensor_numbering():
    # A converter that numbered scores before classes: only the op's own list can tell.
    outputs = ssd_details(("boxes", "classes", "scores", "count"))
    ops = [{"op_name": "TFLite_Detection_PostProcess", "outputs": np.array([600, 602, 601, 603])}]
    indexes = ssd_output_indexes(outputs, ops)
    assert (indexes["classes"], indexes["scores"]) == (602, 601)


def test_configured_output_order_wins():
    outputs = ssd_details(("scores", "boxes", "count", "classes"))
    indexes = ssd_output_indexes(outputs, postprocess_op(), ("classes", "boxes", "count", "scores"))
    assert (indexes["classes"], indexes["scores"]) == (602, 601)


def test_not_ssd_outputs():
    assert not is_ssd_output(details([1, 25, 4], [1, 25], [1, 24], [1]))
    assert not is_ssd_output(details([1, 25, 4], [1, 25], [1, 25]))
    assert not is_ssd_output(details([1, 25, 4], [1, 25, 4], [1, 25], [1]))


class ReorderedOutputs:
    """A real interpreter that lists its outputs in another order (as TF2 exports do) and may
    hide its op list (as older runtimes do); every call reaches the real interpreter."""

    def __init__(self, interpreter: Any, order: list[int], show_ops: bool) -> None:
        self._interpreter = interpreter
        self._order = order
        if show_ops:
            self._get_ops_details = interpreter._get_ops_details

    def get_output_details(self) -> list[dict[str, Any]]:
        """The real details, reordered."""
        real = self._interpreter.get_output_details()
        return [real[position] for position in self._order]

    def __getattr__(self, name: str) -> Any:
        if name == "_get_ops_details":
            raise AttributeError(name)
        return getattr(self._interpreter, name)


@pytest.mark.parametrize("model_name", [SSD_V2, SSD_V1])
@pytest.mark.parametrize("show_ops", [True, False], ids=["graph", "numbering"])
def test_real_ssd_models_listed_scores_first_detect_the_same(models, media, model_name, show_ops):
    config = DetectorConfig(model=models / model_name)
    frame = read_image(media, GRACE)
    expected = create_detector(config).detect(frame)
    loaded = load_model(models / model_name, "auto", 1)
    reordered = ReorderedOutputs(loaded.interpreter, [2, 0, 3, 1], show_ops)  # TF2 order
    model = LoadedModel(loaded.path, loaded.sha256, reordered, loaded.runtime)
    detector = detector_for(model, config)
    assert detector.detect(frame) == expected
    assert best_person_iou(expected, frame, GRACE_PERSON[model_name]) >= 0.7


def test_real_ssd_model_with_a_configured_order(models, media):
    frame = read_image(media, GRACE)
    plain = create_detector(DetectorConfig(model=models / SSD_V2)).detect(frame)
    config = DetectorConfig(model=models / SSD_V2, output_order=ROLES_BY_OP)
    assert create_detector(config).detect(frame) == plain


def test_wrong_configured_order_is_a_clear_error(models):
    config = DetectorConfig(
        model=models / SSD_V2, output_order=("count", "classes", "scores", "boxes")
    )
    with pytest.raises(DetectorError, match="output_order puts count, boxes on a tensor"):
        create_detector(config)


def test_ssd_with_letterbox_keeps_boxes_on_the_frame(models, media):
    config = DetectorConfig(model=models / SSD_V2, preprocess={"resize": "letterbox-centre"})
    frame = read_image(media, GRACE)
    detections = create_detector(config).detect(frame)
    assert best_person_iou(detections, frame, GRACE_PERSON[SSD_V2]) >= 0.8


# --- Edge TPU delegate ----------------------------------------------------------------------


# ai-edge-litert's Delegate.__del__ trips over its own half-built object after a failed load.
IGNORE_DELEGATE_DEL = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@IGNORE_DELEGATE_DEL
def test_edgetpu_delegate_without_the_library_is_a_clear_error(models):
    config = DetectorConfig(model=models / SSD_V2, delegate="edgetpu")
    with pytest.raises(DetectorError) as caught:
        create_detector(config)
    message = str(caught.value)
    assert "delegate 'edgetpu'" in message
    assert "libedgetpu.so.1" in message
    assert "remove 'delegate: edgetpu'" in message


# --- tflite-runtime fallback ----------------------------------------------------------------


def stand_in_runtime(monkeypatch: pytest.MonkeyPatch, interpreter: type) -> None:
    """Install a tflite_runtime package whose interpreter module holds this Interpreter."""
    from ai_edge_litert import interpreter as litert

    package = ModuleType("tflite_runtime")
    module = ModuleType("tflite_runtime.interpreter")
    module.Interpreter = interpreter
    module.load_delegate = litert.load_delegate
    package.interpreter = module
    monkeypatch.setitem(sys.modules, "tflite_runtime", package)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", module)


def test_auto_falls_back_to_tflite_runtime_when_it_is_the_only_runtime(models, media, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter

    frame = read_image(media, GRACE)
    expected = create_detector(DetectorConfig(model=models / SSD_V2)).detect(frame)
    # The real interpreter under tflite-runtime's module name (the same API), and no litert.
    stand_in_runtime(monkeypatch, Interpreter)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    assert load_model(models / SSD_V2, "auto", 1).runtime == "tflite-runtime"
    assert create_detector(DetectorConfig(model=models / SSD_V2)).detect(frame) == expected
    explicit = DetectorConfig(model=models / SSD_V2, runtime="tflite-runtime")
    assert create_detector(explicit).detect(frame) == expected


def test_auto_prefers_ai_edge_litert(models, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter

    stand_in_runtime(monkeypatch, Interpreter)
    assert load_model(models / SSD_V2, "auto", 1).runtime == "ai-edge-litert"


class Numpy2Failure:
    """tflite-runtime 2.14 as it behaves next to numpy 2 (seen here): it imports, then fails."""

    def __init__(self, **_: Any) -> None:
        raise SystemError(
            "<built-in method CreateWrapperFromFile of PyCapsule object> "
            "returned a result with an exception set"
        )


def test_tflite_runtime_built_for_numpy_1_is_a_clear_error(models, monkeypatch):
    stand_in_runtime(monkeypatch, Numpy2Failure)
    config = DetectorConfig(model=models / SSD_V1, runtime="tflite-runtime")
    with pytest.raises(
        DetectorError, match=r"the tflite-runtime runtime cannot run here .*numpy<2"
    ):
        create_detector(config)


@IGNORE_DELEGATE_DEL
def test_edgetpu_through_tflite_runtime_is_the_same_clear_error(models, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter

    stand_in_runtime(monkeypatch, Interpreter)
    config = DetectorConfig(model=models / SSD_V1, runtime="tflite-runtime", delegate="edgetpu")
    with pytest.raises(DetectorError, match=r"delegate 'edgetpu': cannot load libedgetpu\.so\.1"):
        create_detector(config)
