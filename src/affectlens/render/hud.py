"""The heads-up display: frame rate, per-frame latency and face count in the top-left corner."""

from __future__ import annotations

import math

import cv2
import numpy as np

from affectlens.core import FrameResult
from affectlens.render.annotators import Annotator
from affectlens.render.layout import FONT, LINE, check_image, darken, layout_for


class HudAnnotator(Annotator):
    """``"152.3 fps  6.6 ms  2 faces"`` on a semi-transparent strip in the top-left corner.

    The frame rate is the ``fps`` passed to :meth:`annotate`, else the last :meth:`set_fps` value; the latency is
    ``latency_ms`` when passed, else ``result.timings_ms["total"]``. A value that is unknown is left out.

    Args:
        text_scale: text size relative to the default for the image size.
        alpha: opacity of the background in [0, 1].
        show_faces: include the face count.

    Attributes:
        fps: the frame rate set by :meth:`set_fps` (None until set).
        last_region: ``(x1, y1, x2, y2)`` (exclusive ends) of the strip the last call drew; None if none.
    """

    def __init__(self, text_scale: float = 1.0, alpha: float = 0.55, show_faces: bool = True) -> None:
        self.text_scale = text_scale
        self.alpha = alpha
        self.show_faces = show_faces
        self.fps: float | None = None
        self.last_region: tuple[int, int, int, int] | None = None

    def set_fps(self, fps: float | None) -> None:
        """Remember the frame rate (frames per second) shown when :meth:`annotate` gets none."""
        self.fps = fps

    def text(self, result: FrameResult, fps: float | None = None, latency_ms: float | None = None) -> str:
        """The HUD line for ``result``, from ``fps``/``latency_ms`` or their fallbacks (see the class)."""
        fps = self.fps if fps is None else fps
        latency_ms = result.timings_ms.get("total") if latency_ms is None else latency_ms
        parts = []
        if fps is not None and math.isfinite(fps):
            parts.append(f"{fps:.1f} fps")
        if latency_ms is not None and math.isfinite(latency_ms):
            parts.append(f"{latency_ms:.1f} ms")
        if self.show_faces:
            n = len(result.faces)
            parts.append(f"{n} face" if n == 1 else f"{n} faces")
        return "  ".join(parts)

    def annotate(
        self, image: np.ndarray, result: FrameResult, fps: float | None = None, latency_ms: float | None = None
    ) -> np.ndarray:
        """Draw the HUD on ``image`` in place and return it.

        Args:
            image: (H, W, 3) uint8 BGR, modified in place.
            result: the frame's result (face count, ``timings_ms["total"]``).
            fps: frames per second to show; None uses the last :meth:`set_fps` value.
            latency_ms: per-frame latency to show, in ms; None uses ``result.timings_ms["total"]``.
        """
        self.last_region = None
        if not check_image(image):
            return image
        text = self.text(result, fps, latency_ms)
        if not text:
            return image
        height, width = image.shape[:2]
        lay = layout_for(height, width, self.text_scale)
        (tw, th), base = cv2.getTextSize(text, FONT, lay.font_scale, lay.font_thickness)
        margin = lay.pad
        x2, y2 = min(margin + tw + 2 * lay.pad, width), min(margin + th + base + 2 * lay.pad, height)
        if darken(image, margin, margin, x2, y2, self.alpha) is None:
            return image
        self.last_region = (margin, margin, x2, y2)
        origin = (margin + lay.pad, margin + lay.pad + th)
        cv2.putText(image, text, origin, FONT, lay.font_scale, (255, 255, 255), lay.font_thickness, LINE)
        return image
