"""``FaceSet``: the one in-memory table every dataset loader returns, whatever the source format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from affectlens.modelcfg import Eyes

SPLITS = ("train", "val", "test")


@dataclass
class FaceSet:
    """N labelled face images and their split.

    Attributes:
        images: (N, H, W) or (N, H, W, 3) uint8 pixels, or N image file paths (read on demand, BGR).
        labels: (N,) int64 index into ``classes`` (-1 where the image has no hard label).
        classes: class names of ``labels`` (canonical emotion names where the classes are emotions).
        split: (N,) ``"train" | "val" | "test"``.
        soft: (N, C) float32 label distributions (rows sum to 1), or None.
        valence_arousal: (N, 2) float32 in [-1, 1], NaN where unknown.
        extra_labels: further hard labels by head name, each (N,) int64 (e.g. ``posture``).
        extra_classes: class names of each extra head.
        source: where the data came from (shown in reports and model cards).
        eyes: the eye template the images follow (eye centres as fractions of the image, image-left eye first, as
            ``ModelConfig.eyes``): ``FER_EYES`` for FER-2013 pixels (FER-2013, FER+), None when the images are not
            aligned to a known template (folders, AffectNet-style crops): a model trained on them is then fed the
            detector's box, not eye-aligned crops. Recorded into the exported model's cfg.
    """

    images: np.ndarray | list[str]
    labels: np.ndarray
    classes: tuple[str, ...]
    split: np.ndarray
    soft: np.ndarray | None = None
    valence_arousal: np.ndarray = None  # type: ignore[assignment]  # None: all NaN (unknown)
    extra_labels: dict[str, np.ndarray] = field(default_factory=dict)
    extra_classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""
    eyes: Eyes | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        self.labels = np.asarray(self.labels, np.int64)
        self.split = np.asarray(self.split, dtype=object)
        if self.labels.shape != (n,) or self.split.shape != (n,):
            raise ValueError(f"FaceSet needs {n} labels and splits, got {self.labels.shape} / {self.split.shape}")
        bad = set(np.unique(self.split)) - set(SPLITS)
        if bad:
            raise ValueError(f"FaceSet.split holds {sorted(bad)}; allowed: {SPLITS}")
        if self.labels.size and (self.labels.max() >= len(self.classes) or self.labels.min() < -1):
            raise ValueError(f"FaceSet.labels must lie in [-1, {len(self.classes) - 1}]")
        if self.soft is not None and self.soft.shape != (n, len(self.classes)):
            raise ValueError(f"FaceSet.soft must be ({n}, {len(self.classes)}), got {self.soft.shape}")
        if self.valence_arousal is None:
            self.valence_arousal = np.full((n, 2), np.nan, np.float32)
        if self.valence_arousal.shape != (n, 2):
            raise ValueError(f"FaceSet.valence_arousal must be ({n}, 2), got {self.valence_arousal.shape}")

    def __len__(self) -> int:
        return len(self.images)

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 (H, W) or (H, W, 3) BGR."""
        if isinstance(self.images, np.ndarray):
            return self.images[i]
        path = self.images[i]
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"cannot read image {path}")
        if image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        return image

    def subset(self, split: str) -> FaceSet:
        """The rows of one split."""
        return self.select(np.flatnonzero(self.split == split))

    def select(self, index: np.ndarray) -> FaceSet:
        """The rows ``index`` (int array)."""
        images = self.images[index] if isinstance(self.images, np.ndarray) else [self.images[i] for i in index]
        return FaceSet(
            images=images,
            labels=self.labels[index],
            classes=self.classes,
            split=self.split[index],
            soft=None if self.soft is None else self.soft[index],
            valence_arousal=self.valence_arousal[index],
            extra_labels={k: v[index] for k, v in self.extra_labels.items()},
            extra_classes=dict(self.extra_classes),
            source=self.source,
            eyes=self.eyes,
        )

    def class_counts(self) -> np.ndarray:
        """(C,) images per class (hard labels only)."""
        return np.bincount(self.labels[self.labels >= 0], minlength=len(self.classes))

    def has_valence_arousal(self) -> bool:
        return bool(np.isfinite(self.valence_arousal).all(axis=1).any())


def seeded_split(n: int, seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> np.ndarray:
    """A reproducible train/val/test assignment of n rows (used where a dataset has no official split)."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = round(fractions[0] * n)
    n_val = round(fractions[1] * n)
    split = np.empty(n, dtype=object)
    split[order[:n_train]] = "train"
    split[order[n_train : n_train + n_val]] = "val"
    split[order[n_train + n_val :]] = "test"
    return split


def data_root(path: str | Path) -> Path:
    """A dataset path that must exist, with an error that says what to do."""
    path = Path(path)
    if not path.exists():
        where = "" if path.is_absolute() else f" (a relative path is read from the working directory {Path.cwd()})"
        raise FileNotFoundError(f"dataset not found: {path}{where}; check the dataset path in the training config")
    return path
