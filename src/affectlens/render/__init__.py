"""Drawing results on frames: composable annotators (``annotate(image, result) -> image``), the default Overlay,
per-track history for sparklines and trails, and the live window of ``--show``.

>>> from affectlens.render import Overlay
>>> image = Overlay(va_plane=True).annotate(frame_image, result, fps=150.0)  # doctest: +SKIP
"""

from affectlens.render.annotators import (
    Annotator,
    BoxAnnotator,
    LabelAnnotator,
    ProbabilityBarsAnnotator,
    ValenceArousalAnnotator,
)
from affectlens.render.colors import EMOTION_COLORS, UNKNOWN_COLOR, Color, emotion_color
from affectlens.render.history import TrackHistory, TrackSeries
from affectlens.render.hud import HudAnnotator
from affectlens.render.live import Action, LiveWindow, handle_key
from affectlens.render.overlay import ELEMENTS, Overlay
from affectlens.render.sparklines import SparklineAnnotator
from affectlens.render.va_plane import ValenceArousalPlaneAnnotator

__all__ = [
    "ELEMENTS",
    "EMOTION_COLORS",
    "UNKNOWN_COLOR",
    "Action",
    "Annotator",
    "BoxAnnotator",
    "Color",
    "HudAnnotator",
    "LabelAnnotator",
    "LiveWindow",
    "Overlay",
    "ProbabilityBarsAnnotator",
    "SparklineAnnotator",
    "TrackHistory",
    "TrackSeries",
    "ValenceArousalAnnotator",
    "ValenceArousalPlaneAnnotator",
    "emotion_color",
    "handle_key",
]
