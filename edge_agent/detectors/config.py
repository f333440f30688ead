"""Settings of one detector."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DetectorConfig(BaseModel):
    """Which model to load, how to decode it and which detections to keep."""

    model_config = ConfigDict(extra="forbid")

    model: Path = Field(description=".tflite model file")
    labels: Path | None = Field(
        default=None, description="label map; None: the model catalog's file, else a sibling"
    )
    decoder: Literal["auto", "ssd", "yolox"] = Field(
        default="auto", description="auto: chosen from the model's output tensor shapes"
    )
    runtime: Literal["auto", "ai-edge-litert", "tflite-runtime"] = "auto"
    threads: int = Field(default=2, ge=1, le=16)
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    label_offset: int = Field(
        default=0, description="label = labels[class_id + label_offset] (1 for a leading '???')"
    )
    nms_iou: float = Field(default=0.45, gt=0.0, le=1.0, description="for raw YOLO heads")
