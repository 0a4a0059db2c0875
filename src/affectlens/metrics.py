"""Classification and valence/arousal metrics in plain numpy (used by ``affectlens evaluate`` and the trainer)."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return matrix


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, macro-F1 (over classes present in ``y_true``), per-class precision/recall/F1/support, confusion.

    Returns:
        ``{"n", "accuracy", "macro_f1", "labels", "per_class": {label: {...}}, "confusion": [[...]]}``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    matrix = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    present = support > 0
    n = len(y_true)
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "labels": list(labels),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": matrix.tolist(),
    }


def regression_report(prediction: np.ndarray, target: np.ndarray, names: tuple[str, ...] = ("valence", "arousal")):
    """Per column MSE, MAE, Pearson r and CCC over rows whose target is finite: {name: {...}} + ``mean_ccc``."""
    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    valid = np.isfinite(target).all(axis=1)
    p, t = prediction[valid], target[valid]
    report: dict[str, Any] = {"n": int(valid.sum())}
    cccs = []
    for j, name in enumerate(names):
        pj, tj = p[:, j], t[:, j]
        if len(pj) < 2:
            report[name] = {"mse": float("nan"), "mae": float("nan"), "pearson": float("nan"), "ccc": float("nan")}
            continue
        cov = ((pj - pj.mean()) * (tj - tj.mean())).mean()
        denominator = pj.std() * tj.std()
        pearson = cov / denominator if denominator > 0 else 0.0
        ccc = 2 * cov / (pj.var() + tj.var() + (pj.mean() - tj.mean()) ** 2 + 1e-12)
        cccs.append(ccc)
        report[name] = {
            "mse": float(((pj - tj) ** 2).mean()),
            "mae": float(np.abs(pj - tj).mean()),
            "pearson": float(pearson),
            "ccc": float(ccc),
        }
    report["mean_ccc"] = float(np.mean(cccs)) if cccs else float("nan")
    return report
