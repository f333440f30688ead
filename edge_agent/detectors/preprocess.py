"""Writing camera frames into a model's input tensor without per-frame allocations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from edge_agent.detectors.base import DetectorError

# Depths cv2.LUT can produce; TFLite image inputs are uint8, int8, int16 or float32 in practice.
LUT_TYPES = frozenset(
    np.dtype(name) for name in ("uint8", "int8", "uint16", "int16", "int32", "float32", "float64")
)


def image_input(details: list[dict[str, Any]]) -> tuple[dict[str, Any], int, int]:
    """The details, height and width of a model's single [1, H, W, 3] input, else an error."""
    shapes = [list(detail["shape"]) for detail in details]
    if len(details) != 1 or len(shapes[0]) != 4 or shapes[0][0] != 1 or shapes[0][3] != 3:
        raise DetectorError(f"expected one [1, H, W, 3] image input, model has {shapes}")
    return details[0], int(shapes[0][1]), int(shapes[0][2])


class InputEncoder:
    """Writes BGR uint8 images into a model's RGB input tensor through a per-channel lookup table.

    The table holds, for each pixel value and channel, the value the tensor stores for
    real = pixel * real_scale + real_offset, quantised as the tensor says: one cv2.LUT pass
    serves float, uint8 and int8 inputs alike.
    """

    def __init__(
        self,
        real_scale: Sequence[float],
        real_offset: Sequence[float],
        detail: dict[str, Any],
    ) -> None:
        self.table = encoding_table(real_scale, real_offset, detail)
        pixels = np.arange(256).reshape(256, 1, 1)
        self.passes_pixels_through = self.table.dtype == np.uint8 and bool(
            np.all(self.table == pixels)
        )
        height, width = (int(size) for size in detail["shape"][1:3])
        self._rgb = np.empty((height, width, 3), dtype=np.uint8)

    def write(self, image_bgr: np.ndarray, out: np.ndarray) -> None:
        """Encode an image of the input's size into `out` (an HxWx3 view of the tensor)."""
        if self.passes_pixels_through:
            cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB, dst=out)
            return
        cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB, dst=self._rgb)
        cv2.LUT(self._rgb, self.table, dst=out)


def encoding_table(
    real_scale: Sequence[float], real_offset: Sequence[float], detail: dict[str, Any]
) -> np.ndarray:
    """The (256, 1, 3) table of stored input values for each pixel value and RGB channel."""
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


class Letterbox:
    """Resizes frames keeping their aspect ratio onto the top-left of a reused, padded canvas."""

    def __init__(self, width: int, height: int, fill: int = 114) -> None:
        self.width = width
        self.height = height
        self.fill = fill
        self.canvas = np.full((height, width, 3), fill, dtype=np.uint8)
        self._placed_size: tuple[int, int] | None = None

    def place(self, frame_bgr: np.ndarray) -> float:
        """Draw the frame onto the canvas and return its resize ratio."""
        frame_height, frame_width = frame_bgr.shape[:2]
        ratio = min(self.height / frame_height, self.width / frame_width)
        size = (max(1, int(frame_width * ratio)), max(1, int(frame_height * ratio)))
        if size != self._placed_size:
            # A frame of another size leaves pixels outside the new image: repaint the padding.
            self.canvas.fill(self.fill)
            self._placed_size = size
        region = self.canvas[: size[1], : size[0]]
        resized = cv2.resize(frame_bgr, size, dst=region, interpolation=cv2.INTER_LINEAR)
        if resized is not region:
            # OpenCV builds that cannot write into a strided view return a new array instead.
            region[...] = resized
        return ratio
