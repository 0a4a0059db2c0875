"""Metrics against hand-computed values."""

import numpy as np
import pytest

from affectlens.metrics import classification_report, confusion_matrix, regression_report


def test_classification_report_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    report = classification_report(y_true, y_pred, ("a", "b", "c"))
    assert report["n"] == 6 and report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["a"]["precision"] == pytest.approx(1.0)
    assert report["per_class"]["a"]["recall"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["recall"] == pytest.approx(0.5)
    f1 = [0.8, 0.5, 2 / 3]
    assert report["macro_f1"] == pytest.approx(np.mean(f1))
    assert report["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_macro_f1_ignores_classes_absent_from_truth():
    report = classification_report(np.array([0, 0]), np.array([0, 0]), ("a", "b"))
    assert report["macro_f1"] == pytest.approx(1.0)
    assert confusion_matrix(np.array([1]), np.array([0]), 2).tolist() == [[0, 0], [1, 0]]


def test_regression_report_perfect_and_shifted():
    t = np.random.default_rng(0).uniform(-1, 1, (100, 2))
    perfect = regression_report(t, t)
    assert perfect["valence"]["ccc"] == pytest.approx(1.0) and perfect["arousal"]["mse"] == pytest.approx(0.0)
    shifted = regression_report(t + 0.5, t)
    assert shifted["valence"]["pearson"] == pytest.approx(1.0)
    assert shifted["valence"]["ccc"] < 0.9  # CCC punishes the bias that Pearson ignores
    t_nan = t.copy()
    t_nan[:10] = np.nan
    assert regression_report(t, t_nan)["n"] == 90
