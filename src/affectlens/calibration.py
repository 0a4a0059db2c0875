"""How far a model's shown probability can be trusted: expected calibration error and the ``uncertain`` threshold.

    from affectlens.calibration import choose_uncertain_threshold, expected_calibration_error

    ece = expected_calibration_error(probs, y_true)               # probs (N, C), y_true (N,) -> float in [0, 1]
    threshold = choose_uncertain_threshold(probs.max(1), probs.argmax(1) == y_true)

Both work on per-image (raw, unsmoothed) probabilities; ``scripts/calibrate_uncertain.py`` runs them on the FER+
validation split and stores the threshold in the model's cfg (``ModelConfig.uncertain_below``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ECE_BINS = 15
"""Number of equal-width confidence bins of :func:`expected_calibration_error` (Guo et al., ICML 2017)."""

WRONG_SHARE = 0.5
"""The ``uncertain`` target: below the threshold, the top label is wrong for more than this share of the faces."""


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error of a shown probability: ``sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|``.

    Args:
        confidence: (N,) probability the model gave to the label it shows, in [0, 1].
        correct: (N,) bool, whether that label is the true one.
        bins: equal-width bins over [0, 1]; a confidence of exactly 1 falls in the last bin.

    Returns:
        ECE in [0, 1] (0 = the shown probability is the observed accuracy); 0 for N = 0.
    """
    confidence = np.asarray(confidence, np.float64).ravel()
    correct = np.asarray(correct, bool).ravel()
    if confidence.shape != correct.shape:
        raise ValueError(f"confidence and correct need the same length, got {confidence.shape} / {correct.shape}")
    if confidence.size == 0:
        return 0.0
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, correct, bins) - np.bincount(which, confidence, bins))  # per-bin sums
    return float(gap.sum() / confidence.size) if count.any() else 0.0


def accuracy_curve(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of the top label as a non-decreasing function of its probability (isotonic regression, pool adjacent
    violators), the usual estimate of a reliability curve without bins.

    Args:
        confidence: (N,) top probability per face.
        correct: (N,) bool, whether the top label is the true one.

    Returns:
        The distinct confidences, sorted (M,), and the estimated accuracy at each (M,) float64 in [0, 1].
    """
    values, inverse = np.unique(np.asarray(confidence, np.float64).ravel(), return_inverse=True)
    weight = np.bincount(inverse, minlength=values.size).astype(np.float64)
    total = np.bincount(inverse, np.asarray(correct, np.float64).ravel(), values.size)
    # blocks of (sum of outcomes, count, number of distinct values); merge while a block's mean exceeds the next one's
    sums: list[float] = []
    counts: list[float] = []
    sizes: list[int] = []
    for s, w in zip(total.tolist(), weight.tolist(), strict=True):
        sums.append(s)
        counts.append(w)
        sizes.append(1)
        while len(sums) > 1 and sums[-2] / counts[-2] >= sums[-1] / counts[-1]:
            s_last, w_last, n_last = sums.pop(), counts.pop(), sizes.pop()
            sums[-1] += s_last
            counts[-1] += w_last
            sizes[-1] += n_last
    fitted = np.repeat(np.asarray(sums) / np.asarray(counts), sizes)
    return values, fitted


def choose_uncertain_threshold(confidence: np.ndarray, correct: np.ndarray, wrong_share: float = WRONG_SHARE) -> float:
    """The top probability below which the top label is wrong more often than ``1 - wrong_share`` right: the point
    where the isotonic accuracy curve (:func:`accuracy_curve`) reaches ``1 - wrong_share`` (0.5: a coin flip).

    Faces below it are better labelled ``uncertain``: their label would mislead more often than not. Faces above it
    keep their label, even when their probability is low in absolute terms.

    Args:
        confidence: (N,) top probability per face (per image: raw, not smoothed), in [0, 1].
        correct: (N,) bool, whether the top label is the true one.
        wrong_share: the error rate above which a label is hidden.

    Returns:
        The threshold, halfway between the last confidence with a lower estimated accuracy and the first with at least
        ``1 - wrong_share`` (so it does not sit on a data point), rounded to 3 decimals; 0.0 when even the least
        confident faces are right often enough (nothing to hide), 1.0 when no face is.
    """
    confidence = np.asarray(confidence, np.float64).ravel()
    correct = np.asarray(correct, bool).ravel()
    if confidence.shape != correct.shape or confidence.size == 0:
        raise ValueError(
            f"need equal, non-zero numbers of confidences and outcomes, got {confidence.shape} / {correct.shape}"
        )
    values, accuracy = accuracy_curve(confidence, correct)
    good = np.flatnonzero(accuracy >= 1.0 - wrong_share)
    if good.size == 0:
        return 1.0
    first = int(good[0])
    if first == 0:
        return 0.0
    return round(float((values[first - 1] + values[first]) / 2), 3)


def calibration_summary(
    probs: np.ndarray, y_true: np.ndarray, threshold: float, bins: int = ECE_BINS
) -> dict[str, Any]:
    """Figures of one labelled split at one ``uncertain`` threshold (per-image, raw probabilities).

    Args:
        probs: (N, C) probabilities.
        y_true: (N,) int index of the true class.
        threshold: faces whose top probability is below it are ``uncertain``.

    Returns:
        ``n``, ``accuracy`` (top label, all faces), ``ece`` (top probability, all faces), ``uncertain_share``,
        ``uncertain_accuracy`` (of the top label on the uncertain faces; None when there is none), ``shown_accuracy``
        and ``shown_ece`` (on the faces that keep a label).
    """
    probs = np.asarray(probs, np.float64)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == np.asarray(y_true)
    uncertain = confidence < threshold
    shown = ~uncertain
    return {
        "n": int(confidence.size),
        "accuracy": float(correct.mean()),
        "ece": expected_calibration_error(confidence, correct, bins),
        "threshold": float(threshold),
        "uncertain_share": float(uncertain.mean()),
        "uncertain_accuracy": float(correct[uncertain].mean()) if uncertain.any() else None,
        "shown_accuracy": float(correct[shown].mean()) if shown.any() else None,
        "shown_ece": expected_calibration_error(confidence[shown], correct[shown], bins),
    }
