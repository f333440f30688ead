"""The TFLite detectors on the real shared models and images, label maps, catalog and bad input."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.detectors import (
    Detection,
    Detector,
    DetectorConfig,
    DetectorError,
    create_detector,
    load_label_map,
)
from edge_agent.detectors.catalog import CATALOG, default_label_path, find_entry
from edge_agent.detectors.factory import infer_decoder
from edge_agent.detectors.labels import parse_labels
from edge_agent.detectors.preprocess import Letterbox, encoding_table, image_input
from edge_agent.detectors.runtime import load_model
from edge_agent.detectors.yolox import decode_yolox, yolox_grid

SSD_V2 = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
SSD_V1 = "ssd_mobilenet_v1_coco_quant.tflite"
YOLOX = "yolox_nano_320_coco_float32.tflite"
SSD_V2_LABELS = "mobilenet_ssd_v2_coco_labels.txt"  # "<id>  <name>", gaps, no final newline
SSD_V1_LABELS = "ssd_mobilenet_v1_coco_labels.txt"  # 90 plain lines, "n/a" gaps
YOLOX_LABELS = "yolox_coco80_labels.txt"  # "<id>  <name>", CRLF, "Toothbrush"

MODEL_FILES = {"ssd_v2": (SSD_V2, SSD_V2_LABELS), "ssd_v1": (SSD_V1, SSD_V1_LABELS)}
MODEL_FILES["yolox"] = (YOLOX, YOLOX_LABELS)
MODEL_KEYS = list(MODEL_FILES)

# Reference detections (score, box in source pixels) from the shared models and media READMEs.
GRACE = "grace_hopper.jpg"
BACKPACKMAN = "backpackman.jpg"
SUITCASES = "coco_000000475678_suitcases.jpg"
REFERENCE = {
    ("ssd_v2", GRACE, "person"): (0.789, (0, 13, 510, 593)),
    ("ssd_v2", GRACE, "tie"): (0.789, (225, 417, 288, 536)),
    ("ssd_v1", GRACE, "person"): (0.719, (3, 33, 504, 594)),
    ("ssd_v1", GRACE, "tie"): (0.645, (224, 426, 289, 538)),
    ("yolox", GRACE, "person"): (0.941, (8, 20, 512, 593)),
    ("yolox", GRACE, "tie"): (0.778, (221, 414, 294, 529)),
    ("ssd_v1", BACKPACKMAN, "person"): (0.766, (151, 92, 288, 486)),
    ("ssd_v1", BACKPACKMAN, "backpack"): (0.598, (187, 169, 266, 270)),
    ("yolox", BACKPACKMAN, "person"): (0.881, (145, 95, 290, 476)),
    ("yolox", BACKPACKMAN, "backpack"): (0.510, (175, 152, 267, 268)),
    ("ssd_v1", SUITCASES, "suitcase"): (0.777, (441, 114, 617, 440)),
    ("yolox", SUITCASES, "suitcase"): (0.862, (434, 125, 621, 454)),
}


@pytest.fixture(scope="module")
def detectors(models: Path) -> dict[str, Detector]:
    """Each shared model with its own label file, created once for the module."""
    return {
        key: create_detector(DetectorConfig(model=models / model, labels=models / labels))
        for key, (model, labels) in MODEL_FILES.items()
    }


@pytest.fixture(scope="module")
def default_detector(models: Path) -> Detector:
    """The default model (SSD MobileNet v2) with its label file found through the catalog."""
    return create_detector(DetectorConfig(model=models / SSD_V2))


def read_image(media: Path, name: str) -> np.ndarray:
    """A shared test image as a BGR array."""
    frame = cv2.imread(str(media / name), cv2.IMREAD_COLOR)
    assert frame is not None, f"cannot read {name}"
    return frame


def first_traffic_frame(media: Path) -> np.ndarray:
    """The first frame of the shared traffic clip."""
    capture = cv2.VideoCapture(str(media / "traffic_frames.mp4"))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok, "cannot read traffic_frames.mp4"
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


def labelled(detections: list[Detection], label: str, min_score: float) -> list[Detection]:
    """The detections with this label and at least this score."""
    return [d for d in detections if d.label == label and d.score >= min_score]


# --- real models on real images ------------------------------------------------------------


@pytest.mark.parametrize(("key", "image", "label"), list(REFERENCE))
def test_detection_matches_the_reference(detectors, media, key, image, label):
    # The tie and the backpack sit past the label files' gaps and are small and off-centre:
    # finding them in place proves the id mapping and the box axes, not just class 0.
    frame = read_image(media, image)
    detections = detectors[key].detect(frame)
    reference_score, reference_box = REFERENCE[key, image, label]
    found = labelled(detections, label, reference_score - 0.1)
    assert found, f"{key}: no {label} in {detections}"
    best = max(found, key=lambda d: iou(pixel_box(d, frame), reference_box))
    assert iou(pixel_box(best, frame), reference_box) >= 0.7, f"{key}: {best} is off the {label}"
    # A colour-order or normalisation slip still finds objects, but at other scores.
    assert best.score == pytest.approx(reference_score, abs=0.03)


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_grace_hopper_person(detectors, media, key):
    detections = detectors[key].detect(read_image(media, GRACE))
    assert labelled(detections, "person", 0.5), f"{key}: no person >= 0.5 in {detections}"


def test_ssd_v2_with_the_v1_label_file_gives_the_same_labels(detectors, models, media):
    with_v1_labels = create_detector(
        DetectorConfig(model=models / SSD_V2, labels=models / SSD_V1_LABELS)
    )
    for name in (GRACE, SUITCASES, BACKPACKMAN):
        frame = read_image(media, name)
        expected = detectors["ssd_v2"].detect(frame)
        assert expected, f"nothing detected in {name}"
        assert with_v1_labels.detect(frame) == expected


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_unattended_suitcases_are_found(detectors, media, key):
    detections = detectors[key].detect(read_image(media, SUITCASES))
    suitcases = labelled(detections, "suitcase", 0.4)
    assert len(suitcases) >= 3, f"{key}: only {len(suitcases)} suitcases in {detections}"


def test_backpack_on_backpackman_with_the_default_model(default_detector, media):
    frame = read_image(media, BACKPACKMAN)
    detections = default_detector.detect(frame)
    backpacks = labelled(detections, "backpack", 0.5)
    people = labelled(detections, "person", 0.5)
    assert backpacks and people, f"no backpack and person in {detections}"
    x0, y0, x1, y1 = people[0].box
    centre_x = (backpacks[0].box[0] + backpacks[0].box[2]) / 2
    centre_y = (backpacks[0].box[1] + backpacks[0].box[3]) / 2
    assert x0 <= centre_x <= x1 and y0 <= centre_y <= y1, "the backpack is not on the person"


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_traffic_frame_has_a_car(detectors, media, key):
    detections = detectors[key].detect(first_traffic_frame(media))
    assert labelled(detections, "car", 0.5), f"{key}: no car in {detections}"


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_detections_are_sorted_clipped_and_above_threshold(detectors, media, key):
    detector = detectors[key]
    for name in ("kite_and_cold.jpg", "astronaut.png", "coco_000000184324_street.jpg"):
        detections = detector.detect(read_image(media, name))
        assert detections, f"{key}: nothing in {name}"
        scores = [d.score for d in detections]
        assert scores == sorted(scores, reverse=True)
        for d in detections:
            assert d.score >= detector.score_threshold
            assert all(0.0 <= value <= 1.0 for value in d.box)
            assert d.box[0] <= d.box[2] and d.box[1] <= d.box[3]
            assert d.label and d.label == d.label.lower()


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_reused_buffers_do_not_leak_between_frame_sizes(detectors, media, key):
    detector = detectors[key]
    portrait = read_image(media, GRACE)
    first = detector.detect(portrait)
    detector.detect(first_traffic_frame(media))  # a wide frame fills other input pixels
    assert detector.detect(portrait) == first


def test_detector_names_and_hashes(detectors):
    for key, (model, _) in MODEL_FILES.items():
        entry = find_entry(model)
        assert detectors[key].name == Path(model).stem
        assert detectors[key].sha256 == entry.sha256


# --- catalog ------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("entry", CATALOG, ids=lambda entry: entry.file_name)
def test_catalog_matches_the_shared_files(models, entry):
    model_path = models / entry.file_name
    assert model_path.stat().st_size == entry.size
    assert sha256_of(model_path) == entry.sha256
    assert sha256_of(models / entry.label_file) == entry.label_sha256
    loaded = load_model(model_path, "auto", 1)
    interpreter = loaded.interpreter
    decoder = infer_decoder(interpreter.get_output_details(), interpreter.get_input_details())
    assert decoder == entry.decoder
    assert default_label_path(model_path) == models / entry.label_file
    for url in (entry.model_url, entry.label_url):
        assert url.startswith("https://")
        if "raw.githubusercontent.com" in url:
            assert re.search(r"/[0-9a-f]{40}/", url), f"{url} is not pinned to a commit"


def test_renamed_catalog_model_finds_its_label_file_by_hash(tmp_path):
    entry = find_entry(SSD_V1)
    (tmp_path / entry.label_file).write_text("person\n")
    renamed = tmp_path / "detect.tflite"
    assert default_label_path(renamed, entry.sha256) == tmp_path / entry.label_file


@pytest.mark.parametrize("sibling", ["mystery.txt", "labels.txt"])
def test_unknown_model_uses_a_sibling_label_file(models, media, tmp_path, sibling):
    model = tmp_path / "mystery.tflite"
    model.symlink_to(models / SSD_V1)
    (tmp_path / sibling).write_text("human\nbicycle\n")
    detector = create_detector(DetectorConfig(model=model))
    labels = {d.label for d in detector.detect(read_image(media, GRACE))}
    assert "human" in labels
    assert "class_31" in labels  # the tie, which this short file does not name


def test_unknown_model_without_label_file_is_a_clear_error(models, tmp_path):
    model = tmp_path / "mystery.tflite"
    model.symlink_to(models / SSD_V1)
    with pytest.raises(ValueError, match=r"no label file for model .*mystery\.tflite"):
        create_detector(DetectorConfig(model=model))


# --- label maps ---------------------------------------------------------------------------


def write_bytes(tmp_path: Path, data: bytes) -> Path:
    """A label file with exactly these bytes."""
    path = tmp_path / "labels.txt"
    path.write_bytes(data)
    return path


def test_plain_label_file_with_gaps(tmp_path):
    labels = load_label_map(write_bytes(tmp_path, b"person\nn/a\n???\n\nCar\n"))
    assert labels.label(0) == "person"
    assert labels.label(1) == "class_1"
    assert labels.label(2) == "class_2"
    assert labels.label(3) == "class_3"
    assert labels.label(4) == "car"


def test_indexed_label_file_with_crlf_gaps_and_mixed_case(tmp_path):
    labels = load_label_map(write_bytes(tmp_path, b"0  person\r\n2  Car\r\n79  Toothbrush\r\n"))
    assert dict(labels.names) == {0: "person", 2: "car", 79: "toothbrush"}
    assert labels.label(1) == "class_1"


def test_indexed_label_file_without_trailing_newline(tmp_path):
    labels = load_label_map(write_bytes(tmp_path, b"0  person\n1  bicycle\n89  toothbrush"))
    assert labels.label(89) == "toothbrush"
    assert labels.label(88) == "class_88"


def test_label_offset_skips_a_leading_placeholder(tmp_path):
    path = write_bytes(tmp_path, b"???\nperson\nbicycle\n")
    assert load_label_map(path, offset=1).label(0) == "person"
    assert load_label_map(path, offset=1).label(1) == "bicycle"
    assert load_label_map(path).label(0) == "class_0"


def test_negative_offset_and_unknown_ids_never_crash(tmp_path):
    labels = load_label_map(write_bytes(tmp_path, b"person\nbicycle\n"), offset=-1)
    assert labels.label(1) == "person"
    assert labels.label(0) == "class_0"
    assert labels.label(57) == "class_57"


def test_plain_file_with_a_digit_name_stays_plain():
    assert parse_labels("person\n7 up\n") == {0: "person", 1: "7 up"}


def test_shared_label_files_agree(models):
    v1 = load_label_map(models / SSD_V1_LABELS)
    v2 = load_label_map(models / SSD_V2_LABELS)
    yolox = load_label_map(models / YOLOX_LABELS)
    assert dict(v1.names) == dict(v2.names)
    assert len(v2.names) == 80 and len(yolox.names) == 80
    assert sorted(v2.names.values()) == sorted(yolox.names.values())
    assert (v1.label(32), yolox.label(28)) == ("suitcase", "suitcase")
    assert yolox.label(79) == "toothbrush"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no labels"),
        (b"\r\n  \n", "no labels"),
        (b"0  person\n1  bicycle\n1  car\n", r"repeats ids \[1\]"),
        (b"person\n\xff\xfe\xfa\n", "cannot read label file"),
    ],
    ids=["empty", "blank", "duplicate-id", "not-utf8"],
)
def test_bad_label_files_are_clear_errors(tmp_path, data, message):
    with pytest.raises(DetectorError, match=message):
        load_label_map(write_bytes(tmp_path, data))


def test_missing_or_unreadable_label_path(tmp_path):
    with pytest.raises(DetectorError, match="label file not found"):
        load_label_map(tmp_path / "absent.txt")
    with pytest.raises(DetectorError, match="cannot read label file"):
        load_label_map(tmp_path)


# --- preprocessing and decoding -----------------------------------------------------------


def input_detail(dtype: str, quantization: tuple[float, int] = (0.0, 0)) -> dict:
    """Input tensor details as the interpreter reports them, for a 4x4 RGB input."""
    return {"dtype": np.dtype(dtype), "quantization": quantization, "shape": [1, 4, 4, 3]}


def test_uint8_ssd_input_stores_the_pixels_themselves():
    table = encoding_table((1 / 128,) * 3, (-1.0,) * 3, input_detail("uint8", (1 / 128, 128)))
    assert np.array_equal(table[:, 0, 0], np.arange(256))


def test_float_and_int8_inputs_are_encoded_from_the_same_real_values():
    real_scale, real_offset = (1 / 128,) * 3, (-1.0,) * 3
    floats = encoding_table(real_scale, real_offset, input_detail("float32"))
    assert floats[0, 0, 0] == pytest.approx(-1.0)
    assert floats[255, 0, 2] == pytest.approx(127 / 128)
    int8 = encoding_table(real_scale, real_offset, input_detail("int8", (1 / 128, 0)))
    assert (int8[0, 0, 0], int8[128, 0, 1], int8[255, 0, 2]) == (-128, 0, 127)


def test_per_channel_normalisation_follows_rgb_order():
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    table = encoding_table(1 / (255 * std), -mean / std, input_detail("float32"))
    assert table[255, 0] == pytest.approx((1 - mean) / std, rel=1e-6)


def test_unsupported_or_non_image_inputs_are_clear_errors():
    with pytest.raises(DetectorError, match="unsupported input tensor type bool"):
        encoding_table((1.0,) * 3, (0.0,) * 3, input_detail("bool"))
    with pytest.raises(DetectorError, match="image input"):
        image_input([{"shape": np.array([1, 224, 224, 1])}])
    with pytest.raises(DetectorError, match="image input"):
        image_input([])


def test_letterbox_repaints_the_padding_for_a_new_frame_size():
    letterbox = Letterbox(320, 320, fill=114)
    wide = np.zeros((100, 400, 3), np.uint8)
    tall = np.zeros((400, 100, 3), np.uint8)
    assert letterbox.place(wide).scale_x == pytest.approx(0.8)
    assert (letterbox.canvas[:80] == 0).all() and (letterbox.canvas[80:] == 114).all()
    assert letterbox.place(tall).scale_y == pytest.approx(0.8)
    assert (letterbox.canvas[:, :80] == 0).all() and (letterbox.canvas[:, 80:] == 114).all()


def test_yolox_decoding_of_a_known_head():
    grid, strides = yolox_grid(320, 320, (8, 16, 32))
    assert len(grid) == 2100
    head = np.zeros((2100, 85), np.float32)
    cell = 1600 + 20 * 3 + 5  # stride 16 grid, row 3, column 5
    head[cell, :4] = (0.5, 0.5, np.log(4.0), np.log(2.0))
    head[cell, 4], head[cell, 5 + 28] = 0.9, 0.8
    head[cell + 1, :4] = (0.5, 0.5, np.log(4.0), np.log(2.0))  # the same box, weaker: suppressed
    head[cell + 1, 4], head[cell + 1, 5 + 28] = 0.6, 0.8
    head[7, 2:5] = (1e4, 1e4, 0.95)  # absurd logits overflow to an infinite box: dropped
    head[7, 5] = 0.95
    boxes, scores, class_ids = decode_yolox(head, grid, strides, 0.3, 0.45)
    assert class_ids.tolist() == [28]
    assert scores == pytest.approx([0.72])
    # centre ((5 + 0.5) * 16, (3 + 0.5) * 16) = (88, 56), size (64, 32)
    assert boxes[0] == pytest.approx([56.0, 40.0, 120.0, 72.0])


def test_infer_decoder_rejects_unknown_outputs():
    with pytest.raises(DetectorError, match="no decoder fits outputs"):
        infer_decoder([{"shape": np.array([1, 1001])}])


# --- bad models, bad config, bad frames ---------------------------------------------------


def test_missing_model_file(tmp_path):
    with pytest.raises(DetectorError, match="model file not found"):
        create_detector(DetectorConfig(model=tmp_path / "absent.tflite"))


def test_directory_as_model(tmp_path):
    with pytest.raises(DetectorError, match="cannot read model file"):
        create_detector(DetectorConfig(model=tmp_path))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "model file is empty"),
        ("garbage", "is not a usable TFLite model"),
        ("truncated", "is not a usable TFLite model"),
    ],
)
def test_unusable_model_bytes(models, tmp_path, kind, message):
    contents = {
        "empty": b"",
        "garbage": b"this is not a flatbuffer" * 100,
        "truncated": (models / SSD_V1).read_bytes()[:100_000],
    }
    model = tmp_path / "broken.tflite"
    model.write_bytes(contents[kind])
    with pytest.raises(DetectorError, match=message):
        create_detector(DetectorConfig(model=model, labels=models / SSD_V1_LABELS))


@pytest.mark.parametrize(
    ("model", "decoder", "message"),
    [(YOLOX, "ssd", "is not an SSD model"), (SSD_V2, "yolox", "is not a raw-head YOLOX model")],
)
def test_wrong_decoder_for_the_model(models, model, decoder, message):
    with pytest.raises(DetectorError, match=message):
        create_detector(DetectorConfig(model=models / model, decoder=decoder))


def test_missing_runtime_is_a_clear_error(models):
    if importlib.util.find_spec("tflite_runtime") is not None:
        pytest.skip("tflite-runtime is installed here")
    config = DetectorConfig(model=models / SSD_V1, runtime="tflite-runtime")
    with pytest.raises(DetectorError, match="'tflite-runtime' is not installed"):
        create_detector(config)


def test_no_runtime_at_all_is_a_clear_error(models, monkeypatch):
    # None in sys.modules makes an import fail as if the package were not installed.
    for module in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(DetectorError, match="no TFLite runtime is installed"):
        create_detector(DetectorConfig(model=models / SSD_V1))


def test_explicit_ai_edge_litert_runtime(models, media):
    detector = create_detector(DetectorConfig(model=models / SSD_V1, runtime="ai-edge-litert"))
    assert labelled(detector.detect(read_image(media, GRACE)), "person", 0.5)


@pytest.mark.parametrize(
    "fields",
    [{"threads": 0}, {"threads": 17}, {"score_threshold": 1.5}, {"nms_iou": 0}, {"gpu": True}],
    ids=["threads-0", "threads-17", "threshold", "nms-iou", "unknown-field"],
)
def test_invalid_config_is_rejected(fields):
    with pytest.raises(ValidationError):
        DetectorConfig(model=Path("model.tflite"), **fields)


@pytest.mark.parametrize(
    "frame",
    [
        None,
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 10, 3), np.uint8),
    ],
    ids=["none", "gray", "bgra", "float", "empty"],
)
@pytest.mark.parametrize("key", MODEL_KEYS)
def test_bad_frames_are_clear_errors(detectors, key, frame):
    with pytest.raises(DetectorError, match="frame"):
        detectors[key].detect(frame)
