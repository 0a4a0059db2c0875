"""FER+ from Microsoft's files: the votes CSV ``fer2013new.csv`` and the PNGs of the FER+ generator.

Votes: ``Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF``
(rows without an image name are FER-2013 rows FER+ dropped). Images: the generator layout
``images_root/FER2013{Train,Valid,Test}/ferNNNNNNN.png`` (Training / PublicTest / PrivateTest), else found by file
name anywhere under ``images_root``. Without a votes CSV, the generator's per-folder ``label.csv`` files
(``name,box,10 votes``, no header) are read; note that their votes differ from ``fer2013new.csv`` for 1,602 of the
35,710 images (Microsoft ships both), so figures comparable with the npz loader need ``fer2013new.csv``.
Labels, soft labels and valence/arousal follow :func:`~affectlens.train.datasets.ferplus.ferplus_targets`,
exactly as for the npz.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from affectlens.emotions import EMOTIONS
from affectlens.modelcfg import FER_EYES
from affectlens.train.datasets.ferplus import ferplus_targets
from affectlens.train.datasets.folders import read_images, split_name
from affectlens.train.faceset import FaceSet, data_root

log = logging.getLogger(__name__)

VOTE_COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
EXPECTED_HEADER = "Usage,Image name," + ",".join(VOTE_COLUMNS)
SPLIT_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}


def load_ferplus_csv(
    votes_csv: str | Path | None,
    images_root: str | Path,
    drop_unlabelled_train: bool = True,
    in_memory: bool = True,
) -> FaceSet:
    """FER+ (8 emotions, soft labels, derived valence/arousal) from the votes CSV and a folder of FER+ PNGs.

    Args:
        votes_csv: ``fer2013new.csv``; None reads ``images_root/FER2013*/label.csv`` instead.
        images_root: the generator's output folder (or any folder holding the ``ferNNNNNNN.png`` files).
        drop_unlabelled_train: see :func:`~affectlens.train.datasets.ferplus.load_ferplus_npz`.
        in_memory: read the PNGs into one (N, 48, 48) uint8 array (else keep N paths).

    Rows whose image is not found are skipped with a warning (an error when none is found).
    """
    images_root = data_root(images_root)
    names, split, votes = _read_votes(data_root(votes_csv)) if votes_csv else _read_label_csvs(images_root)
    paths = _find_images(names, split, images_root)
    found = np.array([p is not None for p in paths])
    if not found.any():
        raise FileNotFoundError(
            f"none of the {len(names)} FER+ images (e.g. {names[0]}) is under {images_root}; point images_root at the "
            "FER+ generator output (FER2013Train/, FER2013Valid/, FER2013Test/)"
        )
    if not found.all():
        log.warning("%d of %d FER+ rows have no image under %s; skipped", (~found).sum(), len(names), images_root)
    rows = np.flatnonzero(found)
    index, labels, soft, va = ferplus_targets(votes[rows], VOTE_COLUMNS, split[rows], drop_unlabelled_train)
    kept = [str(paths[rows[i]]) for i in index]
    return FaceSet(
        images=read_images(kept) if in_memory else kept,
        labels=labels,
        classes=EMOTIONS,
        split=split[rows][index],
        soft=soft,
        valence_arousal=va,
        source=f"FER+ votes ({Path(votes_csv).name if votes_csv else 'label.csv'}) on FER+ images ({images_root})",
        eyes=FER_EYES,
    )


def _read_votes(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``fer2013new.csv`` -> image names (K,), split (K,), votes (K, 10): rows with an image name, each name once."""
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        lower = [h.lower() for h in header]
        wanted = ["usage", "image name", *(c.lower() for c in VOTE_COLUMNS)]
        if any(w not in lower for w in wanted):
            raise ValueError(f"{path} has columns {header}; a FER+ votes CSV needs the header {EXPECTED_HEADER}")
        cols = [lower.index(w) for w in wanted]
        rows = [[row[c].strip() for c in cols] for row in reader if row and row[cols[1]].strip()]
    if not rows:
        raise ValueError(f"{path} lists no image names")
    # fer2013new.csv names 4 images twice; the generator writes rows in order, so the file on disk is the last row's
    last = {r[1]: i for i, r in enumerate(rows)}
    rows = [r for i, r in enumerate(rows) if last[r[1]] == i]
    bad = [r[0] for r in rows if split_name(r[0]) is None]
    if bad:
        raise ValueError(f"{path}: unknown Usage {bad[0]!r}; expected Training, PublicTest or PrivateTest")
    split = np.array([split_name(r[0]) for r in rows], dtype=object)
    return [r[1] for r in rows], split, np.array([r[2:] for r in rows], np.int64)


def _read_label_csvs(root: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The generator's ``FER2013*/label.csv`` (``name,"(box)",10 votes``) -> names, split, votes (K, 10)."""
    names, splits, votes = [], [], []
    for split, folder in SPLIT_FOLDERS.items():
        label_csv = root / folder / "label.csv"
        if not label_csv.is_file():
            continue
        with label_csv.open(newline="") as f:
            for row in csv.reader(f):
                if len(row) != 12:
                    raise ValueError(f"{label_csv}: expected rows 'name,\"(box)\",10 votes', got {row[:3]}...")
                names.append(row[0].strip())
                splits.append(split)
                votes.append([int(v) for v in row[2:]])
    if not names:
        raise FileNotFoundError(f"no votes: pass votes_csv= (fer2013new.csv) or put FER2013*/label.csv under {root}")
    return names, np.array(splits, dtype=object), np.array(votes, np.int64)


def _find_images(names: list[str], split: np.ndarray, root: Path) -> list[Path | None]:
    """Each name's PNG: ``root/<split folder>/<name>`` first, else the one file of that name under ``root``."""
    by_name: dict[str, Path] | None = None
    paths: list[Path | None] = []
    for name, s in zip(names, split, strict=True):
        path: Path | None = root / SPLIT_FOLDERS[s] / name
        if path is None or not path.is_file():
            if by_name is None:
                by_name = {p.name: p for p in sorted(root.rglob("fer*.png"))}
            path = by_name.get(name)
        paths.append(path)
    return paths
