"""The trainer: AdamW + cosine warm-up (or SGD/Adam/Adagrad, plateau), weight EMA, early stopping, checkpoints and
resume, TensorBoard, mixed precision on CUDA. Model selection by validation macro-F1 + mean valence/arousal CCC.

Outputs in ``cfg.out_dir``: ``config.yaml``, ``metrics.jsonl`` (one line per epoch), ``last.pt`` (resume),
``best.pt`` (best EMA weights), ``tensorboard/``. A folder that already holds files is used only when ``fit`` is told
to resume or to overwrite (see :mod:`affectlens.train.outdir`).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from affectlens.metrics import classification_report, regression_report
from affectlens.models.config import ModelConfig
from affectlens.models.registry import create_model
from affectlens.preprocess import normalize, to_model_pixels
from affectlens.train.augment import augment
from affectlens.train.config import TrainConfig
from affectlens.train.datasets import load_dataset
from affectlens.train.faceset import FaceSet
from affectlens.train.losses import capped_class_weights, soft_cross_entropy, valence_arousal_loss
from affectlens.train.memory_format import choose_memory_format, format_name
from affectlens.train.mixing import mix_batch
from affectlens.train.outdir import prepare_out_dir

log = logging.getLogger(__name__)


def model_config_for(cfg: TrainConfig, faces: FaceSet) -> ModelConfig:
    """The :class:`ModelConfig` that travels inside the exported model.

    ``valence_arousal`` is True only when the network has a VA head AND some training images have valence/arousal
    targets (folders have none: their head would stay untrained, and the runtime then reports no valence/arousal).
    ``eyes`` is the template the training images follow (``FaceSet.eyes``: FER-2013's for FER-2013/FER+ pixels; None
    for folders and other crops, so that the runtime feeds the detector's box rather than claim an alignment the
    model never saw).
    """
    train_va = faces.valence_arousal[faces.split == "train"]
    return ModelConfig(
        architecture=cfg.model,
        labels=faces.classes,
        input_size=cfg.input_size,
        channels=cfg.channels,
        mean=tuple(cfg.mean),
        std=tuple(cfg.std),
        eyes=faces.eyes,
        valence_arousal=bool(cfg.valence_arousal and np.isfinite(train_va).all(axis=1).any()),
        extra_heads={k: tuple(v) for k, v in faces.extra_classes.items()},
        info={"trained_on": faces.source, "model_kwargs": cfg.model_kwargs},
    )


def build_model(cfg: TrainConfig, faces: FaceSet) -> torch.nn.Module:
    return create_model(
        cfg.model,
        num_classes=len(faces.classes),
        in_channels=cfg.channels,
        valence_arousal=cfg.valence_arousal,
        extra_heads={k: len(v) for k, v in faces.extra_classes.items()},
        dropout=cfg.dropout,
        **(cfg.model_kwargs or {}),
    )


def batch_inputs(
    faces: FaceSet, index: np.ndarray, model_cfg: ModelConfig, cfg: TrainConfig | None, rng: np.random.Generator | None
) -> torch.Tensor:
    """Images ``index`` -> float32 (B, C, S, S): optional augmentation, then the shared preprocessing."""
    pixels = []
    for i in index:
        image = faces.image(int(i))
        if cfg is not None and rng is not None:
            image = augment(image, cfg.augment, rng)
        pixels.append(to_model_pixels(image, model_cfg))
    return torch.from_numpy(normalize(np.stack(pixels), model_cfg))


def class_targets(faces: FaceSet, index: np.ndarray, soft: bool) -> torch.Tensor:
    """(B, C) target distributions: FER+-style soft labels when asked for and present, else one-hot."""
    if soft and faces.soft is not None:
        return torch.from_numpy(faces.soft[index].astype(np.float32))
    return one_hot(faces.labels[index], len(faces.classes))


def one_hot(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """(B,) int labels -> (B, num_classes) float32 one-hot rows; a label of -1 (none) gives a row of zeros."""
    rows = np.zeros((len(labels), num_classes), np.float32)
    known = np.flatnonzero(labels >= 0)
    rows[known, labels[known]] = 1.0
    return torch.from_numpy(rows)


def extra_head_loss(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy of one extra head over the rows that have a label (target rows that are not all zero)."""
    labelled = target.sum(dim=1) > 0
    if not bool(labelled.any()):
        return logits.sum() * 0.0
    return soft_cross_entropy(logits[labelled], target[labelled], label_smoothing)


class Trainer:
    """Train one model from a :class:`TrainConfig`; ``fit(resume=True)`` continues from ``last.pt``.

    ``faces`` (optional) replaces the config's ``dataset``. Nothing is written before :meth:`fit`.
    """

    def __init__(self, cfg: TrainConfig, faces: FaceSet | None = None) -> None:
        self.cfg = cfg
        self.out_dir = Path(cfg.out_dir)
        if faces is None and not cfg.dataset:
            raise ValueError("the config names no dataset; add e.g. `dataset: {kind: image_folder, root: DIR}`")
        torch.manual_seed(cfg.seed)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.device = torch.device(
            "cuda"
            if cfg.device == "auto" and torch.cuda.is_available()
            else ("cpu" if cfg.device == "auto" else cfg.device)
        )
        self.faces = faces if faces is not None else load_dataset(**cfg.dataset)
        self.train_set = self._trainable(self.faces.subset("train"))
        self.val_set = self.faces.subset("val")
        if len(self.train_set) < 2 or len(self.val_set) == 0:
            raise ValueError(
                f"need at least 2 training and 1 validation image with labels, got {len(self.train_set)} / "
                f"{len(self.val_set)} (from {self.faces.source or 'the dataset'})"
            )
        self.model_cfg = model_config_for(cfg, self.faces)
        self.memory_format = choose_memory_format(self.device, cfg.memory_format, self._probe_spec())
        log.info("training on %s, memory format %s", self.device, format_name(self.memory_format))
        model = build_model(cfg, self.faces)
        self.model = model.to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.optimizer = self._optimizer()
        self.steps_per_epoch = math.ceil(len(self.train_set) / cfg.batch_size)
        if len(self.train_set) % cfg.batch_size == 1:  # a last batch of one image breaks batch norm: leave it out
            self.steps_per_epoch -= 1
        if cfg.max_train_batches:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.max_train_batches)
        self.scheduler = self._scheduler()
        self.class_weights = (
            capped_class_weights(self.train_set.class_counts(), cfg.class_weight_cap) if cfg.class_weight_cap else None
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.device.type == "cuda")
        self.epoch = 0
        self.ema_updates = 0
        self.best_score = -math.inf
        self.bad_epochs = 0
        self.start_epoch = 0  # epochs already done when fit() started (after a resume)
        self.stopped_early = False
        self.rng = np.random.default_rng(cfg.seed)

    # -- setup -----------------------------------------------------------------------------------------------------
    def _probe_spec(self) -> dict[str, Any]:
        """The network and batch sizes of this run, for the channels_last probe (see :mod:`.memory_format`)."""
        n, batch = len(self.train_set), self.cfg.batch_size
        sizes = sorted({min(batch, n), n % batch} - {0, 1})
        return {
            "name": self.cfg.model,
            "num_classes": len(self.faces.classes),
            "in_channels": self.cfg.channels,
            "valence_arousal": self.cfg.valence_arousal,
            "extra_heads": {k: len(v) for k, v in self.faces.extra_classes.items()},
            "dropout": self.cfg.dropout,
            "kwargs": self.cfg.model_kwargs,
            "input_size": self.cfg.input_size,
            "batch_sizes": sizes,
        }

    def _trainable(self, faces: FaceSet) -> FaceSet:
        has_target = faces.labels >= 0
        if self.cfg.soft_labels and faces.soft is not None:
            has_target |= faces.soft.sum(axis=1) > 0
        return faces.select(np.flatnonzero(has_target))

    def _optimizer(self) -> torch.optim.Optimizer:
        cfg = self.cfg
        decay = [p for n, p in self.model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in self.model.named_parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=cfg.lr)
        if cfg.optimizer == "adam":
            return torch.optim.Adam(groups, lr=cfg.lr)
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
        if cfg.optimizer == "adagrad":
            return torch.optim.Adagrad(groups, lr=cfg.lr)
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adamw, adam, sgd or adagrad")

    def _scheduler(self) -> Any:
        cfg = self.cfg
        if cfg.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, mode="max", factor=0.5, patience=3)
        total = cfg.epochs * self.steps_per_epoch
        warmup = max(1, int(cfg.warmup_epochs * self.steps_per_epoch))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            if cfg.schedule == "constant":
                return 1.0
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return 0.5 * (1 + math.cos(math.pi * progress))

        if cfg.schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {cfg.schedule!r}; choose cosine, plateau or constant")
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    # -- checkpoints -----------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "ema_updates": self.ema_updates,
            "best_score": self.best_score,
            "bad_epochs": self.bad_epochs,
            "rng": self.rng.bit_generator.state,
            "model_cfg": self.model_cfg.to_json(),
            "train_cfg": self.cfg.to_dict(),
        }

    def _save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save(self._state(), tmp)
        tmp.replace(path)  # atomic: an interrupted save never leaves a broken checkpoint

    def resume(self) -> bool:
        """Load ``last.pt`` if present; True when training continues from it.

        Raises ValueError (one line) when the checkpoint cannot be read or was trained with another architecture,
        classes or input than this config's.
        """
        path = self.out_dir / "last.pt"
        if not path.exists():
            return False
        try:
            state = torch.load(path, map_location=self.device, weights_only=False)
        except Exception as error:  # a truncated or foreign file: say which, not the unpickler's words
            raise ValueError(f"cannot resume from {path}: not a readable checkpoint ({type(error).__name__})") from None
        differences = checkpoint_differences(state, self.cfg, self.model_cfg)
        advice = "pass --overwrite to start over, or choose another out_dir"
        if differences:
            raise ValueError(f"cannot resume from {path}: it was trained with {'; '.join(differences)}; {advice}")
        try:
            self.model.load_state_dict(state["model"])
            self.ema.load_state_dict(state["ema"])
        except RuntimeError:
            raise ValueError(f"cannot resume from {path}: its weights do not fit the network; {advice}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best_score, self.bad_epochs = state["epoch"], state["best_score"], state["bad_epochs"]
        self.rng.bit_generator.state = state["rng"]
        self.ema_updates = state.get("ema_updates", self.epoch * self.steps_per_epoch)
        log.info("resumed from %s at epoch %d (best score %.4f)", path, self.epoch, self.best_score)
        return True

    # -- training --------------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
        """Train until ``epochs`` or early stopping; returns the best validation metrics.

        Args:
            resume: continue from ``out_dir/last.pt`` (start at epoch 0 when the folder is absent or empty).
            overwrite: remove a previous run's outputs from ``out_dir`` and start over.

        Raises:
            OutDirError: ``out_dir`` holds files and neither ``resume`` nor ``overwrite`` is set.
        """
        cfg = self.cfg
        if prepare_out_dir(self.out_dir, resume, overwrite):
            self.resume()
            _keep_metrics_until(self.out_dir / "metrics.jsonl", self.epoch)
        self.start_epoch = self.epoch
        cfg.save(self.out_dir / "config.yaml")
        writer = _tensorboard(self.out_dir / "tensorboard")
        best: dict[str, Any] = {}
        self.stopped_early = False
        while self.epoch < cfg.epochs:
            train_stats = self._train_epoch()
            metrics = self.evaluate(self.val_set, self.ema)
            self.epoch += 1
            score = selection_score(metrics)
            improved = score > self.best_score
            if improved:
                self.best_score, self.bad_epochs = score, 0
                best = metrics
                torch.save(
                    {
                        "ema": self.ema.state_dict(),
                        "model_cfg": self.model_cfg.to_json(),
                        "train_cfg": cfg.to_dict(),
                        "epoch": self.epoch,
                        "val": metrics,
                    },
                    self.out_dir / "best.pt",
                )
            else:
                self.bad_epochs += 1
            if cfg.schedule == "plateau":
                self.scheduler.step(score)
            self._save(self.out_dir / "last.pt")
            row = {
                "epoch": self.epoch,
                **train_stats,
                "val_accuracy": metrics["accuracy"],
                "val_macro_f1": metrics["macro_f1"],
                "val_mean_ccc": metrics.get("valence_arousal", {}).get("mean_ccc"),
                **{f"val_{name}_accuracy": head["accuracy"] for name, head in metrics.get("heads", {}).items()},
                **{f"val_{name}_macro_f1": head["macro_f1"] for name, head in metrics.get("heads", {}).items()},
                "score": score,
                "best": improved,
                "lr": self.optimizer.param_groups[0]["lr"],
            }
            with open(self.out_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            if writer is not None:
                for key, value in row.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None:
                        writer.add_scalar(key, value, self.epoch)
                writer.flush()
            log.info(
                "epoch %d: %s", self.epoch, {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
            )
            if cfg.early_stopping and self.bad_epochs >= cfg.early_stopping:
                log.info("early stopping: no better validation score for %d epochs", self.bad_epochs)
                self.stopped_early = True
                break
        if writer is not None:
            writer.close()
        if not best and (self.out_dir / "best.pt").exists():  # nothing better this time (or nothing left to train)
            best = self.best_checkpoint()["val"]
        return best

    def best_checkpoint(self) -> dict[str, Any]:
        """``best.pt`` of this run: ``ema`` (state dict), ``epoch``, ``val`` (its validation metrics), configs."""
        return torch.load(self.out_dir / "best.pt", map_location=self.device, weights_only=False)

    def best_model(self) -> torch.nn.Module:
        """A copy of the network with the best EMA weights (``best.pt``), in eval mode."""
        model = copy.deepcopy(self.ema)
        model.load_state_dict(self.best_checkpoint()["ema"])
        return model.eval()

    def _train_epoch(self) -> dict[str, float]:
        cfg, faces = self.cfg, self.train_set
        self.model.train()
        order = self.rng.permutation(len(faces))
        started, seen, total_loss = time.perf_counter(), 0, 0.0
        bar = tqdm(range(self.steps_per_epoch), desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False)
        for step in bar:
            index = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            x = batch_inputs(faces, index, self.model_cfg, cfg, self.rng)
            dist = class_targets(faces, index, cfg.soft_labels)
            va = torch.from_numpy(faces.valence_arousal[index])
            heads = {
                name: one_hot(labels[index], len(faces.extra_classes[name]))
                for name, labels in faces.extra_labels.items()
            }
            if cfg.mix_p and self.rng.random() < cfg.mix_p:
                x, (dist, va, *mixed) = mix_batch(
                    x, [dist, va, *heads.values()], self.rng, cfg.mixup_alpha, cfg.cutmix_alpha
                )
                heads = dict(zip(heads, mixed, strict=True))
            x = x.to(self.device, memory_format=self.memory_format)
            dist, va = dist.to(self.device), va.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
                out = self.model(x)
            loss = cfg.alpha * soft_cross_entropy(
                out["logits"].float(), dist, cfg.label_smoothing, self.class_weights, cfg.focal_gamma
            )
            if "valence_arousal" in out:
                loss = loss + cfg.beta * valence_arousal_loss(out["valence_arousal"].float(), va, cfg.ccc_weight)
            for name, target in heads.items():
                loss = loss + cfg.extra_head_weight * extra_head_loss(
                    out[name].float(), target.to(self.device), cfg.label_smoothing
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if cfg.schedule != "plateau":
                self.scheduler.step()
            self._update_ema()
            seen += len(index)
            total_loss += loss.item() * len(index)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", img_s=f"{seen / (time.perf_counter() - started):.0f}")
        elapsed = time.perf_counter() - started
        return {"train_loss": total_loss / max(seen, 1), "images_per_s": seen / elapsed, "epoch_s": elapsed}

    @torch.no_grad()
    def _update_ema(self) -> None:
        # warm-up: the average follows the weights closely at first instead of lagging on the random init
        self.ema_updates += 1
        decay = min(self.cfg.ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        for ema_p, p in zip(self.ema.state_dict().values(), self.model.state_dict().values(), strict=True):
            if ema_p.dtype.is_floating_point:
                ema_p.mul_(decay).add_(p.detach(), alpha=1 - decay)
            else:
                ema_p.copy_(p)

    @torch.no_grad()
    def predict(
        self, faces: FaceSet, model: torch.nn.Module | None = None, batch_size: int = 512
    ) -> dict[str, np.ndarray]:
        """Outputs for every image of ``faces``, no augmentation: ``probs`` (N, C), ``valence_arousal`` (N, 2) when
        the model has that head, and each extra head's probabilities (N, K) under its name."""
        model = (model or self.ema).eval()
        chunks: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(faces), batch_size):
            index = np.arange(start, min(start + batch_size, len(faces)))
            x = batch_inputs(faces, index, self.model_cfg, None, None).to(self.device, memory_format=self.memory_format)
            for name, value in model(x).items():
                value = value.float()
                key = "probs" if name == "logits" else name
                if name != "valence_arousal":
                    value = torch.softmax(value, 1)
                chunks.setdefault(key, []).append(value.cpu().numpy())
        return {name: np.concatenate(parts) for name, parts in chunks.items()}

    def evaluate(self, faces: FaceSet, model: torch.nn.Module | None = None) -> dict[str, Any]:
        """Classification metrics on rows with a hard label; VA metrics where VA targets exist; one classification
        report per extra head under ``heads``."""
        outputs = self.predict(faces, model)
        labelled = faces.labels >= 0
        report = classification_report(faces.labels[labelled], outputs["probs"][labelled].argmax(1), faces.classes)
        if "valence_arousal" in outputs and faces.has_valence_arousal():
            report["valence_arousal"] = regression_report(outputs["valence_arousal"], faces.valence_arousal)
        heads = {}
        for name, labels in faces.extra_labels.items():
            known = labels >= 0
            if known.any():
                heads[name] = classification_report(
                    labels[known], outputs[name][known].argmax(1), faces.extra_classes[name]
                )
        if heads:
            report["heads"] = heads
        return report


def selection_score(metrics: dict[str, Any]) -> float:
    """Model selection: macro-F1 + mean valence/arousal CCC (CCC counts 0 when absent) + each extra head's
    macro-F1."""
    ccc = metrics.get("valence_arousal", {}).get("mean_ccc", 0.0)
    score = float(metrics["macro_f1"]) + (0.0 if ccc is None or not np.isfinite(ccc) else float(ccc))
    return score + sum(float(head["macro_f1"]) for head in metrics.get("heads", {}).values())


def checkpoint_differences(state: dict[str, Any], cfg: TrainConfig, model_cfg: ModelConfig) -> list[str]:
    """What makes checkpoint ``state`` unfit to continue under ``cfg`` / ``model_cfg`` (empty when it fits)."""
    if not isinstance(state, dict) or not {"model", "train_cfg", "model_cfg"} <= set(state):
        return ["no training state (not a last.pt written by affectlens train)"]
    saved_train, saved_model = state["train_cfg"], ModelConfig.from_json(state["model_cfg"])
    differences = []
    if saved_train.get("model") != cfg.model:
        differences.append(f"model {saved_train.get('model')} (this config: {cfg.model})")
    saved_kwargs = saved_train.get("model_kwargs") or {}
    if any(saved_kwargs.get(k, v) != v for k, v in (cfg.model_kwargs or {}).items()):
        differences.append(f"model_kwargs {saved_kwargs} (this config: {cfg.model_kwargs})")
    if tuple(saved_model.labels) != tuple(model_cfg.labels):
        differences.append(f"classes {', '.join(saved_model.labels)} (this data: {', '.join(model_cfg.labels)})")
    if dict(saved_model.extra_heads) != dict(model_cfg.extra_heads):
        saved_heads, heads = sorted(saved_model.extra_heads), sorted(model_cfg.extra_heads)
        differences.append(f"extra heads {saved_heads} (this data: {heads})")
    if (saved_model.input_size, saved_model.channels) != (model_cfg.input_size, model_cfg.channels):
        differences.append(
            f"input {saved_model.input_size} px x {saved_model.channels} channel(s) "
            f"(this config: {model_cfg.input_size} x {model_cfg.channels})"
        )
    if bool(saved_train.get("valence_arousal", True)) != bool(cfg.valence_arousal):
        differences.append(f"valence_arousal {saved_train.get('valence_arousal')} (this config: {cfg.valence_arousal})")
    return differences


def _keep_metrics_until(path: Path, epoch: int) -> None:
    """Drop rows after ``epoch`` from ``metrics.jsonl`` (a run stopped between its checkpoint and its log line)."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if _epoch_of(line) <= epoch]
    if len(kept) != len(rows):
        path.write_text("".join(line + "\n" for line in kept))


def _epoch_of(line: str) -> float:
    """The epoch of one ``metrics.jsonl`` line; infinity for a line cut short by a kill (so it is dropped)."""
    try:
        return json.loads(line)["epoch"]
    except (ValueError, KeyError, TypeError):
        return math.inf


def _tensorboard(path: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is part of [train]; training still works without it
        log.warning("tensorboard is not installed; no TensorBoard logs (pip install 'affectlens[train]')")
        return None
    return SummaryWriter(str(path))
