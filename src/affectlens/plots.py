"""Plots people would rather look at than read: confusion matrices and training curves (matplotlib, Agg)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_title(report: dict[str, Any]) -> str:
    """What a confusion matrix shows: model, head and data (when the report names them), then the scores and protocol.

    >>> confusion_title({"accuracy": 0.5, "macro_f1": 0.25, "n": 4})
    'accuracy 50.0%, macro-F1 25.0% (4 images)'
    """
    scores = f"accuracy {report['accuracy'] * 100:.1f}%, macro-F1 {report['macro_f1'] * 100:.1f}%"
    if "n" in report:
        scores += f" ({report['n']} images)"
    if "model" not in report and "data" not in report:
        return scores
    model = Path(report["model"]).name if report.get("model") else "model"
    head = f", {report['head']} head" if report.get("head") else ""
    data = Path(str(report["data"])).name or str(report["data"]) if report.get("data") else "?"
    lines = [f"{model}{head} on {data}", scores]
    if report.get("protocol"):
        lines.append(str(report["protocol"]))
    return "\n".join(lines)


def plot_confusion(report: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (recall per true class) with counts, from a ``classification_report``.

    The default title names the model, head and data of an ``affectlens evaluate`` report (see
    :func:`confusion_title`)."""
    plt = _pyplot()
    counts = np.asarray(report["confusion"], np.float64)
    labels = report["labels"]
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(max(4.8, 1.0 + 0.8 * len(labels)), 1.3 + 0.7 * len(labels)), dpi=120)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{rates[i, j] * 100:.0f}%\n{int(counts[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or confusion_title(report), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_training_curves(metrics_jsonl: str | Path, path: str | Path) -> Path:
    """Loss, validation accuracy / macro-F1 / VA CCC (and each extra head's accuracy) and learning rate per epoch,
    from a run's ``metrics.jsonl``."""
    plt = _pyplot()
    rows = [json.loads(line) for line in Path(metrics_jsonl).read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{metrics_jsonl} has no epochs yet")
    epoch = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=110)
    axes[0].plot(epoch, [r["train_loss"] for r in rows], label="train loss")
    axes[0].set_title("training loss")
    heads = sorted({k for r in rows for k in r if k.startswith("val_") and k.endswith("_accuracy")} - {"val_accuracy"})
    for key, name in (
        ("val_accuracy", "val accuracy"),
        ("val_macro_f1", "val macro-F1"),
        ("val_mean_ccc", "val VA CCC"),
        *[(key, f"val {key.removeprefix('val_').removesuffix('_accuracy')} head accuracy") for key in heads],
    ):
        values = [r.get(key) for r in rows]
        if any(v is not None for v in values):
            axes[1].plot(epoch, [np.nan if v is None else v for v in values], label=name)
    axes[1].set_title("validation")
    axes[1].legend()
    axes[2].plot(epoch, [r["lr"] for r in rows])
    axes[2].set_title("learning rate (end of epoch)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
