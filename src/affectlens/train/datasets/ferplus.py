"""FER-2013 with FER+ votes from the project's npz (``fer2013/fer2013_ferplus_48x48.npz`` in the shared data; the
path is always given: there is no default, so a run never depends on the working directory).

Conventions (so figures compare with papers): official splits Training -> train, PublicTest -> val,
PrivateTest -> test. FER+ hard label = majority of the 10 vote columns; rows whose top vote is unknown / not-a-face,
or tied, get no hard label (-1) and are dropped from val/test. Soft labels = the 8 emotion votes normalised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectlens.emotions import EMOTIONS, canonical_emotion
from affectlens.modelcfg import FER_EYES
from affectlens.train.faceset import FaceSet, data_root
from affectlens.train.valence_arousal import derive_valence_arousal

USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
# FER+ vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF


def ferplus_majority(votes: np.ndarray, emotion_columns: np.ndarray) -> np.ndarray:
    """(N, 10) votes -> (N,) index of the majority emotion column, -1 where the top is unknown/NF or tied."""
    top = votes.max(axis=1, keepdims=True)
    tied = (votes == top).sum(axis=1) > 1
    winner = votes.argmax(axis=1)
    ok = ~tied & np.isin(winner, emotion_columns) & (top[:, 0] > 0)
    return np.where(ok, winner, -1)


def load_ferplus_npz(path: str | Path, drop_unlabelled_train: bool = True, fer2013_head: bool = False) -> FaceSet:
    """FER+ (8 emotions, soft labels from votes, derived valence/arousal) on the FER-2013 pixels.

    Args:
        path: the npz.
        drop_unlabelled_train: also drop training rows without a majority emotion (ties are kept when their votes
            are mostly emotions: the soft label still carries them).
        fer2013_head: also carry each image's original FER-2013 label (7 classes) as the extra head ``fer2013``, so
            one network learns both label conventions (FER+ for the product, the original labels for the FER-2013
            benchmark).
    """
    data = np.load(data_root(path))
    columns = [str(c) for c in data["ferplus_vote_columns"]]
    split = np.array([USAGE_TO_SPLIT[str(u)] for u in data["usage"]], dtype=object)
    index, labels, soft, valence_arousal = ferplus_targets(data["ferplus_votes"], columns, split, drop_unlabelled_train)
    extra_labels, extra_classes = {}, {}
    if fer2013_head:
        fer_classes, fer_labels = fer2013_labels(data)
        extra_labels["fer2013"], extra_classes["fer2013"] = fer_labels[index], fer_classes
    return FaceSet(
        images=data["pixels"][index],
        labels=labels,
        classes=EMOTIONS,
        split=split[index],
        soft=soft,
        valence_arousal=valence_arousal,
        extra_labels=extra_labels,
        extra_classes=extra_classes,
        source=f"FER+ votes on FER-2013 ({Path(path).name})" + (" + original FER-2013 labels" if fer2013_head else ""),
        eyes=FER_EYES,
    )


def ferplus_targets(
    votes: np.ndarray, columns: list[str], split: np.ndarray, drop_unlabelled_train: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """FER+ votes -> the rows to keep and their targets (shared by the npz and the csv loaders).

    Args:
        votes: (N, 10) vote counts in the order of ``columns`` (neutral ... contempt, unknown, NF).
        columns: the 10 vote column names.
        split: (N,) ``"train" | "val" | "test"``.
        drop_unlabelled_train: see :func:`load_ferplus_npz`.

    Returns:
        index (K,) of the kept rows, labels (K,) int64 into ``EMOTIONS``, soft (K, 8) float32 vote shares,
        valence_arousal (K, 2) float32 derived from the votes.
    """
    votes = np.asarray(votes).astype(np.int64)
    emotion_cols = np.array([columns.index(_vote_column(name, columns)) for name in EMOTIONS])
    emotion_votes = votes[:, emotion_cols].astype(np.float32)

    majority_col = ferplus_majority(votes, emotion_cols)
    col_to_label = {int(c): i for i, c in enumerate(emotion_cols)}
    labels = np.array([col_to_label.get(int(c), -1) for c in majority_col], np.int64)

    keep = labels >= 0
    if not drop_unlabelled_train:
        emotion_share = emotion_votes.sum(axis=1) / np.maximum(votes.sum(axis=1), 1)
        keep |= (split == "train") & (emotion_share > 0.5)
    keep &= emotion_votes.sum(axis=1) > 0

    soft = emotion_votes / np.maximum(emotion_votes.sum(axis=1, keepdims=True), 1)
    index = np.flatnonzero(keep)
    return index, labels[index], soft[index].astype(np.float32), derive_valence_arousal(emotion_votes[index])


def load_fer2013_npz(path: str | Path) -> FaceSet:
    """FER-2013 with its original 7 labels (angry, disgust, fear, happy, sad, surprise, neutral), official splits."""
    data = np.load(data_root(path))
    classes, labels = fer2013_labels(data)
    split = np.array([USAGE_TO_SPLIT[str(u)] for u in data["usage"]], dtype=object)
    return FaceSet(
        images=data["pixels"],
        labels=labels,
        classes=classes,
        split=split,
        source=f"FER-2013 original labels ({Path(path).name})",
        eyes=FER_EYES,
    )


def fer2013_labels(data: np.lib.npyio.NpzFile) -> tuple[tuple[str, ...], np.ndarray]:
    """The npz's original FER-2013 labels -> (the 7 classes in canonical emotion order, (N,) int64 into them)."""
    names = [canonical_emotion(str(n)) for n in data["fer_label_names"]]
    classes = tuple(e for e in EMOTIONS if e in names)
    remap = np.array([classes.index(n) for n in names], np.int64)
    return classes, remap[data["fer_label"].astype(np.int64)]


def _vote_column(emotion: str, columns: list[str]) -> str:
    for column in columns:
        if column.lower() not in ("unknown", "nf") and canonical_emotion(column) == emotion:
            return column
    raise ValueError(f"FER+ votes have no column for {emotion!r}: {columns}")
