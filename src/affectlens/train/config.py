"""``TrainConfig``: one run's settings, read from YAML and saved beside the run's outputs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectlens.train.augment import AugmentConfig


@dataclass
class TrainConfig:
    """Everything a training run needs. YAML keys match the field names (nested ``augment:`` for augmentation).

    Units: ``lr`` per step, ``warmup_epochs`` and ``epochs`` in epochs, ``ema_decay`` per step.
    """

    out_dir: str = "runs/default"
    dataset: dict[str, Any] = field(default_factory=lambda: {"kind": "ferplus_npz"})
    model: str = "resnet_se"
    model_kwargs: dict[str, Any] = field(default_factory=lambda: {"width": 24, "depth": 2})
    input_size: int = 48
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    dropout: float = 0.3
    epochs: int = 40
    batch_size: int = 128
    optimizer: str = "adamw"  # adamw | adam | sgd | adagrad
    lr: float = 2e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    schedule: str = "cosine"  # cosine | plateau | constant
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    soft_labels: bool = True
    focal_gamma: float = 0.0
    class_weight_cap: float = 0.0  # 0 = no class weights
    valence_arousal: bool = True
    alpha: float = 1.0  # weight of the emotion loss
    beta: float = 0.5  # weight of the valence/arousal loss
    ccc_weight: float = 0.5
    extra_head_weight: float = 1.0  # weight of each extra head's cross-entropy (e.g. posture, fer2013)
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_p: float = 0.0
    ema_decay: float = 0.999
    early_stopping: int = 10  # epochs without a better validation score; 0 = off
    seed: int = 0
    threads: int = 2
    device: str = "auto"  # auto | cpu | cuda
    max_train_batches: int = 0  # > 0: cut each epoch short (smoke tests)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; known keys: {', '.join(sorted(known))}")
        raw = dict(raw)
        if "augment" in raw:
            raw["augment"] = AugmentConfig(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in raw["augment"].items()}
            )
        for key in ("mean", "std"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        import yaml

        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f) or {})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        import yaml

        with open(path, "w") as f:
            yaml.safe_dump(_plain(self.to_dict()), f, sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
