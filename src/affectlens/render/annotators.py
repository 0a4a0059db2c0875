"""Per-face annotators: boxes, labels, probability bars, valence/arousal.

Each is a small object with its style set in ``__init__`` and one verb, ``annotate(image, result) -> image``, that
draws in place on a BGR uint8 image and returns it (supervision's annotator shape), so they compose::

    for annotator in (BoxAnnotator(), LabelAnnotator()):
        image = annotator.annotate(image, result)

Boxes are in ``result.frame`` pixels and are rescaled when ``image`` has another size. Sizes scale with the
image (see :func:`~affectlens.render.layout.layout_for`); drawing only touches small regions around each face.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import cv2
import numpy as np

from affectlens.core import FrameResult
from affectlens.render.colors import UNKNOWN_COLOR, Color, emotion_color, text_color_on
from affectlens.render.layout import (
    FONT,
    LINE,
    check_image,
    clamp,
    darken,
    face_boxes,
    layout_for,
    overlaps,
    text_size,
    under_box_top,
)


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


class LabelAnnotator(Annotator):
    """``"happy 87% #3"`` on a filled tag of the emotion's colour, above each box.

    The tag sits on the box's top edge, or just inside the box when there is no room above; it is kept inside
    the image horizontally. Unclassified faces read ``"face"``; ``#track_id`` is shown when >= 0.

    Args:
        text_scale: text size relative to the default for the image size.
        show_confidence: append the top probability as a percentage.
        show_track_id: append ``#track_id`` for tracked faces.
    """

    def __init__(self, text_scale: float = 1.0, show_confidence: bool = True, show_track_id: bool = True) -> None:
        self.text_scale = text_scale
        self.show_confidence = show_confidence
        self.show_track_id = show_track_id

    def text(self, result: FrameResult) -> list[str]:
        """The label text of each face of ``result``."""
        faces = result.faces
        if faces.classified:
            names = faces.emotion
            if self.show_confidence:
                percents = np.rint(np.nan_to_num(faces.confidence) * 100).astype(int).tolist()
                names = [f"{name} {p}%" for name, p in zip(names, percents, strict=True)]
        else:
            names = ["face"] * len(faces)
        if self.show_track_id:
            names = [f"{n} #{t}" if t >= 0 else n for n, t in zip(names, faces.track_id.tolist(), strict=True)]
        return names

    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Draw the label tags of ``result.faces`` on ``image`` in place and return it."""
        if not check_image(image):
            return image
        boxes, drawable = face_boxes(image, result)
        if not boxes:
            return image
        height, width = image.shape[:2]
        lay = layout_for(height, width, self.text_scale)
        tags = zip(boxes, drawable, face_colors(result), self.text(result), strict=True)
        for box, ok, color, text in tags:
            if not ok or not overlaps(box, width, height):
                continue
            x1, y1 = box[0], box[1]
            tw, th, base = text_size(text, lay.font_scale, lay.font_thickness)
            tag_w, tag_h = tw + 2 * lay.pad, th + base + 2 * lay.pad
            left = clamp(x1, 0, width - tag_w)
            top = y1 - tag_h if y1 - tag_h >= 0 else max(y1, 0)
            top = clamp(top, 0, height - tag_h)
            cv2.rectangle(image, (left, top), (left + tag_w - 1, top + tag_h - 1), color, -1)
            origin = (left + lay.pad, top + lay.pad + th)
            cv2.putText(image, text, origin, FONT, lay.font_scale, text_color_on(color), lay.font_thickness, LINE)
        return image


class ProbabilityBarsAnnotator(Annotator):
    """Beside each classified face, a compact panel with one horizontal bar per label, as long as its probability.

    The panel goes right of the box, or left when there is no room, and is clamped inside the image; it is left
    out on images too small to hold it. Its semi-transparent background and label names are rendered once per
    label set and image size and reused.

    Args:
        text_scale: text size relative to the default for the image size.
        bar_length: bar length at probability 1, in pixels; None scales it with the image (60 px at 360p).
        alpha: opacity of the panel background in [0, 1].
    """

    def __init__(self, text_scale: float = 1.0, bar_length: int | None = None, alpha: float = 0.6) -> None:
        self.text_scale = text_scale
        self.bar_length = bar_length
        self.alpha = alpha
        self._panels: dict[tuple, _BarPanel] = {}

    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Draw the probability panels of ``result.faces`` on ``image`` in place and return it."""
        if not check_image(image):
            return image
        faces = result.faces
        if not faces.classified or len(faces) == 0:
            return image
        height, width = image.shape[:2]
        panel = self._panel(faces.labels, height, width)
        if panel.width > width or panel.height > height:  # a cropped panel would only hide the face
            return image
        lengths = np.rint(np.clip(np.nan_to_num(faces.probs), 0.0, 1.0) * panel.bar_length).astype(int).tolist()
        boxes, drawable = face_boxes(image, result)
        for box, ok, bar_lengths in zip(boxes, drawable, lengths, strict=True):
            if not ok or not overlaps(box, width, height):
                continue
            x1, y1, x2, _ = box
            left = x2 + panel.gap if x2 + panel.gap + panel.width <= width else x1 - panel.gap - panel.width
            left, top = clamp(left, 0, width - panel.width), clamp(y1, 0, height - panel.height)
            roi = darken(image, left, top, left + panel.width, top + panel.height, self.alpha)
            if roi is None:
                continue
            cv2.max(roi, panel.sprite[: roi.shape[0], : roi.shape[1]], dst=roi)
            for (bx, by), length, color in zip(panel.bar_origins, bar_lengths, panel.colors, strict=True):
                if length > 0:
                    x, y = left + bx, top + by
                    cv2.rectangle(image, (x, y), (x + length - 1, y + panel.bar_height - 1), color, -1)
        return image

    def _panel(self, labels: tuple[str, ...], height: int, width: int) -> _BarPanel:
        key = (labels, height, width)
        panel = self._panels.get(key)
        if panel is None:
            if len(self._panels) > 16:  # label sets and sizes rarely change; keep the cache bounded anyway
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
        name_w = max(w for w, _, _ in sizes)
        text_h = max(h for _, h, _ in sizes)
        row_h = text_h + max(2, pad)
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


class ValenceArousalAnnotator(Annotator):
    """``"V +0.42  A -0.10"`` under each box, with an optional tiny valence/arousal plane marker.

    The marker is a small square with its axes and a dot at (valence right, arousal up), in the face's emotion
    colour. Faces whose valence or arousal is NaN (e.g. unclassified) are skipped. The tag goes just below the box,
    or inside its bottom when there is no room, and stays inside the image.

    Args:
        text_scale: text size relative to the default for the image size.
        show_marker: draw the 2-D marker left of the text.
        alpha: opacity of the tag background in [0, 1].
    """

    def __init__(self, text_scale: float = 1.0, show_marker: bool = True, alpha: float = 0.6) -> None:
        self.text_scale = text_scale
        self.show_marker = show_marker
        self.alpha = alpha

    def tag_size(self, height: int, width: int) -> tuple[int, int]:
        """``(width, height)`` in pixels of a typical tag on a ``height`` x ``width`` image (the height is exact).

        Other annotators use it to line up with the tag, e.g. sparklines stacked under it.
        """
        lay = layout_for(height, width, self.text_scale)
        tw, th, base = text_size("V +0.00  A +0.00", lay.small_font_scale, lay.font_thickness)
        tag_h = th + base + 2 * lay.pad
        return (tag_h if self.show_marker else 0) + tw + 2 * lay.pad, tag_h

    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Draw the valence/arousal tags of ``result.faces`` on ``image`` in place and return it."""
        if not check_image(image):
            return image
        boxes, drawable = face_boxes(image, result)
        if not boxes:
            return image
        height, width = image.shape[:2]
        lay = layout_for(height, width, self.text_scale)
        values = result.faces.valence_arousal.tolist()
        for box, ok, (v, a), color in zip(boxes, drawable, values, face_colors(result), strict=True):
            if not ok or not (math.isfinite(v) and math.isfinite(a)) or not overlaps(box, width, height):
                continue
            x1, y2 = box[0], box[3]
            text = f"V {v:+.2f}  A {a:+.2f}"
            tw, th, base = text_size(text, lay.small_font_scale, lay.font_thickness)
            tag_h = th + base + 2 * lay.pad
            marker = tag_h if self.show_marker else 0
            tag_w = marker + tw + 2 * lay.pad
            left = clamp(x1, 0, width - tag_w)
            top = under_box_top(y2, tag_h, height)
            if darken(image, left, top, left + tag_w, top + tag_h, self.alpha) is None:
                continue
            origin = (left + marker + lay.pad, top + lay.pad + th)
            cv2.putText(image, text, origin, FONT, lay.small_font_scale, (255, 255, 255), lay.font_thickness, LINE)
            if marker:
                _draw_va_marker(image, left, top, marker, v, a, color)
        return image


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
