"""Valence/arousal targets derived from emotion votes, for data without VA annotations.

No VA-annotated face images are reachable here (AffectNet and Aff-Wild2 are not redistributable), so the VA head of
the default model is trained on the vote-weighted mean of per-emotion coordinates:

    va(image) = sum_e p(e | votes) * COORDS[e]

Source of the coordinates (pleasure ~ valence, arousal), on a [-1, 1] scale:
Russell, J. A. & Mehrabian, A. (1977). "Evidence for a three-factor theory of emotions." Journal of Research in
Personality 11(3), 273-294, as tabulated for the basic emotions by Gebhard, P. (2005), "ALMA: a layered model of
affect", AAMAS 2005: anger (-.51, .59), disgust (-.60, .35), fear (-.64, .60), happy/joy (.81, .51),
sadness (-.63, -.27), surprise (.40, .67). Neutral is the origin by definition.
Contempt has no entry in that table: (-0.40, 0.20) is OUR choice (unpleasant, mildly aroused, between disgust and
neutral), not a published figure. Outputs trained this way are derived, not learned from VA annotations.
"""

from __future__ import annotations

import numpy as np

from affectlens.emotions import EMOTIONS, canonical_emotion

VA_COORDINATES: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "happy": (0.81, 0.51),
    "sad": (-0.63, -0.27),
    "surprise": (0.40, 0.67),
    "fear": (-0.64, 0.60),
    "disgust": (-0.60, 0.35),
    "angry": (-0.51, 0.59),
    "contempt": (-0.40, 0.20),  # our choice, see module docstring
}


def va_table(labels: tuple[str, ...] = EMOTIONS) -> np.ndarray:
    """(C, 2) float32 valence/arousal coordinates of ``labels`` (synonyms accepted)."""
    return np.array([VA_COORDINATES[canonical_emotion(name)] for name in labels], np.float32)


def derive_valence_arousal(distribution: np.ndarray, labels: tuple[str, ...] = EMOTIONS) -> np.ndarray:
    """Emotion distributions (N, C) (votes or probabilities; rows need not sum to 1) -> (N, 2) valence/arousal.

    Rows without any mass give NaN (no target).
    """
    distribution = np.asarray(distribution, np.float64)
    total = distribution.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = distribution / total
    return (p @ va_table(labels)).astype(np.float32)
