"""``affectlens evaluate``: accuracy, macro-F1, per-class precision/recall and confusion of an emotion model on an
ImageFolder of face crops (``DIR/<class>/*.png``; emotion synonyms accepted as folder names).

The crops are fed through the same :func:`affectlens.preprocess.preprocess_batch` as at run time (no detection or
alignment: the folder holds ready-made crops, like FER-2013). Classes in the data that the model lacks are reported
and left out. By default the prediction is the most probable of the classes that data and model share (so a model
with ``contempt`` can be scored on 7-class FER-2013); ``all_model_classes=True`` takes the argmax over every class.
``head="fer2013"`` scores an extra head of the model instead of its emotion head (the same rules apply to its classes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from affectlens.emotions import canonical_emotion, is_emotion
from affectlens.metrics import classification_report
from affectlens.models.runtime import EmotionModel


def evaluate_folder(
    data_dir: str | Path,
    model: EmotionModel,
    all_model_classes: bool = False,
    batch_size: int = 256,
    progress: bool = True,
    head: str | None = None,
) -> dict[str, Any]:
    """Score ``model`` (its emotion head, or the extra head ``head``) on every image under ``data_dir`` (all splits
    together).

    Returns:
        ``{"n", "accuracy", "macro_f1", "labels", "per_class", "confusion", "skipped_classes", "protocol", "data"}``.
    """
    from affectlens.train.datasets.folders import load_image_folder

    faces = load_image_folder(data_dir, split_dirs=False)
    # each folder name that is an emotion synonym counts as that emotion, even beside non-emotion folders
    classes = [canonical_emotion(c) if is_emotion(c) else c for c in faces.classes]
    model_labels = model.labels if head is None else model.head_labels(head)
    shared = [c for c in model_labels if c in classes]
    skipped = {c: int(n) for c, n in zip(classes, faces.class_counts(), strict=True) if c not in model_labels}
    if not shared:
        raise ValueError(
            f"no class of {data_dir} ({', '.join(faces.classes)}) is one the model knows ({', '.join(model_labels)})"
        )
    data_to_model = np.array([model_labels.index(c) if c in model_labels else -1 for c in classes])
    y_true = data_to_model[faces.labels]
    keep = np.flatnonzero(y_true >= 0)
    columns = np.arange(len(model_labels)) if all_model_classes else np.array([model_labels.index(c) for c in shared])

    predictions = np.empty(len(keep), np.int64)
    bar = tqdm(total=len(keep), unit="img", desc="evaluate", disable=not progress)
    for start in range(0, len(keep), batch_size):
        chunk = keep[start : start + batch_size]
        crops = [faces.image(int(i)) for i in chunk]
        probs = model.predict_crops(crops)[0] if head is None else model.predict_head(crops, head)
        predictions[start : start + len(chunk)] = columns[probs[:, columns].argmax(axis=1)]
        bar.update(len(chunk))
    bar.close()

    # score over the model's label space, then keep only the rows/columns of classes present in data or predictions
    report = classification_report(y_true[keep], predictions, model_labels)
    used = sorted(set(y_true[keep].tolist()) | set(predictions.tolist()))
    labels = [model_labels[i] for i in used]
    report["labels"] = labels
    report["per_class"] = {name: report["per_class"][name] for name in labels}
    report["confusion"] = [[report["confusion"][i][j] for j in used] for i in used]
    report["skipped_classes"] = skipped
    report["protocol"] = "all model classes" if all_model_classes else f"argmax over {len(shared)} shared classes"
    report["data"] = str(data_dir)
    report["model"] = str(model.path)
    report["head"] = head or "emotion"
    return report


def format_report(report: dict[str, Any]) -> str:
    """A human-readable table of an evaluation report."""
    lines = [
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
    return "\n".join(lines)
