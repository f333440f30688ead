"""Known detector models: checksum, decoder, label file and public origin (kept for fetch-model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_agent.detectors.base import DetectorError


@dataclass(frozen=True)
class CatalogEntry:
    """One published model file and the label file that goes with it."""

    file_name: str
    sha256: str
    size: int
    decoder: Literal["ssd", "yolox"]
    label_file: str
    label_sha256: str
    model_url: str
    label_url: str
    license: str


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        file_name="mobilenet_ssd_v2_coco_quant_postprocess.tflite",
        sha256="7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd",
        size=6175408,
        decoder="ssd",
        label_file="mobilenet_ssd_v2_coco_labels.txt",
        label_sha256="93f235896748537fc71325a070ee32e9a0afda2481ceb943559325619763fa6d",
        # Google Coral's CPU build; the file left the tree in 3b625cdd, so pin a commit holding it.
        model_url="https://raw.githubusercontent.com/google-coral/edgetpu/"
        "2217e7d84b1acbb6107b3421f6a709b52a2fc6ff/test_data/"
        "mobilenet_ssd_v2_coco_quant_postprocess.tflite",
        label_url="https://raw.githubusercontent.com/google-coral/edgetpu/"
        "5020de9386ff370dcc1f63291a2d0f98eeb98adb/test_data/coco_labels.txt",
        license="Apache-2.0",
    ),
    CatalogEntry(
        file_name="ssd_mobilenet_v1_coco_quant.tflite",
        sha256="e4b118e5e4531945de2e659742c7c590f7536f8d0ed26d135abcfe83b4779d13",
        size=4183312,
        decoder="ssd",
        label_file="ssd_mobilenet_v1_coco_labels.txt",
        label_sha256="dc183f003fc753c4c43fae6fdf7f387559449573f13fa32e517fb7453fd380f1",
        # TensorFlow's coco_ssd_mobilenet_v1_1.0_quant_2018_06_29 detect.tflite, as the single
        # file MediaPipe pins with this sha256 in third_party/external_files.bzl.
        model_url="https://storage.googleapis.com/mediapipe-assets/"
        "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_no_metadata.tflite"
        "?generation=1677522735292070",
        label_url="https://raw.githubusercontent.com/google-coral/test_data/"
        "104342d2d3480b3e66203073dac24f4e2dbb4c41/coco_labels.txt",
        license="Apache-2.0 (TensorFlow example model; not verified for this file)",
    ),
    CatalogEntry(
        file_name="yolox_nano_320_coco_float32.tflite",
        sha256="ac8e273d1965c4e982fdef73d99ac4defc3ea67edc207a501d7ff9d41f5218b8",
        size=3710384,
        decoder="yolox",
        label_file="yolox_coco80_labels.txt",
        label_sha256="b91ebebaac91c27121d4d75af7454ce520bcfa3736c89a74e6f682dae5e11caf",
        # Removed from the tree in the next commit (4dc46533): pin the commit that has it.
        model_url="https://raw.githubusercontent.com/LBJ-code/yolox-tensorflow-lite/"
        "6237eaa6126792c8d8a34e07af74507f334310d0/model_float32.tflite",
        label_url="https://raw.githubusercontent.com/LBJ-code/yolox-tensorflow-lite/"
        "356c5f1c8293624c8cb2c1b94f43611d99dc2a68/coco_labels.txt",
        license="MIT (repository); upstream YOLOX weights believed Apache-2.0",
    ),
)

SIBLING_LABEL_NAMES = ("{stem}.txt", "labels.txt")


def find_entry(file_name: str, sha256: str | None = None) -> CatalogEntry | None:
    """The catalog entry with this file name, else the one with this sha256 (a renamed copy)."""
    by_name = next((entry for entry in CATALOG if entry.file_name == file_name), None)
    if by_name is not None or sha256 is None:
        return by_name
    return next((entry for entry in CATALOG if entry.sha256 == sha256), None)


def default_label_path(model: Path, sha256: str | None = None) -> Path:
    """The label file for a model: its catalog file, else <stem>.txt or labels.txt beside it."""
    entry = find_entry(model.name, sha256)
    candidates = [model.parent / entry.label_file] if entry else []
    candidates += [model.parent / name.format(stem=model.stem) for name in SIBLING_LABEL_NAMES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(candidate) for candidate in candidates)
    raise DetectorError(f"no label file for model {model}: set labels (tried {tried})")
