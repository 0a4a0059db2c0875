"""The default overlay: every annotator composed, as shown by ``--show`` and written to annotated videos."""

from __future__ import annotations

import numpy as np

from affectlens.core import FrameResult
from affectlens.render.annotators import (
    Annotator,
    BoxAnnotator,
    FaceItemAnnotator,
    LabelAnnotator,
    ProbabilityBarsAnnotator,
    ValenceArousalAnnotator,
    placer_for,
)
from affectlens.render.hud import HudAnnotator
from affectlens.render.layout import check_image
from affectlens.render.placement import Placed, Placer, Rect
from affectlens.render.sparklines import SparklineAnnotator
from affectlens.render.va_plane import Corner, ValenceArousalPlaneAnnotator
from affectlens.track.history import TrackHistory

ELEMENTS: tuple[str, ...] = ("boxes", "bars", "va", "sparklines", "labels", "va_plane", "hud")
"""Names of the overlay's parts (the ``--draw`` names)."""

DEFAULT_DRAW: tuple[str, ...] = ("boxes", "labels", "bars", "va", "sparklines", "hud")
"""The parts an :class:`Overlay` draws by default (all but the valence-arousal plane)."""

PLACEMENT_ORDER: tuple[str, ...] = ("labels", "va", "bars", "sparklines")
"""Per-face parts in order of priority: where room is short, the earlier ones get it."""

_ALIASES = {"plane": "va_plane", "box": "boxes", "label": "labels", "sparkline": "sparklines", "graphs": "sparklines"}


def parse_draw(spec: str) -> dict[str, bool]:
    """``"boxes,labels,hud"`` -> which of :data:`ELEMENTS` to draw (every part named on, the others off).

    ``all`` names every part (the valence-arousal plane too), ``none`` or an empty string none; ``default`` the
    parts of :data:`DEFAULT_DRAW`. Raises ValueError naming the valid parts for an unknown name.

    >>> sorted(name for name, on in parse_draw("labels,box").items() if on)
    ['boxes', 'labels']
    """
    chosen: set[str] = set()
    for raw in spec.split(","):
        name = raw.strip().lower().replace("-", "_")
        if not name or name == "none":
            continue
        if name == "all":
            chosen.update(ELEMENTS)
        elif name == "default":
            chosen.update(DEFAULT_DRAW)
        elif _ALIASES.get(name, name) in ELEMENTS:
            chosen.add(_ALIASES.get(name, name))
        else:
            raise ValueError(
                f"unknown part to draw {raw.strip()!r}; choose from {','.join(ELEMENTS)} (or all, none, default)"
            )
    return {name: name in chosen for name in ELEMENTS}


class Overlay:
    """Boxes, labels, probability bars, valence/arousal tags, sparklines, valence-arousal plane and HUD.

    Every label and panel is placed so that it covers no other face and no other label or panel, and stays inside
    the image (:mod:`affectlens.render.placement`): parts move to another side of the box, shrink, or are left out
    when room is short, in the order of :data:`PLACEMENT_ORDER`; with more than ``detail_faces`` faces only boxes
    and one-line labels are drawn. Where everything went is in :attr:`last_placed` after each :meth:`annotate`.

    Every part can be switched on or off at any time (:meth:`toggle`, :meth:`set_enabled`); the constructor flags
    only set the initial state. The sparklines and the plane's trails read :attr:`history`, which
    :meth:`annotate` feeds with every result, whatever is switched on, so a part switched on mid-stream shows the
    last seconds at once.

    Cheap enough for every frame of a >= 150 fps pipeline: it only touches small regions around each face, the
    plane's square and the HUD strip, never blends the whole frame.

    Args:
        boxes: draw a box per face.
        labels: draw ``"happy 87% #3"`` on top of each box (under or beside it when there is no room).
        bars: draw the per-label probability panel beside each box.
        va: draw the valence/arousal tag under each box.
        sparklines: draw engagement and valence over the last seconds under each tracked face.
        va_plane: draw the valence-arousal plane inset in a corner (off by default: it covers a corner of the
            video; a live window toggles it with ``v``).
        hud: draw fps, latency and face count in the top-left corner (another corner when a face is there).
        text_scale: text size relative to the default for the image size.
        history: the per-track history to draw from; None makes a 10-second one.
        va_plane_corner: the plane's preferred corner (``"bottom-right"``, ``"top-right"``, ...); it moves to
            another corner while a face is in that one.
        detail_faces: with more faces than this in the image, draw no bars, tags or sparklines (labels only).

    Attributes:
        last_placed: the :class:`~affectlens.render.placement.Placed` items of the last :meth:`annotate` (labels,
            panels, HUD, plane), each with its kind, face index and rectangle in image pixels.
        last_boxes: the face boxes of the last :meth:`annotate` in image pixels (None for a face not drawn).

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
        detail_faces: int = 6,
    ) -> None:
        self.history = TrackHistory() if history is None else history
        self.text_scale = text_scale
        self.detail_faces = detail_faces
        self.last_placed: list[Placed] = []
        self.last_boxes: list[Rect | None] = []
        self._sticky: dict[tuple[int, str], str] = {}  # (track id, part) -> slot it took on the last frame
        self._hud_corner: str | None = None
        self._plane_corner: str | None = None
        self.hud = HudAnnotator(text_scale=text_scale)
        va_tags = ValenceArousalAnnotator(text_scale=text_scale)
        self.sparklines = SparklineAnnotator(history=self.history, text_scale=text_scale, va_annotator=va_tags)
        self.va_plane = ValenceArousalPlaneAnnotator(
            history=self.history, corner=va_plane_corner, text_scale=text_scale
        )
        self.labels = LabelAnnotator(text_scale=text_scale)
        self._parts: dict[str, Annotator] = {
            "boxes": BoxAnnotator(),
            "bars": ProbabilityBarsAnnotator(text_scale=text_scale),
            "va": va_tags,
            "sparklines": self.sparklines,
            "labels": self.labels,
            "va_plane": self.va_plane,
            "hud": self.hud,
        }
        self._face_items: list[tuple[str, FaceItemAnnotator]] = [
            (name, part) for name in PLACEMENT_ORDER if isinstance(part := self._parts[name], FaceItemAnnotator)
        ]
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

    @classmethod
    def from_draw(cls, spec: str, **kwargs: object) -> Overlay:
        """An overlay drawing the parts named in ``spec`` (see :func:`parse_draw`), e.g. ``"boxes,labels"``."""
        return cls(**parse_draw(spec), **kwargs)  # type: ignore[arg-type]

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
        self.last_placed, self.last_boxes = [], []
        if not check_image(image):
            return image
        placer = placer_for(image, result, self.text_scale)
        self.last_boxes = placer.boxes
        enabled = self.enabled
        if enabled["boxes"]:
            self._parts["boxes"].annotate(image, result)
        if enabled["va_plane"]:  # in a corner free of faces, the same as last frame's if it still is
            plane = self.va_plane.place(image, result, placer, preferred=self._plane_corner)
            self._plane_corner = plane.slot if plane is not None else self._plane_corner
        if enabled["hud"]:
            hud = self.hud.place(image, result, placer, fps=fps, latency_ms=latency_ms, preferred=self._hud_corner)
            self._hud_corner = hud.slot if hud is not None else self._hud_corner
        else:
            self.hud.last_region = None
        visible = [i for i in range(len(placer.boxes)) if placer.visible(i)]
        if visible:
            self._place_faces(image, result, placer, visible)
        self.last_placed = placer.placed
        return image

    def _place_faces(self, image: np.ndarray, result: FrameResult, placer: Placer, visible: list[int]) -> None:
        """Place and draw the per-face parts switched on, larger faces first, each part where it was last frame
        if that place is still free."""
        boxes = placer.boxes
        order = sorted(visible, key=lambda i: -_area(boxes[i]))
        track_ids = result.faces.track_id.tolist()
        detailed = len(visible) <= self.detail_faces
        self.labels.compact = not detailed  # a crowd: small one-line labels, all of one size
        for name, part in self._face_items:
            if not self.enabled[name]:
                continue
            if name != "labels" and not detailed:
                if name == "sparklines":  # its history was already fed by annotate()
                    self.sparklines.last_regions = []
                continue
            kind = part.kind
            preferred = [self._sticky.get((t, kind)) if t >= 0 else None for t in track_ids]
            for placed in part.place(image, result, placer, order, preferred):
                if track_ids[placed.face] >= 0:
                    self._sticky[(track_ids[placed.face], kind)] = placed.slot
        if len(self._sticky) > 512:  # forget tracks long gone
            current = set(track_ids)
            self._sticky = {key: slot for key, slot in self._sticky.items() if key[0] in current}

    def render(self, result: FrameResult, fps: float | None = None, latency_ms: float | None = None) -> np.ndarray:
        """An annotated copy of ``result.frame.image``; the frame itself is left untouched."""
        return self.annotate(result.frame.image.copy(), result, fps=fps, latency_ms=latency_ms)

    def _check(self, name: str) -> str:
        if name not in self.enabled:
            raise ValueError(f"unknown overlay part {name!r}; the parts are: {', '.join(ELEMENTS)}")
        return name


def _area(box: Rect | None) -> int:
    return 0 if box is None else (box[2] - box[0]) * (box[3] - box[1])
