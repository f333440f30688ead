"""Settings of one detector: model, runtime, decoder and the input conventions of its model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DecoderName = Literal["ssd", "yolox", "yolov5", "yolov8"]
RuntimeName = Literal["auto", "ai-edge-litert", "tflite-runtime"]
DelegateName = Literal["none", "edgetpu"]
ResizeMode = Literal["stretch", "letterbox-centre", "letterbox-top-left"]
ChannelOrder = Literal["rgb", "bgr"]
SsdRole = Literal["boxes", "classes", "scores", "count"]

PositiveTriple = tuple[
    Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]
]


class PreprocessConfig(BaseModel):
    """Overrides of the decoder's input conventions; each None keeps the decoder's default."""

    model_config = ConfigDict(extra="forbid")

    resize: ResizeMode | None = Field(
        default=None, description="stretch to the input, or keep the aspect ratio and pad"
    )
    pad_value: int | None = Field(default=None, ge=0, le=255, description="letterbox fill")
    mean: tuple[float, float, float] | None = Field(
        default=None, description="input = (pixel - mean) / std, 0-255 units, input channel order"
    )
    std: PositiveTriple | None = None
    channel_order: ChannelOrder | None = Field(
        default=None, description="channel order of the model input"
    )


class DetectorConfig(BaseModel):
    """Which model to load, how to decode it and which detections to keep."""

    model_config = ConfigDict(extra="forbid")

    model: Path = Field(description=".tflite model file")
    labels: Path | None = Field(
        default=None, description="label map; None: the model catalog's file, else a sibling"
    )
    decoder: Literal["auto"] | DecoderName = Field(
        default="auto", description="auto: chosen from the model's tensor shapes where unambiguous"
    )
    runtime: RuntimeName = "auto"
    delegate: DelegateName = Field(
        default="none", description="edgetpu: run an Edge TPU-compiled model on a Coral device"
    )
    threads: int = Field(default=2, ge=1, le=16, description="CPU threads of each interpreter")
    interpreters: int = Field(
        default=1,
        ge=1,
        le=16,
        description="copies of the model run side by side, each camera taking a free one: "
        "with many cameras, one per core plus one, and threads 1",
    )
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    label_offset: int = Field(
        default=0, description="label = labels[class_id + label_offset] (1 for a leading '???')"
    )
    nms_iou: float = Field(default=0.45, gt=0.0, le=1.0, description="for raw YOLO heads")
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    strides: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        default=(8, 16, 32), min_length=1, description="raw YOLO head strides, in row order"
    )
    box_units: Literal["auto", "pixels", "normalised"] = Field(
        default="auto", description="YOLOv5/v8 box units; auto: from the values of each output"
    )
    score_format: Literal["auto", "probabilities", "logits"] = Field(
        default="auto", description="YOLOv5/v8 scores; logits get a sigmoid; auto: from the values"
    )
    output_order: tuple[SsdRole, SsdRole, SsdRole, SsdRole] | None = Field(
        default=None, description="SSD outputs in the model's order; None: read from the graph"
    )

    @field_validator("output_order")
    @classmethod
    def _each_role_once(cls, order: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if order is not None and len(set(order)) != len(order):
            raise ValueError("must name boxes, classes, scores and count once each")
        return order
