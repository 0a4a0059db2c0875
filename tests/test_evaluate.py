"""``affectlens evaluate``: the scoring protocol, folder names, unreadable images and the confusion-matrix title."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.evaluate import evaluate_folder, format_report
from affectlens.models.runtime import EmotionModel
from affectlens.train.datasets.folders import class_names
from helpers import shared_path

FERPLUS_FEAR = 6  # column of `fear` in the npz's ferplus_votes


@pytest.fixture(scope="module")
def model() -> EmotionModel:
    return EmotionModel()


@pytest.fixture(scope="module")
def fear_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 real FER+ test faces whose crowd majority (>= 5 of 10 votes) is fear, as ``faces/fear/*.png``."""
    data = np.load(shared_path("fer2013", "fer2013_ferplus_48x48.npz"))
    votes = data["ferplus_votes"][:, :8]
    rows = np.flatnonzero((data["usage"] == "PrivateTest") & (votes.argmax(1) == FERPLUS_FEAR) & (votes.max(1) >= 5))
    root = tmp_path_factory.mktemp("eval") / "faces"
    (root / "fear").mkdir(parents=True)
    for i, pixels in enumerate(data["pixels"][rows[:20]]):
        cv2.imwrite(str(root / "fear" / f"{i:02d}.png"), pixels)
    return root


def test_one_class_folder_is_scored_over_all_model_classes_with_a_warning(model, fear_folder, caplog):
    report = evaluate_folder(fear_folder, model, progress=False)
    # the model calls some of these faces surprise or sad: the default counts that as wrong
    assert report["n"] == 20 and report["accuracy"] < 0.9
    assert report["all_model_classes"] and "all 8 model classes" in report["protocol"]
    assert any("only one class" in w for w in report["warnings"])
    assert "only one class" in caplog.text
    assert "all 8 model classes" in format_report(report)

    shared = evaluate_folder(fear_folder, model, all_model_classes=False, progress=False)
    assert shared["accuracy"] == 1.0  # the flattering protocol stays available, and says what it is
    assert "--shared-classes-only" in shared["protocol"] and not shared["all_model_classes"]


class _BrightnessModel:
    """A stand-in with custom classes (``calm``, ``happy``): calm for dark crops, happy for bright ones."""

    labels = ("calm", "happy")
    path = Path("brightness.onnx")

    def predict_crops(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        bright = np.array([float(c.mean()) / 255.0 for c in crops], np.float32)
        return np.stack([1.0 - bright, bright], axis=1), np.zeros((len(crops), 2), np.float32)


def _write(folder: Path, values: list[int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, value in enumerate(values):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 48), value, np.uint8))


def test_a_model_class_named_like_a_synonym_keeps_its_folder(tmp_path):
    _write(tmp_path / "calm", [10, 20, 30])
    _write(tmp_path / "happy", [220, 230])
    report = evaluate_folder(tmp_path, _BrightnessModel(), progress=False)
    assert report["skipped_classes"] == {}  # was {"neutral": 3}: calm was renamed to neutral
    assert report["n"] == 5 and report["accuracy"] == 1.0
    assert report["per_class"]["calm"]["support"] == 3


def test_class_names_keep_the_names_given_and_map_other_synonyms():
    assert class_names(["calm", "happiness"]) == ({"calm": "neutral", "happiness": "happy"}, ("neutral", "happy"))
    mapping, names = class_names(["Calm", "happiness", "neutral"], keep=("calm", "happy"))
    assert mapping == {"Calm": "calm", "happiness": "happy", "neutral": "neutral"}
    assert names == ("neutral", "happy", "calm")


def test_unreadable_images_are_skipped_and_counted(model, tmp_path):
    _write(tmp_path / "happy", [128, 200])
    (tmp_path / "happy" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (tmp_path / "happy" / "empty.jpg").write_bytes(b"")
    _write(tmp_path / "sad", [60])
    report = evaluate_folder(tmp_path, model, progress=False)
    assert report["n"] == 3 and report["unreadable"] == 2
    assert {Path(p).name for p in report["unreadable_files"]} == {"broken.png", "empty.jpg"}
    assert "unreadable images skipped: 2" in format_report(report)


def test_confusion_plot_title_names_model_head_and_data(model, fear_folder, tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from affectlens.plots import plot_confusion

    titles: list[str] = []
    original = Axes.set_title
    monkeypatch.setattr(Axes, "set_title", lambda ax, label, *a, **k: titles.append(label) or original(ax, label))
    report = evaluate_folder(fear_folder, model, progress=False)
    plot_confusion(report, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert model.path.name in titles[0] and "emotion head" in titles[0] and "faces" in titles[0]
    assert "all 8 model classes" in titles[0]
