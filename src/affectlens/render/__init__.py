"""Drawing results on frames: composable annotators (``annotate(image, result) -> image``) and the default Overlay.

>>> from affectlens.render import Overlay
>>> image = Overlay().annotate(frame_image, result, fps=150.0)  # doctest: +SKIP
"""

from affectlens.render.annotators import (
    Annotator,
    BoxAnnotator,
    LabelAnnotator,
    ProbabilityBarsAnnotator,
    ValenceArousalAnnotator,
)
from affectlens.render.colors import EMOTION_COLORS, UNKNOWN_COLOR, Color, emotion_color
from affectlens.render.hud import HudAnnotator
from affectlens.render.overlay import Overlay

__all__ = [
    "EMOTION_COLORS",
    "UNKNOWN_COLOR",
    "Annotator",
    "BoxAnnotator",
    "Color",
    "HudAnnotator",
    "LabelAnnotator",
    "Overlay",
    "ProbabilityBarsAnnotator",
    "ValenceArousalAnnotator",
    "emotion_color",
]
