"""The one emotion vocabulary of affectlens, and the synonyms accepted wherever a label is read.

Canonical order (index = class id of the shipped model and of every record):
``neutral happy sad surprise fear disgust angry contempt``.
"""

from __future__ import annotations

from collections.abc import Iterable

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "angry",
    "contempt",
)

_SYNONYMS: dict[str, str] = {
    "neutral": "neutral",
    "neutrality": "neutral",
    "calm": "neutral",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "angry": "angry",
    "anger": "angry",
    "contempt": "contempt",
    "contemptuous": "contempt",
}


class UnknownLabelError(ValueError):
    """A label that is neither a canonical emotion name nor a known synonym."""


def canonical_emotion(label: str) -> str:
    """Map a label or synonym (any case, ``_``/``-``/space tolerant) to its canonical name.

    >>> canonical_emotion("Happiness")
    'happy'
    """
    key = label.strip().lower().replace("-", "_").replace(" ", "_")
    # "0_angry" / "angry_faces" style folder names are not guessed: only exact names and synonyms.
    if key in _SYNONYMS:
        return _SYNONYMS[key]
    raise UnknownLabelError(
        f"unknown emotion label {label!r}; expected one of {', '.join(EMOTIONS)} or a synonym "
        f"({', '.join(sorted(k for k in _SYNONYMS if k not in EMOTIONS))})"
    )


def is_emotion(label: str) -> bool:
    """True when ``label`` names an emotion (canonically or by synonym)."""
    try:
        canonical_emotion(label)
    except UnknownLabelError:
        return False
    return True


def canonical_emotions(labels: Iterable[str]) -> list[str]:
    """Canonical names for several labels; raises :class:`UnknownLabelError` on the first unknown one."""
    return [canonical_emotion(label) for label in labels]
