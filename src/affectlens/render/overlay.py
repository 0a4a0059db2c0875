"""The default overlay: every annotator composed, as shown by ``--show`` and written to annotated videos."""

from __future__ import annotations

import numpy as np

from affectlens.core import FrameResult
from affectlens.render.annotators import (
    Annotator,
    BoxAnnotator,
    LabelAnnotator,
    ProbabilityBarsAnnotator,
    ValenceArousalAnnotator,
)
from affectlens.render.hud import HudAnnotator


class Overlay:
    """Boxes, labels, probability bars, valence/arousal and HUD, drawn in that order (labels above the panels).

    Cheap enough for every frame of a >= 150 fps pipeline: it only touches small regions around each face and the
    HUD strip, never blends the whole frame.

    Args:
        boxes: draw a box per face.
        labels: draw ``"happy 87% #3"`` above each box.
        bars: draw the per-label probability panel beside each box.
        va: draw valence/arousal under each box.
        hud: draw fps, latency and face count in the top-left corner.
        text_scale: text size relative to the default for the image size.

    Example:
        >>> overlay = Overlay(bars=False)
        >>> image = overlay.annotate(result.frame.image.copy(), result, fps=148.0)  # doctest: +SKIP
    """

    def __init__(
        self,
        boxes: bool = True,
        labels: bool = True,
        bars: bool = True,
        va: bool = True,
        hud: bool = True,
        text_scale: float = 1.0,
    ) -> None:
        self.annotators: list[Annotator] = []
        if boxes:
            self.annotators.append(BoxAnnotator())
        if bars:
            self.annotators.append(ProbabilityBarsAnnotator(text_scale=text_scale))
        if va:
            self.annotators.append(ValenceArousalAnnotator(text_scale=text_scale))
        if labels:
            self.annotators.append(LabelAnnotator(text_scale=text_scale))
        self.hud = HudAnnotator(text_scale=text_scale) if hud else None

    def set_fps(self, fps: float | None) -> None:
        """Frame rate the HUD shows when :meth:`annotate` gets none."""
        if self.hud is not None:
            self.hud.set_fps(fps)

    def annotate(
        self, image: np.ndarray, result: FrameResult, fps: float | None = None, latency_ms: float | None = None
    ) -> np.ndarray:
        """Draw the whole overlay on ``image`` ((H, W, 3) uint8 BGR) in place and return it.

        Args:
            image: the frame to draw on, usually a copy of ``result.frame.image``; may be a resized copy (boxes are
                rescaled from ``result.frame`` to it).
            result: what to draw.
            fps: frames per second for the HUD; None uses the last :meth:`set_fps` value.
            latency_ms: per-frame latency for the HUD, in ms; None uses ``result.timings_ms["total"]``.
        """
        for annotator in self.annotators:
            image = annotator.annotate(image, result)
        if self.hud is not None:
            image = self.hud.annotate(image, result, fps=fps, latency_ms=latency_ms)
        return image

    def render(self, result: FrameResult, fps: float | None = None, latency_ms: float | None = None) -> np.ndarray:
        """An annotated copy of ``result.frame.image``; the frame itself is left untouched."""
        return self.annotate(result.frame.image.copy(), result, fps=fps, latency_ms=latency_ms)
