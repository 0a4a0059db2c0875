"""Drawing results on frames: composable annotators (``annotate(image, result) -> image``), the default Overlay
(whose labels and panels never cover another face or each other), per-track history for sparklines and trails,
and the live window of ``--show``.

>>> from affectlens.render import Overlay
>>> image = Overlay(va_plane=True).annotate(frame_image, result, fps=150.0)  # doctest: +SKIP
"""

from affectlens.render.annotators import (
    Annotator,
    BoxAnnotator,
    FaceItemAnnotator,
    LabelAnnotator,
    ProbabilityBarsAnnotator,
    ValenceArousalAnnotator,
)
from affectlens.render.colors import EMOTION_COLORS, UNKNOWN_COLOR, Color, emotion_color
from affectlens.render.hud import HudAnnotator
from affectlens.render.live import Action, LiveWindow, handle_key
from affectlens.render.overlay import DEFAULT_DRAW, ELEMENTS, Overlay, parse_draw
from affectlens.render.placement import Placed, Placer, overlapping
from affectlens.render.sparklines import SparklineAnnotator
from affectlens.render.va_plane import ValenceArousalPlaneAnnotator
from affectlens.track.history import TrackHistory, TrackSeries

__all__ = [
    "DEFAULT_DRAW",
    "ELEMENTS",
    "EMOTION_COLORS",
    "UNKNOWN_COLOR",
    "Action",
    "Annotator",
    "BoxAnnotator",
    "Color",
    "FaceItemAnnotator",
    "HudAnnotator",
    "LabelAnnotator",
    "LiveWindow",
    "Overlay",
    "Placed",
    "Placer",
    "ProbabilityBarsAnnotator",
    "SparklineAnnotator",
    "TrackHistory",
    "TrackSeries",
    "ValenceArousalAnnotator",
    "ValenceArousalPlaneAnnotator",
    "emotion_color",
    "handle_key",
    "overlapping",
    "parse_draw",
]
