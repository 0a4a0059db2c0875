"""AffectNet-style CSV: one row per image with an emotion and continuous valence/arousal.

Header ``image_path,emotion,valence,arousal[,split]`` (AffectNet's own ``subDirectory_filePath`` / ``expression``
column names are accepted too). ``emotion`` is a name (synonyms accepted) or an index into the 8 canonical
:data:`~affectlens.emotions.EMOTIONS` (AffectNet's own order); AffectNet's 8 none / 9 uncertain / 10 no-face and an
empty cell give no hard label (the row is kept when it has valence/arousal). Valence and arousal are in [-1, 1];
an empty cell or AffectNet's -2 means unknown (NaN).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from affectlens.emotions import EMOTIONS, UnknownLabelError, canonical_emotion
from affectlens.train.datasets.folders import split_name, stratified_split
from affectlens.train.faceset import FaceSet, data_root

EXPECTED_HEADER = "image_path,emotion,valence,arousal[,split]"
COLUMN_ALIASES = {
    "image_path": ("image_path", "subdirectory_filepath", "path", "image", "file"),
    "emotion": ("emotion", "expression", "label"),
    "valence": ("valence",),
    "arousal": ("arousal",),
    "split": ("split", "usage"),
}
NO_EMOTION = {"", "8", "9", "10", "none", "uncertain", "no-face", "noface"}


def load_affectnet_csv(
    path: str | Path, image_root: str | Path | None = None, seed: int = 0, skip_missing: bool = False
) -> FaceSet:
    """Images listed in a CSV with emotion and valence/arousal; images stay on disk (a list of N paths).

    Args:
        path: the CSV.
        image_root: folder that ``image_path`` is relative to (default: the CSV's folder).
        seed: seed of the per-class 70/15/15 split when the CSV has no ``split`` column.
        skip_missing: drop rows whose image file does not exist instead of raising.

    Returns:
        A :class:`FaceSet` with 8 classes (:data:`EMOTIONS`), labels -1 where the row has no emotion, and
        valence_arousal (N, 2) float32 (NaN where unknown).
    """
    path = data_root(path)
    root = data_root(image_root) if image_root is not None else path.parent
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        cols = {
            key: next((header.index(a) for a in aliases if a in header), None)
            for key, aliases in COLUMN_ALIASES.items()
        }
        missing = [key for key in ("image_path", "emotion", "valence", "arousal") if cols[key] is None]
        if missing:
            raise ValueError(f"{path} lacks column(s) {missing} (has {header}); expected the header {EXPECTED_HEADER}")
        column = {key: index for key, index in cols.items() if index is not None}
        rows = [row for row in reader if row]
    if not rows:
        raise ValueError(f"{path} has a header but no rows")

    labels, va = np.empty(len(rows), np.int64), np.empty((len(rows), 2), np.float32)
    for i, row in enumerate(rows):
        labels[i] = _emotion(row[column["emotion"]], i + 2, path)
        va[i] = [_va(row[column[k]], k, i + 2, path) for k in ("valence", "arousal")]
    paths = [str(root / row[column["image_path"]].strip()) for row in rows]

    keep = (labels >= 0) | np.isfinite(va).all(axis=1)
    exists = np.array([Path(p).is_file() for p in paths])
    if not exists.all() and not skip_missing:
        first = paths[int(np.flatnonzero(~exists)[0])]
        raise FileNotFoundError(
            f"{(~exists).sum()} of {len(paths)} images listed in {path.name} are missing, e.g. {first} "
            "(pass image_root= the folder image_path is relative to, or skip_missing=True)"
        )
    keep &= exists
    index = np.flatnonzero(keep)
    if cols["split"] is not None:
        cells = [rows[i][cols["split"]] for i in index]
        bad = [c for c in cells if split_name(c) is None]
        if bad:
            raise ValueError(f"{path}: unknown split {bad[0]!r}; use train, val or test")
        split = np.array([split_name(c) for c in cells], dtype=object)
    else:
        split = stratified_split(labels[index], seed)
    return FaceSet(
        images=[paths[i] for i in index],
        labels=labels[index],
        classes=EMOTIONS,
        split=split,
        valence_arousal=va[index],
        source=f"AffectNet-style CSV {path.name}",
    )


def _emotion(value: str, line: int, path: Path) -> int:
    """Emotion cell -> index into EMOTIONS, -1 for none/uncertain/no-face/empty."""
    value = value.strip()
    if value.lower() in NO_EMOTION:
        return -1
    if value.isdigit() and int(value) < len(EMOTIONS):
        return int(value)
    try:
        return EMOTIONS.index(canonical_emotion(value))
    except UnknownLabelError:
        accepted = ", ".join(f"{i} {n}" for i, n in enumerate(EMOTIONS))
        raise ValueError(
            f"{path} line {line}: unknown emotion {value!r}; accepted: {accepted} (or names/synonyms), "
            "8-10 or empty for none"
        ) from None


def _va(value: str, name: str, line: int, path: Path) -> float:
    """Valence/arousal cell -> float in [-1, 1], NaN for empty or -2."""
    value = value.strip()
    try:
        x = float(value) if value else math.nan
    except ValueError:
        raise ValueError(
            f"{path} line {line}: {name} {value!r} is not a number (use -2 or empty for unknown)"
        ) from None
    if math.isnan(x) or x == -2:
        return math.nan
    if not -1 <= x <= 1:
        raise ValueError(f"{path} line {line}: {name} {x} is outside [-1, 1] (use -2 or empty for unknown)")
    return x
