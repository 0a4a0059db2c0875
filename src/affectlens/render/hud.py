"""The heads-up display: frame rate, per-frame latency and face count in a corner (top-left unless it covers a face)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from affectlens.core import FrameResult
from affectlens.render.annotators import Annotator, placer_for
from affectlens.render.layout import FONT, LINE, check_image, darken, layout_for
from affectlens.render.placement import Placed, Placer


class HudAnnotator(Annotator):
    """``"152.3 fps  6.6 ms  2 faces"`` on a semi-transparent strip in the top-left corner.

    The frame rate is the ``fps`` passed to :meth:`annotate`, else the last :meth:`set_fps` value; the latency is
    ``latency_ms`` when passed, else ``result.timings_ms["total"]``. A value that is unknown is left out, and so is
    a frame rate of 0 (what a meter reports before its second frame).

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
        if fps is not None and math.isfinite(fps) and fps > 0:  # 0: no frame rate measured yet (1 frame)
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

        The strip goes in the top-left corner, or the first other corner where it covers no face (see
        :meth:`place`); it is left out when every corner would.

        Args:
            image: (H, W, 3) uint8 BGR, modified in place.
            result: the frame's result (face count, ``timings_ms["total"]``).
            fps: frames per second to show; None uses the last :meth:`set_fps` value.
            latency_ms: per-frame latency to show, in ms; None uses ``result.timings_ms["total"]``.
        """
        self.last_region = None
        if not check_image(image):
            return image
        self.place(image, result, placer_for(image, result, self.text_scale), fps, latency_ms)
        return image

    def place(
        self,
        image: np.ndarray,
        result: FrameResult,
        placer: Placer,
        fps: float | None = None,
        latency_ms: float | None = None,
        preferred: str | None = None,
    ) -> Placed | None:
        """Draw the HUD in the first corner ``placer`` finds free (``preferred`` first, e.g. the last frame's).

        Returns the placed strip (its ``slot`` is the corner's name, as in
        :data:`~affectlens.render.placement.HUD_SLOTS`), or None when nothing was drawn.
        """
        self.last_region = None
        text = self.text(result, fps, latency_ms)
        height, width = image.shape[:2]
        if not text or height == 0 or width == 0:
            return None
        lay = layout_for(height, width, self.text_scale)
        (tw, th), base = cv2.getTextSize(text, FONT, lay.font_scale, lay.font_thickness)
        margin = lay.pad
        size = (min(tw + 2 * lay.pad, width - margin), min(th + base + 2 * lay.pad, height - margin))
        if size[0] <= 0 or size[1] <= 0:
            return None
        placed = placer.place_corner("hud", size, margin, preferred)
        if placed is None:
            return None
        x1, y1, x2, y2 = placed.rect
        if darken(image, x1, y1, x2, y2, self.alpha) is None:
            return None
        self.last_region = placed.rect
        origin = (x1 + lay.pad, y1 + lay.pad + th)
        cv2.putText(image, text, origin, FONT, lay.font_scale, (255, 255, 255), lay.font_thickness, LINE)
        return placed
