"""FER-2013 as Kaggle ships it: ``fer2013.csv`` with the header ``emotion,pixels,Usage``.

``emotion`` is 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral (a name is accepted too);
``pixels`` is 48 x 48 = 2304 space-separated grey levels; ``Usage`` Training / PublicTest / PrivateTest becomes
train / val / test (without a ``Usage`` column, as in Kaggle's ``train.csv``, a seeded per-class 70/15/15 split).
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np

from affectlens.emotions import EMOTIONS, UnknownLabelError, canonical_emotion
from affectlens.modelcfg import FER_EYES
from affectlens.train.datasets.folders import split_name, stratified_split
from affectlens.train.faceset import FaceSet, data_root

FER2013_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER2013_CLASSES = tuple(e for e in EMOTIONS if e in FER2013_NAMES)  # canonical order, no contempt
EXPECTED_HEADER = "emotion,pixels,Usage"


def load_fer2013_csv(path: str | Path, seed: int = 0) -> FaceSet:
    """FER-2013 from its Kaggle CSV: (N, 48, 48) uint8 images, 7 classes in :data:`EMOTIONS` order.

    Args:
        path: ``fer2013.csv`` (header ``emotion,pixels,Usage``; ``Usage`` optional).
        seed: seed of the split when there is no ``Usage`` column.
    """
    path = data_root(path)
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if "emotion" not in header or "pixels" not in header:
            raise ValueError(f"{path} has columns {header}; a FER-2013 CSV needs the header {EXPECTED_HEADER}")
        col_emotion, col_pixels = header.index("emotion"), header.index("pixels")
        col_usage = header.index("usage") if "usage" in header else None
        emotions, pixels, usages = [], [], []
        for row in reader:
            if not row:
                continue
            emotions.append(row[col_emotion].strip())
            pixels.append(row[col_pixels])
            if col_usage is not None:
                usages.append(row[col_usage].strip())
    if not pixels:
        raise ValueError(f"{path} has a header but no rows")

    labels = np.array([_fer_label(e, i + 2) for i, e in enumerate(emotions)], np.int64)
    images = _parse_pixels(pixels, path)
    if col_usage is None:
        split = stratified_split(labels, seed)
    else:
        bad = [u for u in usages if split_name(u) is None]
        if bad:
            raise ValueError(f"{path}: unknown Usage {bad[0]!r}; expected Training, PublicTest or PrivateTest")
        split = np.array([split_name(u) for u in usages], dtype=object)
    return FaceSet(
        images=images,
        labels=labels,
        classes=FER2013_CLASSES,
        split=split,
        source=f"FER-2013 original labels ({path.name})",
        eyes=FER_EYES,
    )


def _fer_label(value: str, line: int) -> int:
    """A FER-2013 emotion cell (index 0-6 or a name) -> index into :data:`FER2013_CLASSES`."""
    if value.isdigit() and int(value) < len(FER2013_NAMES):
        return FER2013_CLASSES.index(FER2013_NAMES[int(value)])
    try:
        name = canonical_emotion(value)
    except UnknownLabelError:
        name = ""
    if name not in FER2013_CLASSES:
        accepted = ", ".join(f"{i} {n}" for i, n in enumerate(FER2013_NAMES))
        raise ValueError(f"unknown FER-2013 emotion {value!r} on line {line}; accepted: {accepted} (or those names)")
    return FER2013_CLASSES.index(name)


def _parse_pixels(rows: list[str], path: Path, chunk: int = 4096) -> np.ndarray:
    """Space-separated grey levels, one square image per row -> (N, S, S) uint8."""
    n_values = len(rows[0].split())
    size = math.isqrt(n_values)
    if size * size != n_values:
        raise ValueError(f"{path} line 2: {n_values} pixel values is not a square image (48 x 48 = 2304 expected)")
    images = np.empty((len(rows), size * size), np.uint8)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy warns when text stops early: checked below
            values = np.fromstring(" ".join(part), dtype=np.int32, sep=" ")
        if values.size != len(part) * size * size or values.min() < 0 or values.max() > 255:
            lengths = [len(r.split()) for r in part]
            bad = next((k for k, n in enumerate(lengths) if n != size * size), 0)
            raise ValueError(
                f"{path} line {start + bad + 2}: pixels must be {size * size} integers 0-255 separated by spaces"
            )
        images[start : start + len(part)] = values.reshape(len(part), -1)
    return images.reshape(len(rows), size, size)
