"""The fixed emotion palette: one BGR colour per canonical emotion, grey for anything else.

Colours are fixed (not derived from class ids) so that a viewer learns them once: the same emotion has the same
colour in every video, whatever the order of a model's labels. Synonyms ("happiness", "anger") map to their
canonical emotion's colour.
"""

from __future__ import annotations

from functools import lru_cache

from affectlens.emotions import EMOTIONS, UnknownLabelError, canonical_emotion

Color = tuple[int, int, int]
"""A BGR colour, each channel in [0, 255] (OpenCV order)."""

EMOTION_COLORS: dict[str, Color] = {
    "neutral": (230, 216, 173),  # light blue
    "happy": (0, 215, 255),  # gold
    "sad": (200, 100, 30),  # blue
    "surprise": (0, 140, 255),  # orange
    "fear": (180, 60, 150),  # purple
    "disgust": (40, 160, 40),  # green
    "angry": (40, 40, 230),  # red
    "contempt": (150, 150, 0),  # teal
}
"""Canonical emotion name -> BGR colour; has exactly one entry per name in :data:`affectlens.emotions.EMOTIONS`."""

UNKNOWN_COLOR: Color = (128, 128, 128)
"""BGR grey for labels that are not emotions and for faces that were not classified."""

assert set(EMOTION_COLORS) == set(EMOTIONS), "one colour per canonical emotion"


@lru_cache(maxsize=256)
def emotion_color(label: str) -> Color:
    """BGR colour of an emotion label or synonym (any case); :data:`UNKNOWN_COLOR` for anything else.

    >>> emotion_color("Happiness") == EMOTION_COLORS["happy"]
    True
    """
    if not label:
        return UNKNOWN_COLOR
    try:
        return EMOTION_COLORS[canonical_emotion(label)]
    except UnknownLabelError:
        return UNKNOWN_COLOR


@lru_cache(maxsize=256)
def text_color_on(background: Color) -> Color:
    """Black or white, whichever reads better on a filled ``background`` (BGR), by Rec. 601 luma."""
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)
