"""Image-folder datasets: ``root/<class>/*.jpg`` (ImageFolder), with or without ``train``/``val``/``test`` split
folders, and the two-label tree ``root/<outer>/<emotion>/*.jpg`` for dual-head models.

Also the helpers the other file-based loaders share: split-name aliases, a stratified seeded split and
:func:`read_images`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from affectlens.emotions import EMOTIONS, canonical_emotion, is_emotion
from affectlens.train.faceset import FaceSet, data_root, seeded_split

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"})
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "publictest": "val",
    "test": "test",
    "testing": "test",
    "privatetest": "test",
}


def split_name(name: str) -> str | None:
    """``"Training"``/``"valid"``/``"PrivateTest"``... -> ``"train" | "val" | "test"``, None when not a split name."""
    return SPLIT_ALIASES.get(name.strip().lower().replace("_", "").replace("-", ""))


def stratified_split(
    labels: np.ndarray, seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> np.ndarray:
    """(N,) class ids -> (N,) ``"train" | "val" | "test"``: :func:`seeded_split` within each class, so rare classes
    keep their share in every split."""
    labels = np.asarray(labels)
    split = np.empty(len(labels), dtype=object)
    for k, value in enumerate(np.unique(labels)):
        rows = np.flatnonzero(labels == value)
        split[rows] = seeded_split(len(rows), seed + k, fractions)
    for name, share in zip(("val", "test"), fractions[1:], strict=True):
        if share == 0:  # rounding in seeded_split may leave a row in an empty share
            split[split == name] = "train"
    return split


def _name_key(name: str) -> str:
    """How folder names and labels are compared: case-, space-, ``-``/``_``-insensitive (like the synonyms)."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def class_names(folder_names: Iterable[str], keep: Collection[str] = ()) -> tuple[dict[str, str], tuple[str, ...]]:
    """Folder names -> (folder -> class name, ordered classes).

    A folder named like one of ``keep`` (e.g. the labels of the model being evaluated: case, spaces and ``-``/``_``
    ignored) is that name, so a model's own ``calm`` class keeps its ``calm`` folder. Otherwise, when every name is an
    emotion (synonyms included), a synonym maps to its canonical name (``happiness`` and ``happy`` folders merge) and
    classes are in :data:`EMOTIONS` order, then the kept names that are not canonical emotions, sorted; else the names
    are kept as they are, sorted.
    """
    names = list(dict.fromkeys(folder_names))
    kept = {_name_key(k): k for k in keep}
    mapping = {n: kept[_name_key(n)] for n in names if _name_key(n) in kept}
    rest = [n for n in names if n not in mapping]
    if names and all(is_emotion(n) for n in rest):
        mapping.update({n: canonical_emotion(n) for n in rest})
        values = set(mapping.values())
        return mapping, (*(e for e in EMOTIONS if e in values), *sorted(values - set(EMOTIONS)))
    mapping.update({n: n for n in rest})
    return mapping, tuple(sorted(set(mapping.values())))


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted); other files are skipped with one warning."""
    images: list[Path] = []
    skipped: list[Path] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        ok = path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
        (images if ok else skipped).append(path)
    if skipped:
        log.warning("skipped %d non-image file(s) under %s, e.g. %s", len(skipped), folder, skipped[0].name)
    return images


def read_images(paths: Sequence[str | Path]) -> np.ndarray:
    """Read same-sized images into one uint8 array: (N, H, W) when all are grayscale, else (N, H, W, 3) BGR."""
    images = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"cannot read image {path} (corrupt or not an image: delete it or convert it)")
        if image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        images.append(image)
    if any(im.ndim == 3 for im in images):
        images = [cv2.cvtColor(im, cv2.COLOR_GRAY2BGR) if im.ndim == 2 else im for im in images]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size ({sorted(shapes)[:3]}...); load them as paths (in_memory=False)")
    if images and images[0].dtype != np.uint8:
        raise ValueError(f"images must be 8-bit, got {images[0].dtype} in {paths[0]}; convert them to 8-bit")
    return np.stack(images) if images else np.zeros((0, 1, 1), np.uint8)


def _class_dirs(folder: Path) -> list[Path]:
    """Subfolders, without hidden ones and archive debris such as ``__MACOSX``."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _scan(folder: Path, classes: Sequence[str] | None) -> list[tuple[Path, str]]:
    """(image, folder name) pairs of ``folder/<class>/**``; ``classes`` restricts and orders the folders."""
    stray = [p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if stray:
        log.warning("ignored %d file(s) directly in %s (expected <class>/ folders): %s", len(stray), folder, stray[0])
    dirs = {d.name: d for d in _class_dirs(folder)}
    wanted = list(classes) if classes is not None else sorted(dirs)
    rows: list[tuple[Path, str]] = []
    for name in wanted:
        if name in dirs:
            files = image_files(dirs[name])
            if not files:
                log.warning("class folder %s holds no images", dirs[name])
            rows.extend((f, name) for f in files)
    return rows


def load_image_folder(
    root: str | Path,
    classes: Sequence[str] | None = None,
    split_dirs: bool = True,
    seed: int = 0,
    val_fraction: float = 0.15,
    in_memory: bool = False,
    keep_names: Collection[str] = (),
) -> FaceSet:
    """ImageFolder layout: ``root/<class>/*.jpg``, or ``root/{train,val,test}/<class>/*.jpg``.

    Splits: with split folders (``train`` required; ``val``/``valid``/``validation`` and ``test`` optional), a
    missing val (e.g. the Kaggle FER-2013 folders, ``train`` + ``test``) is a seeded, per-class ``val_fraction``
    of train, and a missing test likewise; without split folders, a seeded per-class 70/15/15 split.

    Args:
        root: the dataset folder.
        classes: folder names to use, in this order (default: every class folder, sorted).
        split_dirs: look for split folders; False reads every subfolder of ``root`` as a class.
        seed: seed of the carved splits.
        val_fraction: share carved from train for a missing val (and for a missing test).
        in_memory: read every image into one (N, H, W[, 3]) array (all images must have one size); else paths.
        keep_names: class names never mapped to a canonical emotion (see :func:`class_names`), e.g. the labels of the
            model that will be evaluated on the folder.

    Returns:
        A :class:`FaceSet`; classes are canonical emotions when every class folder names one, else the folder names.
    """
    root = data_root(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder; expected root/<class>/*.jpg or root/train/<class>/*.jpg")
    split_dirs_found = {split_name(d.name): d for d in _class_dirs(root) if split_name(d.name)} if split_dirs else {}
    if split_dirs_found and "train" not in split_dirs_found:
        present = ", ".join(d.name for d in split_dirs_found.values())
        raise ValueError(f"{root} has split folders ({present}) but no train/ folder; add one or pass split_dirs=False")

    others = [d.name for d in _class_dirs(root) if split_dirs_found and not split_name(d.name)]
    if others:
        log.warning("ignored folder(s) %s beside the split folders of %s", others, root)
    rows: list[tuple[Path, str, str]] = []
    if split_dirs_found:
        for part in ("train", "val", "test"):
            if part in split_dirs_found:
                rows.extend((f, c, part) for f, c in _scan(split_dirs_found[part], classes))
    else:
        rows.extend((f, c, "train") for f, c in _scan(root, classes))
    if not rows:
        raise ValueError(f"no images found under {root}; expected root/<class>/*.jpg or root/train/<class>/*.jpg")

    found = dict.fromkeys(c for _, c, _ in rows)
    if classes is not None and len(found) < len(classes):
        absent = [c for c in classes if c not in found]
        raise ValueError(f"no image folder for class(es) {absent} under {root}; check the names or leave classes out")
    mapping, names = class_names(found, keep=keep_names)
    if classes is not None:
        names = tuple(dict.fromkeys(mapping[c] for c in classes))  # the caller's order
    labels = np.array([names.index(mapping[c]) for _, c, _ in rows], np.int64)
    split = np.array([s for _, _, s in rows], dtype=object)

    carve_val = "val" not in split_dirs_found
    carve_test = "test" not in split_dirs_found
    if carve_val or carve_test:
        train = np.flatnonzero(split == "train")
        val_share = val_fraction if carve_val else 0.0
        test_share = val_fraction if carve_test else 0.0
        split[train] = stratified_split(labels[train], seed, (1.0 - val_share - test_share, val_share, test_share))
    paths = [str(f) for f, _, _ in rows]
    return FaceSet(
        images=read_images(paths) if in_memory else paths,
        labels=labels,
        classes=names,
        split=split,
        source=f"image folder {root}",
    )


def load_nested_folders(
    root: str | Path, outer_head: str = "posture", seed: int = 0, in_memory: bool = False
) -> FaceSet:
    """Two-label tree ``root/<outer>/<emotion>/*.jpg`` for dual-head models (e.g. ``upright/happy/a.jpg``).

    Returns:
        A :class:`FaceSet` whose labels are the inner (emotion) folders (canonical emotions when every inner name is
        one), with ``extra_labels[outer_head]`` (N,) and ``extra_classes[outer_head]`` = the sorted outer names;
        seeded 70/15/15 split, stratified by (outer, inner) pair.
    """
    root = data_root(root)
    outer_dirs = _class_dirs(root) if root.is_dir() else []
    rows: list[tuple[Path, str, str]] = []
    for outer in outer_dirs:
        rows.extend((f, outer.name, inner) for f, inner in _scan(outer, None))
    if not rows:
        raise ValueError(f"no images found under {root}; expected root/<{outer_head}>/<emotion>/*.jpg")
    mapping, names = class_names(dict.fromkeys(inner for _, _, inner in rows))
    outer_names = tuple(sorted({outer for _, outer, _ in rows}))
    labels = np.array([names.index(mapping[inner]) for _, _, inner in rows], np.int64)
    outer_labels = np.array([outer_names.index(outer) for _, outer, _ in rows], np.int64)
    paths = [str(f) for f, _, _ in rows]
    return FaceSet(
        images=read_images(paths) if in_memory else paths,
        labels=labels,
        classes=names,
        split=stratified_split(outer_labels * len(names) + labels, seed),
        extra_labels={outer_head: outer_labels},
        extra_classes={outer_head: outer_names},
        source=f"nested folders {root} ({outer_head}/emotion)",
    )
