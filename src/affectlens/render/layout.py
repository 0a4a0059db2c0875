"""Sizes, text metrics and geometry shared by the annotators, computed once per image size.

Everything here is cheap and cached: the overlay runs on every frame of a >= 150 fps pipeline, so annotators never
measure fonts or allocate full-frame buffers per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from affectlens.core import FrameResult

FONT = cv2.FONT_HERSHEY_SIMPLEX
LINE = cv2.LINE_AA

REFERENCE_SIDE = 360.0
"""Shorter image side (pixels) at which :class:`Layout` has its base sizes (labels 12 px tall)."""

SIZE_EXPONENT = 0.7
"""Sizes grow as (shorter side / 360) ** 0.7: slower than the image, so that labels on a large photo of a group
stay smaller than the faces (18 px labels on a 667-pixel photo, 31 px on 4K), yet readable when the picture is
shown scaled to a screen."""

# Coordinates are clipped to this many image sizes beyond the border before int conversion, so absurd boxes
# (1e9, inf) neither overflow OpenCV's int32 nor crash; drawing still clips at the image border.
_COORD_MARGIN = 2


@dataclass(frozen=True)
class Layout:
    """Pixel sizes for one image size (``scale`` = (shorter side / 360) ** :data:`SIZE_EXPONENT`).

    Attributes:
        scale: size factor relative to a 360-pixel shorter side, clamped to [0.3, 6].
        thickness: box border width in pixels (>= 1).
        font_scale: OpenCV font scale of labels and HUD text.
        small_font_scale: OpenCV font scale of the probability-bar names and valence/arousal text.
        font_thickness: stroke width of text in pixels (>= 1).
        pad: padding around text inside its background, in pixels (>= 1).
    """

    scale: float
    thickness: int
    font_scale: float
    small_font_scale: float
    font_thickness: int
    pad: int


@lru_cache(maxsize=32)
def layout_for(height: int, width: int, text_scale: float = 1.0) -> Layout:
    """The :class:`Layout` of an image of ``height`` x ``width`` pixels; ``text_scale`` enlarges text only."""
    scale = min(max((min(height, width) / REFERENCE_SIDE) ** SIZE_EXPONENT, 0.3), 6.0)
    return Layout(
        scale=scale,
        thickness=max(1, round(2 * scale)),
        font_scale=max(0.3, 0.5 * scale * text_scale),
        small_font_scale=max(0.28, 0.38 * scale * text_scale),
        font_thickness=max(1, round(scale * text_scale)),
        pad=max(1, round(3 * scale)),
    )


@lru_cache(maxsize=4096)
def text_size(text: str, font_scale: float, thickness: int) -> tuple[int, int, int]:
    """``(width, height, baseline)`` in pixels of ``text`` in :data:`FONT` (cached: labels repeat every frame)."""
    (w, h), baseline = cv2.getTextSize(text, FONT, font_scale, thickness)
    return w, h, baseline


def check_image(image: np.ndarray) -> bool:
    """True when ``image`` has pixels to draw on; ``ValueError`` unless it is a writable (H, W, 3) uint8 array."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", type(image).__name__)
        dtype = getattr(image, "dtype", "")
        raise ValueError(f"annotators draw on an (H, W, 3) uint8 BGR image, got {shape} {dtype}")
    if not image.flags.writeable:
        raise ValueError("annotators draw in place: pass a writable image (e.g. image.copy())")
    return image.shape[0] > 0 and image.shape[1] > 0


def face_boxes(image: np.ndarray, result: FrameResult) -> tuple[list[list[int]], list[bool]]:
    """Boxes of ``result.faces`` in ``image`` pixels, as int ``[x1, y1, x2, y2]`` lists, and which are drawable.

    Boxes are scaled from ``result.frame`` to ``image`` when their sizes differ (e.g. a downscaled preview),
    clipped to a margin around the image, and reordered so that ``x1 <= x2`` and ``y1 <= y2``. A box with a
    non-finite coordinate is not drawable (its flag is False).
    """
    xyxy = result.faces.xyxy
    height, width = image.shape[:2]
    frame_h, frame_w = result.frame.image.shape[:2]
    if len(xyxy) == 0 or min(height, width, frame_h, frame_w) == 0:
        return [], []
    # Plain Python: every annotator calls this for a handful of faces, where numpy's per-call overhead dominates.
    sx, sy = width / frame_w, height / frame_h
    lx, ly = width * _COORD_MARGIN, height * _COORD_MARGIN
    boxes, drawable = [], []
    for x1, y1, x2, y2 in xyxy.tolist():
        finite = math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)
        if not finite:
            x1, y1, x2, y2 = (v if math.isfinite(v) else 0.0 for v in (x1, y1, x2, y2))
        x1, x2 = (min(max(round(x1 * sx), -lx), lx), min(max(round(x2 * sx), -lx), lx))
        y1, y2 = (min(max(round(y1 * sy), -ly), ly), min(max(round(y2 * sy), -ly), ly))
        boxes.append([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)])
        drawable.append(finite)
    return boxes, drawable


def overlaps(box: list[int], width: int, height: int) -> bool:
    """True when the int ``[x1, y1, x2, y2]`` box covers at least one pixel of a ``width`` x ``height`` image."""
    x1, y1, x2, y2 = box
    return x2 > 0 and y2 > 0 and x1 < width and y1 < height


def darken(image: np.ndarray, x1: int, y1: int, x2: int, y2: int, alpha: float) -> np.ndarray | None:
    """Blend ``image[y1:y2, x1:x2]`` (clipped to the image) towards black by ``alpha`` in [0, 1], in place.

    Returns the blended region (a view of ``image``), or None when it lies outside the image. Only the region is
    touched: a semi-transparent background costs a few microseconds, never a full-frame blend.
    """
    height, width = image.shape[:2]
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if x2 <= x1 or y2 <= y1:
        return None
    roi = image[y1:y2, x1:x2]
    cv2.convertScaleAbs(roi, dst=roi, alpha=1.0 - alpha)
    return roi
