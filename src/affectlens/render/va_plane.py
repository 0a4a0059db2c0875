"""The valence-arousal plane inset: every face as a dot (valence right, arousal up) with a short trail."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from affectlens.core import FrameResult
from affectlens.render.annotators import Annotator, face_colors
from affectlens.render.colors import Color
from affectlens.render.layout import FONT, LINE, check_image, darken, layout_for, text_size
from affectlens.render.placement import Placed, Placer
from affectlens.track.history import TrackHistory

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
CORNERS: tuple[Corner, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")

QUADRANT_LABELS = ("tense", "excited", "sad", "calm")
"""Words in the top-left, top-right, bottom-left and bottom-right corners of the plane (Russell's circumplex)."""

_SHIFT = 2  # fractional bits of drawing coordinates
_ONE = 1 << _SHIFT
_TRAIL_SHADES = (0.3, 0.5, 0.75)  # brightness of the trail's oldest to newest third


class ValenceArousalPlaneAnnotator(Annotator):
    """A small square in a corner of the image: the valence-arousal plane with one dot per face.

    Valence runs left (-1) to right (+1), arousal bottom (-1) to top (+1); each face whose valence and arousal
    are known is a dot in its shown emotion's colour, with a trail of its last ``trail_ms`` (tracked faces only)
    fading into the past. With several dots, tracked ones carry their id. The plane is drawn even without faces, so
    it does not flicker as faces come and go; it is left out when it would take more than half the image's shorter
    side. In an :class:`~affectlens.render.Overlay` it moves to another corner while a face is in its own
    (:meth:`place`).

    Each :meth:`annotate` first feeds ``result`` to ``history`` (a no-op for a frame already fed).

    Args:
        history: where the trails come from; None makes a private one.
        size: side of the square in pixels; None scales it with the image (110 px at 360p).
        corner: ``"top-left"``, ``"top-right"``, ``"bottom-left"`` or ``"bottom-right"``.
        trail_ms: length of each trail in ms of stream time (0: no trails).
        quadrant_labels: write :data:`QUADRANT_LABELS` in the corners of the plane.
        text_scale: text size relative to the default for the image size.
        alpha: opacity of the background in [0, 1].

    Attributes:
        last_region: ``(x1, y1, x2, y2)`` (exclusive ends) of the square the last call drew; None if none.
    """

    def __init__(
        self,
        history: TrackHistory | None = None,
        size: int | None = None,
        corner: Corner = "bottom-right",
        trail_ms: float = 2_000.0,
        quadrant_labels: bool = True,
        text_scale: float = 1.0,
        alpha: float = 0.65,
    ) -> None:
        if corner not in CORNERS:
            raise ValueError(f"corner must be one of {', '.join(CORNERS)}, got {corner!r}")
        self.history = TrackHistory() if history is None else history
        self.size = size
        self.corner = corner
        self.trail_ms = trail_ms
        self.quadrant_labels = quadrant_labels
        self.text_scale = text_scale
        self.alpha = alpha
        self.last_region: tuple[int, int, int, int] | None = None
        self._last_size: tuple[int, int] | None = None  # (height, width) of the image last_region is on
        self._planes: dict[tuple, _Plane] = {}

    def region(self, height: int, width: int, corner: Corner | None = None) -> tuple[int, int, int, int] | None:
        """``(x1, y1, x2, y2)`` (exclusive ends) of the square on a ``height`` x ``width`` image, in ``corner``
        (default :attr:`corner`); None if the image is too small for it."""
        lay = layout_for(height, width, self.text_scale)
        side = self.size or round(110 * lay.scale)
        margin = lay.pad
        if side < 16 or side + 2 * margin > min(height, width) // 2:  # an inset must not hide half the picture
            return None
        corner = self.corner if corner is None else corner
        left = margin if corner.endswith("left") else width - margin - side
        top = margin if corner.startswith("top") else height - margin - side
        return left, top, left + side, top + side

    def point(
        self,
        valence: float,
        arousal: float,
        height: int,
        width: int,
        region: tuple[int, int, int, int] | None = None,
    ) -> tuple[float, float] | None:
        """Pixel ``(x, y)`` of a valence/arousal pair (clipped to [-1, 1]) on the plane of a ``height`` x ``width``
        image; None when the plane does not fit.

        The plane is the square ``region`` ((x1, y1, x2, y2), exclusive ends); by default the one the last call drew
        (:attr:`last_region`, which :meth:`place` may have moved to another corner) when it drew on an image of this
        size, else :meth:`region` in :attr:`corner`.
        """
        if region is None:
            drawn = self.last_region is not None and self._last_size == (height, width)
            region = self.last_region if drawn else self.region(height, width)
        if region is None:
            return None
        plane = self._plane(region[2] - region[0], height, width)
        x, y = plane.to_pixels(np.array([valence]), np.array([arousal]))
        return region[0] + float(x[0]), region[1] + float(y[0])

    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Feed ``result`` to the history, then draw the plane and its dots on ``image`` in place, in its corner."""
        self.last_region = None
        self.history.update(result)
        if not check_image(image):
            return image
        region = self.region(image.shape[0], image.shape[1])
        if region is not None:
            self.draw_in(image, result, region)
        return image

    def place(
        self, image: np.ndarray, result: FrameResult, placer: Placer, preferred: str | None = None
    ) -> Placed | None:
        """Feed ``result`` to the history, then draw the plane in the first corner ``placer`` finds free of faces
        and items (``preferred``, e.g. the last frame's, else :attr:`corner`, first); None when none is."""
        self.last_region = None
        self.history.update(result)
        height, width = image.shape[:2]
        region = self.region(height, width)
        if region is None:
            return None
        side = region[2] - region[0]
        placed = placer.place_corner(
            "va_plane", (side, side), layout_for(height, width, self.text_scale).pad, preferred or self.corner
        )
        if placed is not None:
            self.draw_in(image, result, placed.rect)
        return placed

    def draw_in(self, image: np.ndarray, result: FrameResult, region: tuple[int, int, int, int]) -> np.ndarray:
        """Draw the plane and its dots in the square ``region`` ((x1, y1, x2, y2), exclusive ends) of ``image``."""
        height, width = image.shape[:2]
        left, top, right, bottom = region
        plane = self._plane(right - left, height, width)
        roi = darken(image, left, top, right, bottom, self.alpha)
        if roi is None:
            return image
        cv2.max(roi, plane.sprite, dst=roi)
        self.last_region, self._last_size = region, (height, width)
        faces = result.faces
        if len(faces) == 0:
            return image
        va = faces.valence_arousal
        known = np.isfinite(va).all(axis=1)
        if not known.any():
            return image
        xs, ys = plane.to_pixels(va[:, 0], va[:, 1])
        colors = face_colors(result)
        track_ids = faces.track_id.tolist()
        shown = np.flatnonzero(known).tolist()
        if self.trail_ms > 0:
            for i in shown:
                if track_ids[i] >= 0:
                    self._draw_trail(roi, plane, track_ids[i], colors[i])
        label_ids = sum(track_ids[i] >= 0 for i in shown) > 1
        for i in shown:
            center = (round(xs[i] * _ONE), round(ys[i] * _ONE))
            cv2.circle(roi, center, (plane.dot_radius + 1) * _ONE, (20, 20, 20), -1, LINE, _SHIFT)
            cv2.circle(roi, center, plane.dot_radius * _ONE, colors[i], -1, LINE, _SHIFT)
            if label_ids and track_ids[i] >= 0:
                _draw_id(roi, plane, str(track_ids[i]), xs[i], ys[i])
        return image

    def _draw_trail(self, roi: np.ndarray, plane: _Plane, track_id: int, color: Color) -> None:
        series = self.history.series(track_id, self.trail_ms)
        ok = np.isfinite(series.valence) & np.isfinite(series.arousal)
        if ok.sum() < 2:
            return
        x, y = plane.to_pixels(series.valence[ok], series.arousal[ok])
        points = np.empty((len(x), 2), np.int32)
        points[:, 0] = np.rint(x * _ONE)
        points[:, 1] = np.rint(y * _ONE)
        # Thirds of the trail, oldest darkest; neighbouring thirds share a point so the line stays joined.
        last, parts = len(points) - 1, len(_TRAIL_SHADES)
        for k, shade in enumerate(_TRAIL_SHADES):
            start, end = last * k // parts, last * (k + 1) // parts
            if end > start:
                dim = (int(color[0] * shade), int(color[1] * shade), int(color[2] * shade))
                cv2.polylines(roi, [points[start : end + 1]], False, dim, plane.trail_thickness, LINE, _SHIFT)

    def _plane(self, side: int, height: int, width: int) -> _Plane:
        key = (side, height, width, self.quadrant_labels)
        plane = self._planes.get(key)
        if plane is None:
            if len(self._planes) > 16:
                self._planes.clear()
            plane = self._planes[key] = _Plane(side, height, width, self.text_scale, self.quadrant_labels)
        return plane


def _draw_id(roi: np.ndarray, plane: _Plane, text: str, x: float, y: float) -> None:
    """``text`` just right of and above the dot at ``(x, y)``, kept inside the plane."""
    tw, th, _ = text_size(text, plane.font_scale, 1)
    side = roi.shape[1]
    ox = int(x) + plane.dot_radius + 1
    ox = ox if ox + tw < side else int(x) - plane.dot_radius - 1 - tw
    oy = max(th, int(y) - plane.dot_radius)
    cv2.putText(roi, text, (ox, oy), FONT, plane.font_scale, (255, 255, 255), 1, LINE)


class _Plane:
    """Geometry and pre-rendered background (frame, axes, unit circle, labels) of one plane size."""

    def __init__(self, side: int, height: int, width: int, text_scale: float, quadrant_labels: bool) -> None:
        lay = layout_for(height, width, text_scale)
        self.side = side
        self.dot_radius = max(2, round(3.5 * lay.scale))
        self.trail_thickness = max(1, round(1.2 * lay.scale))
        self.font_scale = max(0.26, 0.32 * lay.scale * text_scale)
        inset = self.dot_radius + 2  # a dot at +-1 stays inside the square
        self.center = (side - 1) / 2
        self.half = self.center - inset
        sprite = np.zeros((side, side, 3), np.uint8)
        c, r = round(self.center), round(self.half)
        cv2.rectangle(sprite, (0, 0), (side - 1, side - 1), (110, 110, 110), 1)
        cv2.circle(sprite, (c, c), r, (55, 55, 55), 1, LINE)
        cv2.line(sprite, (c - r, c), (c + r, c), (95, 95, 95), 1)
        cv2.line(sprite, (c, c - r), (c, c + r), (95, 95, 95), 1)
        font, thick = self.font_scale, 1
        pad = max(2, lay.pad)
        # Axis names at the positive ends: "V" above the right end, "A" left of the top end (the quadrant word
        # "excited" takes the right side up there).
        vw, _, _ = text_size("V", font, thick)
        aw, ah, _ = text_size("A", font, thick)
        cv2.putText(sprite, "V", (side - pad - vw, c - 3), FONT, font, (200, 200, 200), thick, LINE)
        cv2.putText(sprite, "A", (c - 3 - aw, pad + ah), FONT, font, (200, 200, 200), thick, LINE)
        if quadrant_labels:
            for word, (right, low) in zip(QUADRANT_LABELS, ((0, 0), (1, 0), (0, 1), (1, 1)), strict=True):
                w, h, base = text_size(word, font, thick)
                x = side - pad - w if right else pad
                y = side - pad - base if low else pad + h
                cv2.putText(sprite, word, (x, y), FONT, font, (125, 125, 125), thick, LINE)
        self.sprite = sprite

    def to_pixels(self, valence: np.ndarray, arousal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Plane-local float pixel coordinates of valence/arousal values (clipped to [-1, 1])."""
        x = self.center + np.clip(valence, -1.0, 1.0) * self.half
        y = self.center - np.clip(arousal, -1.0, 1.0) * self.half
        return x, y
