"""``affectlens evaluate``: accuracy, macro-F1, per-class precision/recall and confusion of an emotion model on an
ImageFolder of face crops (``DIR/<class>/*.png``; emotion synonyms accepted as folder names).

The crops are fed through the same :func:`affectlens.preprocess.preprocess_batch` as at run time (no detection or
alignment: the folder holds ready-made crops, like FER-2013).

Protocol. By default the prediction is the argmax over ALL the model's classes, as at run time: a face the model
calls ``contempt`` counts as wrong on data without contempt. ``all_model_classes=False`` (``--shared-classes-only``)
takes the argmax over the classes that data and model share only, the protocol papers use to score an 8-class model on
7-class FER-2013; it flatters (on data with one class it scores 100%), and the report names it.

Folder names: a folder named like one of the model's classes is that class (a model's own ``calm`` class keeps its
``calm`` folder); other emotion synonyms map to their canonical name (``happiness`` -> ``happy``). Classes in the data
that the model lacks are reported and left out. Images that cannot be read are skipped and counted.
``head="fer2013"`` scores an extra head of the model instead of its emotion head (the same rules apply to its classes).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from affectlens.emotions import canonical_emotion, is_emotion
from affectlens.metrics import classification_report
from affectlens.models.runtime import EmotionModel

log = logging.getLogger(__name__)

SHARED_PROTOCOL_OPTION = "--shared-classes-only"


def _data_class(folder_class: str, model_labels: tuple[str, ...]) -> str:
    """The class a data folder counts as: a model label as it is, else the canonical name of an emotion synonym."""
    if folder_class in model_labels or not is_emotion(folder_class):
        return folder_class
    return canonical_emotion(folder_class)


def _read(faceset: Any, index: int) -> np.ndarray | None:
    """Image ``index`` of a FaceSet, or None when the file cannot be decoded."""
    try:
        image = faceset.image(index)
    except (ValueError, cv2.error):
        return None
    return image if image is not None and image.size else None


def evaluate_folder(
    data_dir: str | Path,
    model: EmotionModel,
    all_model_classes: bool = True,
    batch_size: int = 256,
    progress: bool = True,
    head: str | None = None,
) -> dict[str, Any]:
    """Score ``model`` (its emotion head, or the extra head ``head``) on every image under ``data_dir`` (all splits
    together).

    Args:
        data_dir: ``DIR/<class>/*.png``.
        model: the emotion model.
        all_model_classes: argmax over every class of the model (default); False = over the classes that data and
            model share only (see the module docstring).
        batch_size: crops per inference call.
        progress: show a progress bar on stderr.
        head: an extra head of the model to score (None = the emotion head).

    Returns:
        ``{"n", "accuracy", "macro_f1", "labels", "per_class", "confusion", "skipped_classes", "unreadable",
        "unreadable_files", "protocol", "all_model_classes", "data_classes", "warnings", "data", "model", "head"}``;
        ``labels`` / ``per_class`` / ``confusion`` cover the classes present in the data or predicted, ``unreadable``
        counts the images that could not be decoded (the first ones in ``unreadable_files``), ``warnings`` are also
        logged.
    """
    from affectlens.train.datasets.folders import load_image_folder

    model_labels = model.labels if head is None else model.head_labels(head)
    faces = load_image_folder(data_dir, split_dirs=False, keep_names=model_labels)
    classes = [_data_class(c, model_labels) for c in faces.classes]
    shared = [c for c in model_labels if c in classes]
    skipped: dict[str, int] = {}
    for name, count in zip(classes, faces.class_counts(), strict=True):
        if name not in model_labels:
            skipped[name] = skipped.get(name, 0) + int(count)
    if not shared:
        raise ValueError(
            f"no class of {data_dir} ({', '.join(faces.classes)}) is one the model knows ({', '.join(model_labels)})"
        )
    data_to_model = np.array([model_labels.index(c) if c in model_labels else -1 for c in classes])
    labels_of_rows = data_to_model[faces.labels]
    keep = np.flatnonzero(labels_of_rows >= 0)
    columns = np.arange(len(model_labels)) if all_model_classes else np.array([model_labels.index(c) for c in shared])

    y_true: list[np.ndarray] = []
    predictions: list[np.ndarray] = []
    unreadable: list[str] = []
    bar = tqdm(total=len(keep), unit="img", desc="evaluate", disable=not progress)
    for start in range(0, len(keep), batch_size):
        chunk = keep[start : start + batch_size]
        crops, rows = [], []
        for i in chunk:
            image = _read(faces, int(i))
            if image is None:
                unreadable.append(str(faces.images[int(i)]))
            else:
                crops.append(image)
                rows.append(int(i))
        if crops:
            probs = model.predict_crops(crops)[0] if head is None else model.predict_head(crops, head)
            predictions.append(columns[probs[:, columns].argmax(axis=1)])
            y_true.append(labels_of_rows[rows])
        bar.update(len(chunk))
    bar.close()
    truth = np.concatenate(y_true) if y_true else np.zeros(0, np.int64)
    predicted = np.concatenate(predictions) if predictions else np.zeros(0, np.int64)
    if len(truth) == 0:
        raise ValueError(f"none of the {len(keep)} images under {data_dir} could be read (corrupt or not images)")

    warnings = []
    if unreadable:
        warnings.append(f"skipped {len(unreadable)} unreadable image(s), e.g. {unreadable[0]}")
    present = sorted(set(truth.tolist()))
    if len(present) < 2:
        only = model_labels[present[0]]
        warnings.append(
            f"the data has only one class the model knows ({only}): accuracy is that class's recall and says "
            "nothing about telling classes apart"
            + ("; with --shared-classes-only every prediction is that class" if not all_model_classes else "")
        )

    # score over the model's label space, then keep only the rows/columns of classes present in data or predictions
    report = classification_report(truth, predicted, model_labels)
    used = sorted(set(present) | set(predicted.tolist()))
    labels = [model_labels[i] for i in used]
    report["labels"] = labels
    report["per_class"] = {name: report["per_class"][name] for name in labels}
    report["confusion"] = [[report["confusion"][i][j] for j in used] for i in used]
    report["skipped_classes"] = skipped
    report["unreadable"] = len(unreadable)
    report["unreadable_files"] = unreadable[:20]
    report["all_model_classes"] = bool(all_model_classes)
    report["protocol"] = (
        f"argmax over all {len(model_labels)} model classes"
        if all_model_classes
        else f"argmax over the {len(shared)} class{'es' if len(shared) != 1 else ''} that data and model share only "
        f"({SHARED_PROTOCOL_OPTION})"
    )
    report["data_classes"] = [model_labels[i] for i in present]
    report["warnings"] = warnings
    report["data"] = str(data_dir)
    report["model"] = str(model.path)
    report["head"] = head or "emotion"
    for warning in warnings:
        log.warning("%s", warning)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A human-readable table of an evaluation report (warnings are logged by :func:`evaluate_folder`, not here)."""
    lines = [
        f"model {Path(report['model']).name} ({report['head']} head) on {report['data']}"
        if "model" in report
        else f"data {report.get('data', '')}",
        f"images: {report['n']}   accuracy: {report['accuracy'] * 100:.2f}%   macro-F1: {report['macro_f1'] * 100:.2f}%"
        f"   ({report['protocol']})",
        "",
        f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}",
    ]
    for name, row in report["per_class"].items():
        lines.append(
            f"{name:<10} {row['precision'] * 100:8.1f}% {row['recall'] * 100:6.1f}% {row['f1'] * 100:5.1f}% "
            f"{row['support']:>8}"
        )
    labels = report["labels"]
    lines += ["", "confusion (rows = true, columns = predicted):", " " * 10 + "".join(f"{n[:7]:>8}" for n in labels)]
    for name, row in zip(labels, report["confusion"], strict=True):
        lines.append(f"{name:<10}" + "".join(f"{v:>8}" for v in row))
    if report.get("skipped_classes"):
        skipped = ", ".join(f"{k} ({v} images)" for k, v in report["skipped_classes"].items())
        lines += ["", f"classes the model lacks, not scored: {skipped}"]
    if report.get("unreadable"):
        lines += ["", f"unreadable images skipped: {report['unreadable']} (e.g. {report['unreadable_files'][0]})"]
    return "\n".join(lines)
