"""Writing camera frames into a model's input tensor without per-frame allocations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_agent.detectors.base import DetectorError
from edge_agent.detectors.config import ChannelOrder, PreprocessConfig, ResizeMode

# Depths cv2.LUT can produce; TFLite image inputs are uint8, int8, int16 or float32 in practice.
LUT_TYPES = frozenset(
    np.dtype(name) for name in ("uint8", "int8", "uint16", "int16", "int32", "float32", "float64")
)


@dataclass(frozen=True)
class Preprocessing:
    """How a frame becomes a model input: resize, padding, normalisation and channel order."""

    resize: ResizeMode
    pad_value: int
    mean: tuple[float, float, float]  # input = (pixel - mean) / std, in input channel order
    std: tuple[float, float, float]
    channel_order: ChannelOrder

    def with_overrides(self, overrides: PreprocessConfig) -> Preprocessing:
        """These conventions with every field the config sets replaced."""
        return Preprocessing(**{**vars(self), **overrides.model_dump(exclude_none=True)})


def image_input(details: list[dict[str, Any]]) -> tuple[dict[str, Any], int, int]:
    """The details, height and width of a model's single [1, H, W, 3] input, else an error."""
    shapes = [list(detail["shape"]) for detail in details]
    if len(details) != 1 or len(shapes[0]) != 4 or shapes[0][0] != 1 or shapes[0][3] != 3:
        raise DetectorError(f"expected one [1, H, W, 3] image input, model has {shapes}")
    return details[0], int(shapes[0][1]), int(shapes[0][2])


class InputEncoder:
    """Writes BGR uint8 images into a model's input tensor through a per-channel lookup table.

    The table holds, for each pixel value and input channel, the value the tensor stores for
    real = (pixel - mean) / std, quantised as the tensor says: one cv2.LUT pass serves float,
    uint8 and int8 inputs alike.
    """

    def __init__(self, preprocessing: Preprocessing, detail: dict[str, Any]) -> None:
        std = np.asarray(preprocessing.std, dtype=np.float64)
        mean = np.asarray(preprocessing.mean, dtype=np.float64)
        self.table = encoding_table(1 / std, -mean / std, detail)
        self.to_rgb = preprocessing.channel_order == "rgb"
        pixels = np.arange(256).reshape(256, 1, 1)
        self.passes_pixels_through = self.table.dtype == np.uint8 and bool(
            np.all(self.table == pixels)
        )
        height, width = (int(size) for size in detail["shape"][1:3])
        self._ordered = np.empty((height, width, 3), dtype=np.uint8)

    def write(self, image_bgr: np.ndarray, out: np.ndarray) -> None:
        """Encode an image of the input's size into `out` (an HxWx3 view of the tensor)."""
        if self.passes_pixels_through:
            self._order_channels(image_bgr, out)
            return
        ordered = image_bgr
        if self.to_rgb:
            ordered = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB, dst=self._ordered)
        cv2.LUT(ordered, self.table, dst=out)

    def _order_channels(self, image_bgr: np.ndarray, out: np.ndarray) -> None:
        if self.to_rgb:
            cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB, dst=out)
        else:
            np.copyto(out, image_bgr)


def encoding_table(
    real_scale: np.ndarray | tuple[float, ...],
    real_offset: np.ndarray | tuple[float, ...],
    detail: dict[str, Any],
) -> np.ndarray:
    """The (256, 1, 3) table of stored input values for each pixel value and input channel."""
    dtype = np.dtype(detail["dtype"])
    if dtype not in LUT_TYPES:
        raise DetectorError(f"unsupported input tensor type {dtype}")
    pixels = np.arange(256, dtype=np.float64).reshape(256, 1)
    values = pixels * np.asarray(real_scale) + np.asarray(real_offset)
    if dtype.kind in "iu":
        quant_scale, zero_point = detail.get("quantization", (0.0, 0))
        # An unquantised integer input carries raw pixel values.
        values = values / quant_scale + zero_point if quant_scale else np.repeat(pixels, 3, 1)
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return values.astype(dtype).reshape(256, 1, 3)


@dataclass(frozen=True)
class Placement:
    """Where a frame landed in the model input: per-axis scale and the padding before it."""

    scale_x: float
    scale_y: float
    left: int
    top: int

    def to_frame(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        """Boxes [x0, y0, x1, y1] in input pixels as fractions of a width x height frame."""
        offset = np.array([self.left, self.top, self.left, self.top], dtype=np.float64)
        scale = np.array([self.scale_x * width, self.scale_y * height] * 2, dtype=np.float64)
        return (np.asarray(boxes, dtype=np.float64).reshape(-1, 4) - offset) / scale


class Letterbox:
    """Resizes frames onto a reused canvas of the input's size: stretched, or padded to keep
    their aspect ratio with the image at the centre or at the top-left."""

    def __init__(
        self, width: int, height: int, fill: int = 114, resize: ResizeMode = "letterbox-top-left"
    ) -> None:
        self.width = width
        self.height = height
        self.fill = fill
        self.resize = resize
        self.canvas = np.full((height, width, 3), fill, dtype=np.uint8)
        self._placed: tuple[int, int, int, int] | None = None

    def place(self, frame_bgr: np.ndarray) -> Placement:
        """Draw the frame onto the canvas and say where it went."""
        frame_height, frame_width = frame_bgr.shape[:2]
        placement, size = self._placement(frame_width, frame_height)
        where = (placement.left, placement.top, *size)
        if where != self._placed:
            # A frame of another size leaves pixels outside the new image: repaint the padding.
            self.canvas.fill(self.fill)
            self._placed = where
        region = self.canvas[
            placement.top : placement.top + size[1], placement.left : placement.left + size[0]
        ]
        resized = cv2.resize(frame_bgr, size, dst=region, interpolation=cv2.INTER_LINEAR)
        if resized is not region:
            # OpenCV builds that cannot write into a strided view return a new array instead.
            region[...] = resized
        return placement

    def _placement(self, frame_width: int, frame_height: int) -> tuple[Placement, tuple[int, int]]:
        if self.resize == "stretch":
            scale_x, scale_y = self.width / frame_width, self.height / frame_height
            return Placement(scale_x, scale_y, 0, 0), (self.width, self.height)
        ratio = min(self.height / frame_height, self.width / frame_width)
        size = (max(1, int(frame_width * ratio)), max(1, int(frame_height * ratio)))
        if self.resize == "letterbox-centre":
            left, top = (self.width - size[0]) // 2, (self.height - size[1]) // 2
            return Placement(ratio, ratio, left, top), size
        return Placement(ratio, ratio, 0, 0), size
