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
from affectlens.render.history import TrackHistory
from affectlens.render.hud import HudAnnotator
from affectlens.render.sparklines import SparklineAnnotator
from affectlens.render.va_plane import Corner, ValenceArousalPlaneAnnotator

ELEMENTS: tuple[str, ...] = ("boxes", "bars", "va", "sparklines", "labels", "va_plane", "hud")
"""Names of the overlay's parts, in drawing order (labels above the panels, the plane and HUD on top)."""


class Overlay:
    """Boxes, probability bars, valence/arousal tags, sparklines, labels, valence-arousal plane and HUD.

    Every part can be switched on or off at any time (:meth:`toggle`, :meth:`set_enabled`); the constructor flags
    only set the initial state. The sparklines and the plane's trails read :attr:`history`, which
    :meth:`annotate` feeds with every result, whatever is switched on, so a part switched on mid-stream shows the
    last seconds at once.

    Cheap enough for every frame of a >= 150 fps pipeline: it only touches small regions around each face, the
    plane's square and the HUD strip, never blends the whole frame.

    Args:
        boxes: draw a box per face.
        labels: draw ``"happy 87% #3"`` above each box.
        bars: draw the per-label probability panel beside each box.
        va: draw the valence/arousal tag under each box.
        sparklines: draw engagement and valence over the last seconds under each tracked face.
        va_plane: draw the valence-arousal plane inset in a corner (off by default: it covers a corner of the
            video; a live window toggles it with ``v``).
        hud: draw fps, latency and face count in the top-left corner.
        text_scale: text size relative to the default for the image size.
        history: the per-track history to draw from; None makes a 10-second one.
        va_plane_corner: the plane's corner (``"bottom-right"``, ``"top-right"``, ...).

    Example:
        >>> overlay = Overlay(bars=False, va_plane=True)
        >>> image = overlay.annotate(result.frame.image.copy(), result, fps=148.0)  # doctest: +SKIP
        >>> overlay.toggle("bars")  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        boxes: bool = True,
        labels: bool = True,
        bars: bool = True,
        va: bool = True,
        sparklines: bool = True,
        va_plane: bool = False,
        hud: bool = True,
        text_scale: float = 1.0,
        history: TrackHistory | None = None,
        va_plane_corner: Corner = "bottom-right",
    ) -> None:
        self.history = TrackHistory() if history is None else history
        self.hud = HudAnnotator(text_scale=text_scale)
        va_tags = ValenceArousalAnnotator(text_scale=text_scale)
        self.sparklines = SparklineAnnotator(history=self.history, text_scale=text_scale, va_annotator=va_tags)
        self.va_plane = ValenceArousalPlaneAnnotator(
            history=self.history, corner=va_plane_corner, text_scale=text_scale
        )
        self._parts: dict[str, Annotator] = {
            "boxes": BoxAnnotator(),
            "bars": ProbabilityBarsAnnotator(text_scale=text_scale),
            "va": va_tags,
            "sparklines": self.sparklines,
            "labels": LabelAnnotator(text_scale=text_scale),
            "va_plane": self.va_plane,
            "hud": self.hud,
        }
        self.enabled: dict[str, bool] = {
            "boxes": boxes,
            "bars": bars,
            "va": va,
            "sparklines": sparklines,
            "labels": labels,
            "va_plane": va_plane,
            "hud": hud,
        }

    @property
    def annotators(self) -> list[Annotator]:
        """The per-face and inset annotators switched on, in drawing order (the HUD, :attr:`hud`, is not listed)."""
        return [self._parts[name] for name in ELEMENTS if self.enabled[name] and name != "hud"]

    def is_enabled(self, name: str) -> bool:
        """Whether the part ``name`` (one of :data:`ELEMENTS`) is drawn."""
        return self.enabled[self._check(name)]

    def set_enabled(self, name: str, on: bool) -> None:
        """Switch the part ``name`` (one of :data:`ELEMENTS`) on or off."""
        self.enabled[self._check(name)] = bool(on)

    def toggle(self, name: str) -> bool:
        """Switch the part ``name`` (one of :data:`ELEMENTS`) on if off and off if on; returns its new state."""
        name = self._check(name)
        self.enabled[name] = not self.enabled[name]
        return self.enabled[name]

    def set_fps(self, fps: float | None) -> None:
        """Frame rate the HUD shows when :meth:`annotate` gets none."""
        self.hud.set_fps(fps)

    def annotate(
        self, image: np.ndarray, result: FrameResult, fps: float | None = None, latency_ms: float | None = None
    ) -> np.ndarray:
        """Feed ``result`` to :attr:`history`, then draw the parts switched on, on ``image`` in place; return it.

        Args:
            image: (H, W, 3) uint8 BGR, usually ``result.frame.image`` or a copy; may be a resized copy (boxes are
                rescaled from ``result.frame`` to it).
            result: what to draw. Annotating the same frame twice (e.g. a paused frame redrawn) adds no history.
            fps: frames per second for the HUD; None uses the last :meth:`set_fps` value.
            latency_ms: per-frame latency for the HUD, in ms; None uses ``result.timings_ms["total"]``.
        """
        self.history.update(result)
        self.sparklines.below_va_tag = self.enabled["va"]
        for name in ELEMENTS:
            if not self.enabled[name]:
                continue
            if name == "hud":
                image = self.hud.annotate(image, result, fps=fps, latency_ms=latency_ms)
            else:
                image = self._parts[name].annotate(image, result)
        return image

    def render(self, result: FrameResult, fps: float | None = None, latency_ms: float | None = None) -> np.ndarray:
        """An annotated copy of ``result.frame.image``; the frame itself is left untouched."""
        return self.annotate(result.frame.image.copy(), result, fps=fps, latency_ms=latency_ms)

    def _check(self, name: str) -> str:
        if name not in self.enabled:
            raise ValueError(f"unknown overlay part {name!r}; the parts are: {', '.join(ELEMENTS)}")
        return name
