"""Train from a YAML config, score the best weights on the validation and test splits, write the curves plot, the
metrics and (optionally) the ONNX export, and say in a few lines what was achieved and where it was written."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectlens.train.config import ConfigError, TrainConfig

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished run achieved and wrote.

    Attributes:
        out_dir: the run's folder.
        val: validation metrics of the best weights (``accuracy``, ``macro_f1`` in [0, 1], ``n`` faces, optional
            ``valence_arousal`` and ``heads``).
        test: the same on the test split, or None when the dataset has no labelled test images.
        best_epoch: the epoch whose weights are ``best.pt`` (1-based).
        epochs_done: epochs trained in total (including those before a resume).
        epochs: epochs asked for.
        start_epoch: epochs already done when this call started (0 for a new run).
        stopped_early: True when early stopping ended the run.
        files: (path, what it holds) of every output, in the order shown.
    """

    out_dir: Path
    val: dict[str, Any]
    test: dict[str, Any] | None
    best_epoch: int
    epochs_done: int
    epochs: int
    start_epoch: int = 0
    stopped_early: bool = False
    files: list[tuple[Path, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "best_epoch": self.best_epoch,
            "epochs_done": self.epochs_done,
            "epochs": self.epochs,
            "start_epoch": self.start_epoch,
            "stopped_early": self.stopped_early,
            "val": self.val,
            "test": self.test,
            "files": {str(path): what for path, what in self.files},
        }


def train_from_config(
    config_path: str | Path,
    resume: bool = False,
    export_path: str | Path | None = None,
    epochs: int | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Run :class:`~affectlens.train.trainer.Trainer` on ``config_path`` and score its best weights.

    Args:
        config_path: the YAML config (keys: ``docs/TRAINING.md``).
        resume: continue the run in ``out_dir`` from its ``last.pt``.
        export_path: also write the best weights as ONNX here.
        epochs: override the config's ``epochs``.
        overwrite: remove a previous run's outputs from ``out_dir`` and start over.

    The output folder is checked before the dataset is read: one that holds files needs ``resume`` or ``overwrite``
    (:class:`~affectlens.train.outdir.OutDirError` otherwise).
    """
    from affectlens.train.outdir import check_out_dir
    from affectlens.train.trainer import Trainer

    cfg = TrainConfig.from_yaml(config_path)
    if epochs is not None:
        if epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {epochs}")
        cfg.epochs = epochs
    check_out_dir(cfg.out_dir, resume, overwrite)  # before the (possibly long) dataset load
    trainer = Trainer(cfg)
    trainer.fit(resume=resume, overwrite=overwrite)
    return finish_run(trainer, export_path)


def finish_run(trainer: Any, export_path: str | Path | None = None) -> TrainResult:
    """After ``trainer.fit()``: score ``best.pt`` on the test split, write the plot, the metrics JSON files and the
    optional ONNX export; returns the :class:`TrainResult`."""
    from affectlens.plots import plot_training_curves

    out = trainer.out_dir
    best = trainer.best_checkpoint()
    test_set = trainer.faces.subset("test")
    test = None
    if len(test_set) and (test_set.labels >= 0).any():
        test = trainer.evaluate(test_set, trainer.best_model())
    result = TrainResult(
        out_dir=out,
        val=best["val"],
        test=test,
        best_epoch=int(best["epoch"]),
        epochs_done=trainer.epoch,
        epochs=trainer.cfg.epochs,
        start_epoch=getattr(trainer, "start_epoch", 0),
        stopped_early=getattr(trainer, "stopped_early", False),
    )
    files = result.files
    files.append((out / "best.pt", f"best weights (epoch {result.best_epoch}): `affectlens export {out / 'best.pt'}`"))
    files.append((out / "last.pt", f"checkpoint of epoch {result.epochs_done}, for `affectlens train --resume`"))
    files.append((out / "metrics.jsonl", "one line of metrics per epoch"))
    plot_training_curves(out / "metrics.jsonl", out / "training_curves.png")
    files.append((out / "training_curves.png", "loss and validation scores per epoch"))
    (out / "best_val_metrics.json").write_text(json.dumps(result.val, indent=2))
    files.append((out / "best_val_metrics.json", "validation metrics of the best weights"))
    if test is not None:
        (out / "test_metrics.json").write_text(json.dumps(test, indent=2))
        files.append((out / "test_metrics.json", "test metrics of the best weights"))
    if (out / "tensorboard").is_dir():
        files.append((out / "tensorboard", "TensorBoard logs"))
    if export_path is not None:
        from affectlens.train.export import export_onnx, load_checkpoint_net

        net, model_cfg = load_checkpoint_net(out / "best.pt")
        export_onnx(net, model_cfg, export_path)
        files.append((Path(export_path), "the best model as ONNX, for `affectlens analyze --model`"))
    files.append((out / "summary.json", "this summary"))
    (out / "summary.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def format_summary(result: TrainResult) -> str:
    """The end-of-training summary: epochs, validation and test accuracy / macro-F1 (per head too), and the files."""
    how = "early stopping" if result.stopped_early else f"{result.epochs} asked for"
    resumed = f", resumed at epoch {result.start_epoch}" if result.start_epoch else ""
    epochs = f"{result.epochs_done} epoch{'s' if result.epochs_done != 1 else ''}"
    lines = [f"trained {epochs} ({how}{resumed}); best weights from epoch {result.best_epoch}"]
    splits = [("validation", result.val), ("test", result.test)]
    for name, metrics in splits:
        if metrics is None:
            lines.append(f"  {name:<10} no labelled images in this dataset")
            continue
        lines.append(f"  {name:<10} {_scores(metrics)}")
        va = metrics.get("valence_arousal", {})
        if va.get("n") and _finite(va.get("mean_ccc")):
            lines.append(f"  {'':<10} valence/arousal mean CCC {va['mean_ccc']:.3f} on {va['n']:,} faces")
    for head in sorted(result.val.get("heads", {})):
        for name, metrics in splits:
            if metrics is not None and head in metrics.get("heads", {}):
                lines.append(f"  {name:<10} head {head}: {_scores(metrics['heads'][head])}")
    width = max(len(str(path)) for path, _ in result.files) if result.files else 0
    lines.append("wrote:")
    lines.extend(f"  {path!s:<{width}}  {what}" for path, what in result.files)
    return "\n".join(lines)


def _scores(metrics: dict[str, Any]) -> str:
    return f"accuracy {metrics['accuracy']:.2%}  macro-F1 {metrics['macro_f1']:.2%}  ({metrics['n']:,} faces)"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
