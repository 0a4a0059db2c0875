"""A run's output folder: new, resumed (``--resume``) or started over (``--overwrite``), never mixed by accident.

A folder that already holds files is refused unless the caller says what to do with it: continue the run from its
``last.pt``, or remove the run's outputs and start over. Files the trainer does not write are never removed.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

# What a training run writes into its folder (see Trainer and train_from_config); --overwrite removes only these.
RUN_OUTPUTS = (
    "config.yaml",
    "metrics.jsonl",
    "last.pt",
    "last.tmp",
    "best.pt",
    "best.tmp",
    "training_curves.png",
    "best_val_metrics.json",
    "test_metrics.json",
    "summary.json",
    "tensorboard",
)


class OutDirError(ValueError):
    """The output folder cannot be used as asked; the message says which option to pass."""


def check_out_dir(out_dir: str | Path, resume: bool = False, overwrite: bool = False) -> bool:
    """Whether a run in ``out_dir`` continues from its ``last.pt`` (True) or starts at epoch 0 (False).

    Starts at epoch 0 when the folder is absent or empty, or with ``overwrite``; continues with ``resume`` when
    ``last.pt`` exists (an absent or empty folder with ``resume`` starts at epoch 0). Raises :class:`OutDirError`
    when the folder holds files and neither option says what to do, or with ``resume`` and no ``last.pt``.
    Writes nothing (see :func:`prepare_out_dir`).
    """
    if resume and overwrite:
        raise OutDirError("--resume and --overwrite contradict each other; pass one of them")
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise OutDirError(f"out_dir {path} is a file, not a folder; choose another out_dir")
    entries = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    if not entries or overwrite:
        return False
    if resume:
        if (path / "last.pt").is_file():
            return True
        raise OutDirError(
            f"{path} has no last.pt to resume from (it holds {_listing(entries)}); "
            "pass --overwrite to start over there, or choose another out_dir"
        )
    if "last.pt" in entries:
        raise OutDirError(
            f"{path} already holds a training run (last.pt); pass --resume to continue it or --overwrite to start "
            "over, or choose another out_dir"
        )
    raise OutDirError(
        f"{path} is not empty (it holds {_listing(entries)}); pass --overwrite to train there anyway (it removes "
        "only a previous run's outputs) or choose another out_dir (--resume needs a last.pt)"
    )


def prepare_out_dir(out_dir: str | Path, resume: bool = False, overwrite: bool = False) -> bool:
    """:func:`check_out_dir`, then create the folder; with ``overwrite``, first remove the previous run's outputs
    (:data:`RUN_OUTPUTS` only). Returns whether the run continues from ``last.pt``."""
    continuing = check_out_dir(out_dir, resume, overwrite)
    path = Path(out_dir)
    if overwrite and path.is_dir():
        removed = clear_run_outputs(path)
        if removed:
            log.info("--overwrite: removed %s from %s", ", ".join(removed), path)
    path.mkdir(parents=True, exist_ok=True)
    return continuing


def clear_run_outputs(path: Path) -> list[str]:
    """Remove the files and folders a training run writes (:data:`RUN_OUTPUTS`) from ``path``; returns their names."""
    removed = []
    for name in RUN_OUTPUTS:
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        else:
            continue
        removed.append(name)
    return removed


def _listing(names: list[str], most: int = 4) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
