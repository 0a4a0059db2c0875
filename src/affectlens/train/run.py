"""Train from a YAML config, then write the curves plot, the test metrics and (optionally) the ONNX export."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from affectlens.train.config import TrainConfig

log = logging.getLogger(__name__)


def train_from_config(
    config_path: str | Path, resume: bool = True, export_path: str | Path | None = None, epochs: int | None = None
) -> dict:
    """Run :class:`~affectlens.train.trainer.Trainer` on ``config_path``; returns the best validation metrics.

    Writes ``training_curves.png`` beside the run's ``metrics.jsonl`` and, when ``export_path`` is given, the best
    EMA weights as ONNX there.
    """
    from affectlens.plots import plot_training_curves
    from affectlens.train.trainer import Trainer

    cfg = TrainConfig.from_yaml(config_path)
    if epochs is not None:
        cfg.epochs = epochs
    trainer = Trainer(cfg)
    best: dict[str, Any] = trainer.fit(resume=resume)
    out = Path(cfg.out_dir)
    plot_training_curves(out / "metrics.jsonl", out / "training_curves.png")
    if export_path is not None:
        from affectlens.train.export import export_onnx, load_checkpoint_net

        net, model_cfg = load_checkpoint_net(out / "best.pt")
        export_onnx(net, model_cfg, export_path)
        log.info("exported %s", export_path)
    (out / "best_val_metrics.json").write_text(json.dumps(best, indent=2))
    return best
