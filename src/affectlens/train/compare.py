"""``affectlens train --compare-optimizers``: the same model and data trained with several optimizers, side by side.

Each optimizer gets its own run directory (``<out_dir>/<optimizer>``; ``resume`` / ``overwrite`` as for one run); the
comparison is written
as ``optimizer_comparison.csv`` / ``.md`` / ``.json`` and ``optimizer_comparison.png`` (validation macro-F1 and
training loss per epoch) in ``<out_dir>``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

from affectlens.train.config import OPTIMIZERS, TrainConfig

# Learning rates that suit each optimizer at batch 128 (AdamW's comes from the config).
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adagrad": 0.01}


def compare_optimizers(
    cfg: TrainConfig,
    optimizers: list[str],
    epochs: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Train ``cfg`` once per optimizer; returns one summary row per optimizer (best validation metrics, time).

    ``resume`` / ``overwrite`` apply to each optimizer's run folder (see :func:`.outdir.check_out_dir`);
    every folder is checked before any training starts.
    """
    from affectlens.train.datasets import load_dataset
    from affectlens.train.outdir import check_out_dir
    from affectlens.train.trainer import Trainer

    unknown = [name for name in optimizers if name not in OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizer(s) {', '.join(unknown)}; choose from {', '.join(OPTIMIZERS)}")
    root = Path(cfg.out_dir)
    for name in optimizers:
        check_out_dir(root / name, resume, overwrite)
    faces = load_dataset(**cfg.dataset)  # loaded once, shared by every run
    rows = []
    for name in optimizers:
        lr = cfg.lr if name == cfg.optimizer else DEFAULT_LR.get(name, cfg.lr)
        run_cfg = dataclasses.replace(
            cfg, optimizer=name, lr=lr, out_dir=str(root / name), epochs=epochs or cfg.epochs, early_stopping=0
        )
        trainer = Trainer(run_cfg, faces=faces)
        best = trainer.fit(resume=resume, overwrite=overwrite)
        history = _history(root / name / "metrics.jsonl")
        rows.append(
            {
                "optimizer": name,
                "lr": lr,
                "epochs": len(history),
                "best_val_macro_f1": max((h["val_macro_f1"] for h in history), default=float("nan")),
                "best_val_accuracy": max((h["val_accuracy"] for h in history), default=float("nan")),
                "final_train_loss": history[-1]["train_loss"] if history else float("nan"),
                "seconds": sum(h["epoch_s"] for h in history),
                "best_epoch_val": best.get("macro_f1"),
            }
        )
    _write(root, rows, optimizers)
    return rows


def _history(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _write(root: Path, rows: list[dict[str, Any]], optimizers: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "optimizer_comparison.json").write_text(json.dumps(rows, indent=2))
    columns = ["optimizer", "lr", "epochs", "best_val_accuracy", "best_val_macro_f1", "final_train_loss", "seconds"]
    with open(root / "optimizer_comparison.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in sorted(rows, key=lambda r: -r["best_val_macro_f1"]):
        cells = [f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    (root / "optimizer_comparison.md").write_text("\n".join(lines) + "\n")
    _plot(root, optimizers)


def _plot(root: Path, optimizers: list[str]) -> None:
    from affectlens.plots import _pyplot

    plt = _pyplot()
    fig, (ax_f1, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=110)
    for name in optimizers:
        history = _history(root / name / "metrics.jsonl")
        epochs = [h["epoch"] for h in history]
        ax_f1.plot(epochs, [h["val_macro_f1"] for h in history], marker="o", label=name)
        ax_loss.plot(epochs, [h["train_loss"] for h in history], marker="o", label=name)
    ax_f1.set_title("validation macro-F1")
    ax_loss.set_title("training loss")
    for ax in (ax_f1, ax_loss):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(root / "optimizer_comparison.png")
    plt.close(fig)
