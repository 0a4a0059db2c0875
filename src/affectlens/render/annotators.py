"""Per-face annotators: boxes, labels, probability bars, valence/arousal.

Each is a small object with its style set in ``__init__`` and one verb, ``annotate(image, result) -> image``, that
draws in place on a BGR uint8 image and returns it (supervision's annotator shape), so they compose::

    for annotator in (BoxAnnotator(), LabelAnnotator()):
        image = annotator.annotate(image, result)

Boxes are in ``result.frame`` pixels and are rescaled when ``image`` has another size. Sizes scale with the
image (see :func:`~affectlens.render.layout.layout_for`); drawing only touches small regions around each face.
Labels and panels are placed by :class:`~affectlens.render.placement.Placer`: none covers another face or another
label, and none leaves the image.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import cv2
import numpy as np

from affectlens.core import FrameResult
from affectlens.render.colors import UNKNOWN_COLOR, Color, emotion_color, text_color_on
from affectlens.render.layout import FONT, LINE, check_image, darken, face_boxes, layout_for, overlaps, text_size
from affectlens.render.placement import BARS_SLOTS, LABEL_SLOTS, VA_SLOTS, Placed, Placer, Rect, Slot


class Annotator(ABC):
    """Draws something about a :class:`~affectlens.core.FrameResult` on an image, in place."""

    @abstractmethod
    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Draw on ``image`` ((H, W, 3) uint8 BGR, modified in place) and return it."""


def face_colors(result: FrameResult) -> list[Color]:
    """BGR colour of each face's top emotion; :data:`~affectlens.render.colors.UNKNOWN_COLOR` when unclassified."""
    return [emotion_color(label) for label in result.faces.emotion]


class BoxAnnotator(Annotator):
    """A box around each face, coloured by its top emotion (grey when unknown or unclassified).

    The border is drawn inside the box, clipped to the image, so a face cut by the image border keeps a visible
    box edge along that border. Boxes wholly outside the image are skipped.

    Args:
        thickness: border width in pixels; None scales it with the image (2 px at 360p).
        color: one BGR colour for every box instead of the emotion palette.
    """

    def __init__(self, thickness: int | None = None, color: Color | None = None) -> None:
        self.thickness = thickness
        self.color = color

    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Draw the boxes of ``result.faces`` on ``image`` in place and return it."""
        if not check_image(image):
            return image
        boxes, drawable = face_boxes(image, result)
        if not boxes:
            return image
        height, width = image.shape[:2]
        thickness = self.thickness or layout_for(height, width).thickness
        colors = face_colors(result) if self.color is None else [self.color] * len(boxes)
        for box, ok, color in zip(boxes, drawable, colors, strict=True):
            if not ok or not overlaps(box, width, height):
                continue
            x1, y1, x2, y2 = box
            # Inclusive pixel bounds of the box, inside the image.
            left, top = max(x1, 0), max(y1, 0)
            right, bottom = min(max(x2 - 1, left), width - 1), min(max(y2 - 1, top), height - 1)
            t = thickness - 1
            cv2.rectangle(image, (left, top), (right, top + t), color, -1)
            cv2.rectangle(image, (left, bottom - t), (right, bottom), color, -1)
            cv2.rectangle(image, (left, top), (left + t, bottom), color, -1)
            cv2.rectangle(image, (right - t, top), (right, bottom), color, -1)
        return image


class FaceItemAnnotator(Annotator):
    """Base of the annotators that draw one item per face (a label, a panel) where a :class:`Placer` finds room.

    Alone, :meth:`annotate` places the items around the boxes so that none covers another face or another item
    (see :mod:`affectlens.render.placement`); an :class:`~affectlens.render.Overlay` shares one placer between its
    annotators so that their items avoid each other too. Subclasses say what to draw per face
    (:meth:`variants`, largest first) and how (:meth:`draw`).

    Attributes:
        last_placed: the :class:`Placed` items of the last call, with their rectangles in image pixels.
    """

    kind: ClassVar[str] = "item"
    slots: ClassVar[tuple[Slot, ...]] = ()

    last_placed: list[Placed]

    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Draw this item of every face of ``result`` on ``image`` in place and return it."""
        self.last_placed = []
        if not check_image(image):
            return image
        placer = placer_for(image, result)
        self.place(image, result, placer)
        return image

    def place(
        self,
        image: np.ndarray,
        result: FrameResult,
        placer: Placer,
        order: Sequence[int] | None = None,
        preferred: Sequence[str | None] | None = None,
    ) -> list[Placed]:
        """Place and draw the item of each face of ``result`` (in ``order``, default by index) with ``placer``.

        Args:
            image: (H, W, 3) uint8 BGR, drawn on in place; ``placer`` was made for its size.
            result: the frame's result.
            placer: where the boxes and the items placed so far are.
            order: face indices to serve, first served first.
            preferred: per face index, a slot name to try first (where the item was on the last frame), or None.

        Returns:
            The items placed (also in :attr:`last_placed`).
        """
        self.last_placed = []
        state = self.prepare(image, result)
        if state is None:
            return []
        for i in range(len(result.faces)) if order is None else order:
            if not placer.visible(i):
                continue
            variants = self.variants(state, i)
            if not variants:
                continue
            sizes = [(v[0], v[1]) for v in variants]
            slot = preferred[i] if preferred is not None else None
            placed = placer.place(self.kind, i, sizes, self.slots, preferred=slot, gap=self.gap(state))
            if placed is not None:
                self.draw(image, state, i, variants[placed.variant], placed.rect)
                self.last_placed.append(placed)
        return self.last_placed

    def prepare(self, image: np.ndarray, result: FrameResult) -> Any:
        """Per-frame state for :meth:`variants` and :meth:`draw`; None when nothing is to be drawn."""
        return result

    def gap(self, state: Any) -> int:
        """Pixels between the item and the box (or item) it is put next to."""
        return 0

    @abstractmethod
    def variants(self, state: Any, face: int) -> list[tuple[int, int, Any]]:
        """``(width, height, payload)`` of each way to draw face ``face``'s item, largest first; [] for none."""

    @abstractmethod
    def draw(self, image: np.ndarray, state: Any, face: int, variant: tuple[int, int, Any], rect: Rect) -> None:
        """Draw face ``face``'s item as ``variant`` in ``rect`` (inside the image)."""


def placer_for(image: np.ndarray, result: FrameResult, text_scale: float = 1.0) -> Placer:
    """A :class:`Placer` for ``image`` with the drawable boxes of ``result`` (rescaled to ``image``) as obstacles."""
    height, width = image.shape[:2]
    boxes, drawable = face_boxes(image, result)
    lay = layout_for(height, width, text_scale)
    obstacles = [(b[0], b[1], b[2], b[3]) if ok else None for b, ok in zip(boxes, drawable, strict=True)]
    return Placer(width, height, obstacles, lay.pad)


class LabelAnnotator(FaceItemAnnotator):
    """``"happy 87% #3"`` on a filled tag of the emotion's colour, on top of each box.

    The tag sits on the box's top edge; when that would cover another face or label, or leave the image, it goes
    under the box, beside it, or (last resort) inside the box's top edge. When no place has room for it, smaller
    text is tried, then the label without its percentage; a label that fits nowhere is left out. Unclassified faces
    read ``"face"``; ``#track_id`` is shown when >= 0.

    Args:
        text_scale: text size relative to the default for the image size.
        show_confidence: append the shown label's probability as a percentage.
        show_track_id: append ``#track_id`` for tracked faces.

    Attributes:
        compact: use the smaller text from the start (an :class:`~affectlens.render.Overlay` sets it for crowds,
            so that every face's label has the same size).
    """

    kind = "label"
    slots = LABEL_SLOTS

    def __init__(self, text_scale: float = 1.0, show_confidence: bool = True, show_track_id: bool = True) -> None:
        self.text_scale = text_scale
        self.show_confidence = show_confidence
        self.show_track_id = show_track_id
        self.compact = False
        self.last_placed = []

    def text(self, result: FrameResult, show_confidence: bool | None = None) -> list[str]:
        """The label text of each face of ``result`` (``show_confidence`` overrides the constructor's choice)."""
        return self._texts(result, self.show_confidence if show_confidence is None else show_confidence)[0]

    def _texts(self, result: FrameResult, confidence: bool) -> tuple[list[str], list[str]]:
        """The label of each face, and the same without the percentage."""
        faces = result.faces
        names = faces.emotion if faces.classified else ["face"] * len(faces)
        if self.show_track_id:
            names = [f"{n} #{t}" if t >= 0 else n for n, t in zip(names, faces.track_id.tolist(), strict=True)]
        if not (confidence and faces.classified):
            return names, names
        percents = np.rint(np.nan_to_num(faces.confidence) * 100).astype(int).tolist()
        full = [
            f"{name} {p}%" + (f" #{t}" if self.show_track_id and t >= 0 else "")
            for name, p, t in zip(faces.emotion, percents, faces.track_id.tolist(), strict=True)
        ]
        return full, names

    def prepare(self, image: np.ndarray, result: FrameResult) -> Any:
        height, width = image.shape[:2]
        lay = layout_for(height, width, self.text_scale)
        texts, short = self._texts(result, self.show_confidence)
        fonts = [] if self.compact else [(lay.font_scale, lay.font_thickness)]
        if lay.small_font_scale < lay.font_scale or not fonts:
            fonts.append((lay.small_font_scale, max(1, lay.font_thickness - 1)))
        return lay, texts, short, fonts, face_colors(result)

    def variants(self, state: Any, face: int) -> list[tuple[int, int, Any]]:
        lay, texts, short, fonts, _ = state
        out = []
        candidates = [(texts[face], font) for font in fonts]
        if short[face] != texts[face]:
            candidates.append((short[face], fonts[-1]))
        for text, (font_scale, thickness) in candidates:
            pad = lay.pad if font_scale == lay.font_scale else max(1, lay.pad - 1)
            tw, th, base = text_size(text, font_scale, thickness)
            out.append((tw + 2 * pad, th + base + 2 * pad, (text, font_scale, thickness, pad, th)))
        return out

    def draw(self, image: np.ndarray, state: Any, face: int, variant: tuple[int, int, Any], rect: Rect) -> None:
        colors = state[4]
        text, font_scale, thickness, pad, th = variant[2]
        left, top, right, bottom = rect
        color = colors[face]
        cv2.rectangle(image, (left, top), (right - 1, bottom - 1), color, -1)
        origin = (left + pad, top + pad + th)
        cv2.putText(image, text, origin, FONT, font_scale, text_color_on(color), thickness, LINE)


class ProbabilityBarsAnnotator(FaceItemAnnotator):
    """Beside each classified face, a compact panel with one horizontal bar per label, as long as its probability.

    The panel goes right of the box, else left, else beside the label, under or over the box, wherever it covers
    no other face or item and stays inside the image. Where the full panel has no room, a short one with the
    ``compact_rows`` most probable labels is tried; a panel that fits nowhere is left out. Its semi-transparent
    background and label names are rendered once per label set and image size and reused.

    Args:
        text_scale: text size relative to the default for the image size.
        bar_length: bar length at probability 1, in pixels; None scales it with the image (60 px at 360p).
        alpha: opacity of the panel background in [0, 1].
        compact_rows: rows of the short panel (0: no short panel).
    """

    kind = "bars"
    slots = BARS_SLOTS

    def __init__(
        self, text_scale: float = 1.0, bar_length: int | None = None, alpha: float = 0.6, compact_rows: int = 3
    ) -> None:
        self.text_scale = text_scale
        self.bar_length = bar_length
        self.alpha = alpha
        self.compact_rows = compact_rows
        self.last_placed = []
        self._panels: dict[tuple, _BarPanel] = {}

    def prepare(self, image: np.ndarray, result: FrameResult) -> Any:
        faces = result.faces
        if not faces.classified or len(faces) == 0:
            return None
        height, width = image.shape[:2]
        probs = faces.probs
        if not np.isfinite(probs).all():
            probs = np.nan_to_num(probs)
        return faces.labels, np.clip(probs, 0.0, 1.0), height, width

    def gap(self, state: Any) -> int:
        labels, _, height, width = state
        return self._panel(labels, height, width).gap

    def variants(self, state: Any, face: int) -> list[tuple[int, int, Any]]:
        labels, probs, height, width = state
        full = self._panel(labels, height, width)
        out = [(full.width, full.height, (full, probs[face]))]
        rows = self.compact_rows
        if 0 < rows < len(labels):
            top = np.argsort(-probs[face], kind="stable")[:rows].tolist()
            short = self._panel(tuple(labels[k] for k in top), height, width)
            out.append((short.width, short.height, (short, probs[face][top])))
        return out

    def draw(self, image: np.ndarray, state: Any, face: int, variant: tuple[int, int, Any], rect: Rect) -> None:
        panel, values = variant[2]
        left, top, right, bottom = rect
        roi = darken(image, left, top, right, bottom, self.alpha)
        if roi is None:
            return
        cv2.max(roi, panel.sprite[: roi.shape[0], : roi.shape[1]], dst=roi)
        lengths = np.rint(values * panel.bar_length).astype(int).tolist()
        for (bx, by), length, color in zip(panel.bar_origins, lengths, panel.colors, strict=True):
            if length > 0:
                x, y = left + bx, top + by
                cv2.rectangle(image, (x, y), (x + length - 1, y + panel.bar_height - 1), color, -1)

    def _panel(self, labels: tuple[str, ...], height: int, width: int) -> _BarPanel:
        key = (labels, height, width)
        panel = self._panels.get(key)
        if panel is None:
            if len(self._panels) > 64:  # label sets and sizes rarely change; keep the cache bounded anyway
                self._panels.clear()
            panel = self._panels[key] = _BarPanel(labels, height, width, self.text_scale, self.bar_length)
        return panel


class _BarPanel:
    """Geometry and pre-rendered background (names, bar tracks) of one probability panel."""

    def __init__(
        self, labels: tuple[str, ...], height: int, width: int, text_scale: float, bar_length: int | None
    ) -> None:
        lay = layout_for(height, width, text_scale)
        font_scale, thick, pad = lay.small_font_scale, lay.font_thickness, lay.pad
        sizes = [text_size(label, font_scale, thick) for label in labels]
        # Row height from the tallest letters of any label ("disgust" has a descender), so rows never touch.
        name_w = max(w for w, _, _ in sizes)
        text_h = max(h for _, h, _ in sizes)
        descent = max(b for _, _, b in sizes)
        row_h = text_h + max(descent, pad)
        self.bar_length = bar_length or max(8, round(60 * lay.scale))
        self.bar_height = max(2, text_h - 1)
        self.gap = max(2, pad)
        bar_x = pad + name_w + pad
        self.width = bar_x + self.bar_length + pad
        self.height = pad + row_h * len(labels)
        self.colors = [emotion_color(label) for label in labels]
        self.bar_origins = [(bar_x, pad + i * row_h + (text_h - self.bar_height) // 2) for i in range(len(labels))]
        self.sprite = np.zeros((self.height, self.width, 3), np.uint8)
        for i, label in enumerate(labels):
            baseline_y = pad + i * row_h + text_h
            cv2.putText(self.sprite, label, (pad, baseline_y), FONT, font_scale, (235, 235, 235), thick, LINE)
            x, y = self.bar_origins[i]
            track = (x, y), (x + self.bar_length - 1, y + self.bar_height - 1)
            cv2.rectangle(self.sprite, *track, (70, 70, 70), -1)


class ValenceArousalAnnotator(FaceItemAnnotator):
    """``"V +0.42  A -0.10"`` under each box, with an optional tiny valence/arousal plane marker.

    The marker is a small square with its axes and a dot at (valence right, arousal up), in the face's emotion
    colour. Faces whose valence or arousal is NaN (e.g. unclassified) are skipped. The tag goes just below the box,
    else beside it or above its label, wherever it covers no other face or item and stays inside the image; a tag
    that fits nowhere is left out.

    Args:
        text_scale: text size relative to the default for the image size.
        show_marker: draw the 2-D marker left of the text.
        alpha: opacity of the tag background in [0, 1].
    """

    kind = "va"
    slots = VA_SLOTS

    def __init__(self, text_scale: float = 1.0, show_marker: bool = True, alpha: float = 0.6) -> None:
        self.text_scale = text_scale
        self.show_marker = show_marker
        self.alpha = alpha
        self.last_placed = []

    def tag_size(self, height: int, width: int) -> tuple[int, int]:
        """``(width, height)`` in pixels of a typical tag on a ``height`` x ``width`` image (the height is exact).

        Other annotators use it to line up with the tag, e.g. sparklines as wide as it.
        """
        lay = layout_for(height, width, self.text_scale)
        tw, th, base = text_size("V +0.00  A +0.00", lay.small_font_scale, lay.font_thickness)
        tag_h = th + base + 2 * lay.pad
        return (tag_h if self.show_marker else 0) + tw + 2 * lay.pad, tag_h

    def prepare(self, image: np.ndarray, result: FrameResult) -> Any:
        height, width = image.shape[:2]
        lay = layout_for(height, width, self.text_scale)
        return lay, result.faces.valence_arousal.tolist(), face_colors(result)

    def variants(self, state: Any, face: int) -> list[tuple[int, int, Any]]:
        lay, values, _ = state
        v, a = values[face]
        if not (math.isfinite(v) and math.isfinite(a)):
            return []
        text = f"V {v:+.2f}  A {a:+.2f}"
        tw, th, base = text_size(text, lay.small_font_scale, lay.font_thickness)
        tag_h = th + base + 2 * lay.pad
        marker = tag_h if self.show_marker else 0
        return [(marker + tw + 2 * lay.pad, tag_h, (text, marker, th))]

    def draw(self, image: np.ndarray, state: Any, face: int, variant: tuple[int, int, Any], rect: Rect) -> None:
        lay, values, colors = state
        text, marker, th = variant[2]
        left, top, right, bottom = rect
        if darken(image, left, top, right, bottom, self.alpha) is None:
            return
        origin = (left + marker + lay.pad, top + lay.pad + th)
        cv2.putText(image, text, origin, FONT, lay.small_font_scale, (255, 255, 255), lay.font_thickness, LINE)
        if marker:
            v, a = values[face]
            _draw_va_marker(image, left, top, marker, v, a, colors[face])


def _draw_va_marker(image: np.ndarray, left: int, top: int, side: int, v: float, a: float, color: Color) -> None:
    """A ``side``-pixel square at (left, top): axes through its centre and a dot at (valence, arousal)."""
    inset = max(1, side // 8)
    x1, y1, x2, y2 = left + inset, top + inset, left + side - 1 - inset, top + side - 1 - inset
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    cv2.rectangle(image, (x1, y1), (x2, y2), UNKNOWN_COLOR, 1)
    cv2.line(image, (x1, cy), (x2, cy), (90, 90, 90), 1)
    cv2.line(image, (cx, y1), (cx, y2), (90, 90, 90), 1)
    half = (x2 - x1) / 2
    dot = (round(cx + max(-1.0, min(v, 1.0)) * half), round(cy - max(-1.0, min(a, 1.0)) * half))
    cv2.circle(image, dot, max(1, side // 7), color, -1, LINE)
