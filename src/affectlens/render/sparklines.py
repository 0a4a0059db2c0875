"""Per-face sparklines: engagement and valence of each tracked face over the last seconds, under its box."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from affectlens.core import FrameResult
from affectlens.render.annotators import FaceItemAnnotator, ValenceArousalAnnotator
from affectlens.render.colors import Color
from affectlens.render.layout import FONT, LINE, darken, layout_for, text_size
from affectlens.render.placement import SPARKLINE_SLOTS, Placed, Placer, Rect, Slot
from affectlens.track.history import TrackHistory, TrackSeries

ENGAGEMENT_COLOR: Color = (140, 235, 255)
"""BGR pale yellow of the engagement line."""
POSITIVE_COLOR: Color = (110, 225, 110)
"""BGR green of the valence line above zero."""
NEGATIVE_COLOR: Color = (100, 100, 245)
"""BGR red of the valence line below zero."""

_SHIFT = 2  # fractional bits of polyline coordinates: sub-pixel positions keep slow trends smooth
_ONE = 1 << _SHIFT


class SparklineAnnotator(FaceItemAnnotator):
    """Two tiny line charts under each tracked face: engagement in [0, 1] and valence in [-1, 1] over time.

    The newest sample is at the right edge, ``history.window_ms`` ago at the left; the valence line is green above
    zero and red below. A row is left out when its values are all unknown (e.g. no engagement stage ran), the panel
    when both are. Faces with ``track_id`` -1 get none. The panel goes under the face's valence/arousal tag when an
    :class:`~affectlens.render.Overlay` placed one, else under the box, else beside it, wherever it covers no other
    face or item and stays inside the image; a panel that fits nowhere is left out.

    Each :meth:`annotate` first feeds ``result`` to ``history`` (a no-op for a frame already fed), so a shared
    history needs no separate update.

    Args:
        history: where the samples come from; None makes a private 10-second one.
        text_scale: text size relative to the default for the image size.
        width: panel width in pixels; None matches the valence/arousal tag (113 px at 360p).
        below_va_tag: try the place under the face's valence/arousal tag first (when one was placed).
        alpha: opacity of the panel background in [0, 1].
        va_annotator: the valence/arousal annotator whose tag width the default ``width`` follows; None assumes a
            default one with this ``text_scale``.

    Attributes:
        last_regions: ``(x1, y1, x2, y2)`` (exclusive ends) of each panel the last call drew.
    """

    kind = "sparklines"

    def __init__(
        self,
        history: TrackHistory | None = None,
        text_scale: float = 1.0,
        width: int | None = None,
        below_va_tag: bool = True,
        alpha: float = 0.6,
        va_annotator: ValenceArousalAnnotator | None = None,
    ) -> None:
        self.history = TrackHistory() if history is None else history
        self.text_scale = text_scale
        self.width = width
        self.below_va_tag = below_va_tag
        self.alpha = alpha
        self.last_regions: list[tuple[int, int, int, int]] = []
        self.last_placed = []
        self.va_annotator = ValenceArousalAnnotator(text_scale=text_scale) if va_annotator is None else va_annotator
        self._panels: dict[tuple, _SparkPanel] = {}

    @property
    def slots(self) -> tuple[Slot, ...]:  # type: ignore[override]
        """Where the panel may go, in order of preference."""
        if self.below_va_tag:
            return SPARKLINE_SLOTS
        return tuple(s for s in SPARKLINE_SLOTS if s.anchor != "va")

    def place(
        self,
        image: np.ndarray,
        result: FrameResult,
        placer: Placer,
        order: Sequence[int] | None = None,
        preferred: Sequence[str | None] | None = None,
    ) -> list[Placed]:
        """Feed ``result`` to the history, then place and draw the panels (see :meth:`FaceItemAnnotator.place`)."""
        self.history.update(result)
        placed = super().place(image, result, placer, order, preferred)
        self.last_regions = [p.rect for p in placed]
        return placed

    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """Feed ``result`` to the history, then draw the sparklines of its tracked faces on ``image`` in place."""
        self.last_regions = []
        self.history.update(result)
        return super().annotate(image, result)

    def prepare(self, image: np.ndarray, result: FrameResult) -> Any:
        faces = result.faces
        now = self.history.now_ms
        if now is None or not (faces.track_id >= 0).any():
            return None
        height, width = image.shape[:2]
        panel_w = self.width or self.va_annotator.tag_size(height, width)[0]
        return height, width, panel_w, faces.track_id.tolist(), now

    def variants(self, state: Any, face: int) -> list[tuple[int, int, Any]]:
        height, width, panel_w, track_ids, _ = state
        track_id = track_ids[face]
        if track_id < 0:
            return []
        series = self.history.series(track_id)
        charts = _charts(series)
        if not charts:
            return []
        panel = self._panel(tuple(name for name, _, _ in charts), height, width, panel_w)
        return [(panel.width, panel.height, (panel, series, charts))]

    def draw(self, image: np.ndarray, state: Any, face: int, variant: tuple[int, int, Any], rect: Rect) -> None:
        panel, series, charts = variant[2]
        now = state[4]
        left, top, right, bottom = rect
        roi = darken(image, left, top, right, bottom, self.alpha)
        if roi is None:
            return
        cv2.max(roi, panel.sprite[: roi.shape[0], : roi.shape[1]], dst=roi)
        age = now - series.timestamp_ms
        x = np.rint((panel.plot_right - age * ((panel.plot_width - 1) / self.history.window_ms)) * _ONE)
        x = x.astype(np.int32)
        for (name, values, known), plot_top in zip(charts, panel.row_tops, strict=True):
            _draw_chart(roi, name, values, x if known is None else x[known], panel, plot_top)

    def _panel(self, rows: tuple[str, ...], height: int, width: int, panel_w: int) -> _SparkPanel:
        key = (rows, height, width, panel_w)
        panel = self._panels.get(key)
        if panel is None:
            if len(self._panels) > 16:
                self._panels.clear()
            panel = self._panels[key] = _SparkPanel(rows, height, width, self.text_scale, panel_w)
        return panel


def _charts(series: TrackSeries) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """``(name, known values, mask of the known samples or None when all are)`` of each chart with a known value."""
    charts: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for name, values in (("eng", series.engagement), ("val", series.valence)):
        known = np.isfinite(values)
        if known.all():
            charts.append((name, values, None))
        elif known.any():
            charts.append((name, values[known], known))
    return charts if len(series) else []


def _draw_chart(roi: np.ndarray, name: str, values: np.ndarray, x: np.ndarray, panel: _SparkPanel, top: int) -> None:
    """Draw one chart into ``roi`` (the panel's pixels): ``values`` (engagement in [0, 1] for ``"eng"``, valence in
    [-1, 1] for ``"val"``) at fixed-point x positions ``x``, in the plot area starting at row ``top``."""
    h = panel.row_height - 1
    points = np.empty((len(values), 2), np.int32)
    points[:, 0] = x
    if name == "eng":
        points[:, 1] = np.rint((top + h * (1.0 - values)) * _ONE)
        _polyline(roi, points, ENGAGEMENT_COLOR, panel.dot_radius, panel.line_thickness)
        return
    points[:, 1] = np.rint((top + h * 0.5 * (1.0 - values)) * _ONE)
    # Green above the zero line, red below: the same line drawn twice, each time clipped to one half of the row.
    mid, right, dot = top + h // 2, panel.plot_right + panel.dot_radius + 1, panel.dot_radius
    positive = values[-1] >= 0
    for color, y1, y2, owns_dot in (
        (POSITIVE_COLOR, top, mid + 1, positive),
        (NEGATIVE_COLOR, mid, top + h + 1, not positive),
    ):
        shifted = points.copy()
        shifted[:, 1] -= y1 * _ONE
        _polyline(roi[y1:y2, :right], shifted, color, dot if owns_dot else 0, panel.line_thickness)


def _polyline(image: np.ndarray, points: np.ndarray, color: Color, dot_radius: int, thickness: int = 1) -> None:
    """An anti-aliased line through (T, 2) int32 fixed-point ``points``, with a dot of ``dot_radius`` px on the last."""
    if len(points) > 1:
        cv2.polylines(image, [points], False, color, thickness, LINE, _SHIFT)
    if dot_radius and len(points):
        cv2.circle(image, (int(points[-1, 0]), int(points[-1, 1])), dot_radius * _ONE, color, -1, LINE, _SHIFT)


class _SparkPanel:
    """Geometry and pre-rendered background (row names, plot areas, zero line) of one sparkline panel."""

    def __init__(self, rows: tuple[str, ...], height: int, width: int, text_scale: float, panel_w: int) -> None:
        lay = layout_for(height, width, text_scale)
        font_scale, thick, pad = lay.small_font_scale, lay.font_thickness, lay.pad
        sizes = [text_size(name, font_scale, thick) for name in ("eng", "val")]
        name_w = max(w for w, _, _ in sizes)
        text_h = max(h for _, h, _ in sizes)
        self.row_height = max(text_h + 2, round(13 * lay.scale))
        row_gap = max(2, pad)
        self.dot_radius = max(1, round(1.5 * lay.scale))
        self.line_thickness = max(1, round(0.8 * lay.scale))
        plot_x = pad + name_w + pad
        self.width = max(panel_w, plot_x + 8 + pad + self.dot_radius)
        self.plot_right = self.width - pad - self.dot_radius - 1
        self.plot_width = self.plot_right - plot_x + 1
        self.height = pad + len(rows) * self.row_height + (len(rows) - 1) * row_gap + pad
        self.row_tops = [pad + i * (self.row_height + row_gap) for i in range(len(rows))]
        self.sprite = np.zeros((self.height, self.width, 3), np.uint8)
        for name, top in zip(rows, self.row_tops, strict=True):
            bottom = top + self.row_height - 1
            cv2.rectangle(self.sprite, (plot_x, top), (self.plot_right, bottom), (38, 38, 38), -1)
            if name == "val":
                mid = top + (self.row_height - 1) // 2
                cv2.line(self.sprite, (plot_x, mid), (self.plot_right, mid), (95, 95, 95), 1)
            baseline_y = top + (self.row_height + text_h) // 2
            cv2.putText(self.sprite, name, (pad, baseline_y), FONT, font_scale, (215, 215, 215), thick, LINE)
        self.plot_x = plot_x
