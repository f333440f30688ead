"""The detector interface shared by every decoder: detections, the protocol, the error type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class DetectorError(ValueError):
    """A model, label map or frame that a detector cannot use; the message says why."""


@dataclass(frozen=True)
class Detection:
    """One object found in a frame."""

    label: str
    class_id: int  # the model's own class output, before any label offset
    score: float
    box: tuple[float, float, float, float]  # normalised [x0, y0, x1, y1], clipped to [0, 1]


class Detector(Protocol):
    """A loaded model that turns BGR frames into detections (not thread-safe)."""

    name: str  # model file stem
    sha256: str  # of the model file

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detections in one HxWx3 uint8 BGR frame, sorted by score, highest first."""
        ...


def check_frame(frame_bgr: object) -> np.ndarray:
    """The frame itself if it is a non-empty HxWx3 uint8 array, else a DetectorError."""
    if not isinstance(frame_bgr, np.ndarray):
        raise DetectorError(f"frame must be a numpy array, got {type(frame_bgr).__name__}")
    if frame_bgr.dtype != np.uint8 or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
        raise DetectorError(
            f"frame must be an HxWx3 uint8 BGR image, got shape {frame_bgr.shape} "
            f"dtype {frame_bgr.dtype}"
        )
    if frame_bgr.shape[0] == 0 or frame_bgr.shape[1] == 0:
        raise DetectorError(f"frame is empty (shape {frame_bgr.shape})")
    return frame_bgr


def clip_box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    """A normalised box with every coordinate clipped to [0, 1]."""
    return (
        min(max(float(x0), 0.0), 1.0),
        min(max(float(y0), 0.0), 1.0),
        min(max(float(x1), 0.0), 1.0),
        min(max(float(y1), 0.0), 1.0),
    )
