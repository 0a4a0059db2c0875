"""``TrainConfig``: one run's settings, read from YAML, checked key by key, and saved beside the run's outputs.

Every key, its meaning and its default are documented in ``docs/TRAINING.md`` (a test keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectlens.train.augment import AugmentConfig

OPTIMIZERS = ("adamw", "adam", "sgd", "adagrad")
SCHEDULES = ("cosine", "plateau", "constant")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
# The project's recipe for its default architecture; any other architecture starts from its builder's defaults.
RECOMMENDED_MODEL_KWARGS: dict[str, dict[str, Any]] = {"resnet_se": {"width": 24, "depth": 2}}


class ConfigError(ValueError):
    """A training config value that cannot be used; the message names the file (when known) and the key."""


@dataclass
class TrainConfig:
    """Everything a training run needs. YAML keys match the field names (nested ``augment:`` for augmentation).

    Units: ``lr`` per step, ``warmup_epochs`` and ``epochs`` in epochs, ``ema_decay`` per step. Values are checked
    on construction (:class:`ConfigError` names the key); ``model_kwargs`` is completed with the architecture's
    defaults (see :func:`resolve_model_kwargs`).
    """

    out_dir: str = "runs/default"
    dataset: dict[str, Any] = field(default_factory=dict)
    model: str = "resnet_se"
    model_kwargs: dict[str, Any] | None = None
    input_size: int = 48
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    dropout: float = 0.3
    epochs: int = 40
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    soft_labels: bool = True
    focal_gamma: float = 0.0
    class_weight_cap: float = 0.0
    valence_arousal: bool = True
    alpha: float = 1.0
    beta: float = 0.5
    ccc_weight: float = 0.5
    extra_head_weight: float = 1.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_p: float = 0.0
    ema_decay: float = 0.999
    early_stopping: int = 10
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    memory_format: str = "auto"
    max_train_batches: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        check_values(self)
        self.model_kwargs = resolve_model_kwargs(self.model, self.model_kwargs)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str | Path | None = None) -> TrainConfig:
        """A config from parsed YAML; ``source`` (the file) prefixes every error message."""
        where = f"{source}: " if source is not None else ""
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}expected a mapping of keys to values (e.g. `epochs: 10`), got {_show(raw)}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(raw) - set(known), key=str)
        if unknown:
            raise ConfigError(f"{where}unknown key(s) {', '.join(map(str, unknown))}; known keys: {', '.join(known)}")
        raw = dict(raw)
        try:
            if "augment" in raw:
                raw["augment"] = augment_config(raw["augment"])
            for key in ("mean", "std"):
                if isinstance(raw.get(key), list):
                    raw[key] = tuple(raw[key])
            return cls(**raw)
        except ConfigError as error:
            raise ConfigError(f"{where}{error}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a YAML config; bad YAML, a bad value or a missing ``dataset`` gives a :class:`ConfigError` that names
        the file (and the line, for bad YAML)."""
        import yaml

        path = Path(path)
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text file (expected a YAML training config)") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: {yaml_problem(error)}") from None
        cfg = cls.from_dict(raw if raw is not None else {}, source=path)
        if not cfg.dataset:
            raise ConfigError(
                f"{path}: no dataset; add e.g. `dataset: {{kind: image_folder, root: path/to/faces}}` "
                "(kinds: see docs/TRAINING.md)"
            )
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        import yaml

        with open(path, "w") as f:
            yaml.safe_dump(_plain(self.to_dict()), f, sort_keys=False)


# (lowest, highest, whether the lowest is allowed, whether the highest is allowed)
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "input_size": (8, math.inf, True, False),
    "dropout": (0, 1, True, False),
    "epochs": (1, math.inf, True, False),
    "batch_size": (1, math.inf, True, False),
    "lr": (0, math.inf, False, False),
    "weight_decay": (0, math.inf, True, False),
    "momentum": (0, 1, True, False),
    "warmup_epochs": (0, math.inf, True, False),
    "label_smoothing": (0, 1, True, False),
    "focal_gamma": (0, math.inf, True, False),
    "class_weight_cap": (0, math.inf, True, False),
    "alpha": (0, math.inf, True, False),
    "beta": (0, math.inf, True, False),
    "ccc_weight": (0, 1, True, True),
    "extra_head_weight": (0, math.inf, True, False),
    "mixup_alpha": (0, math.inf, True, False),
    "cutmix_alpha": (0, math.inf, True, False),
    "mix_p": (0, 1, True, True),
    "ema_decay": (0, 1, True, False),
    "early_stopping": (0, math.inf, True, False),
    "threads": (0, math.inf, True, False),
    "max_train_batches": (0, math.inf, True, False),
    "rotation_deg": (0, 180, True, True),
    "scale": (0, 1, True, False),
    "shift": (0, 1, True, False),
    "brightness": (0, 1, True, True),
    "contrast": (0, 1, True, True),
    "clahe_p": (0, 1, True, True),
    "erasing_p": (0, 1, True, True),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "memory_format": MEMORY_FORMATS,
}


def check_values(cfg: TrainConfig | AugmentConfig) -> None:
    """Check (and normalise: ints to floats, numeric strings such as ``2e-3`` to numbers) every field of ``cfg``
    against its annotated type, range and choices; :class:`ConfigError` names the first bad key."""
    hints = typing.get_type_hints(type(cfg))
    prefix = "augment." if isinstance(cfg, AugmentConfig) else ""
    for f in dataclasses.fields(cfg):
        value = _typed(prefix + f.name, getattr(cfg, f.name), hints[f.name])
        _check_range(prefix + f.name, f.name, value)
        object.__setattr__(cfg, f.name, value)  # AugmentConfig is frozen
    if isinstance(cfg, TrainConfig):
        if cfg.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (grayscale) or 3 (colour), got {_show(cfg.channels)}")
        for key in ("mean", "std"):
            if len(getattr(cfg, key)) != cfg.channels:
                raise ConfigError(f"{key} needs one value per channel ({cfg.channels}), got {list(getattr(cfg, key))}")
        if any(s <= 0 for s in cfg.std):
            raise ConfigError(f"std values must be > 0, got {list(cfg.std)}")
        if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {_show(cfg.device)}")
        if cfg.dataset:
            check_dataset(cfg.dataset)
    else:
        low, high = cfg.erasing_area
        if not 0 < low <= high <= 1:
            raise ConfigError(f"augment.erasing_area must be [min, max] with 0 < min <= max <= 1, got {[low, high]}")


def _typed(key: str, value: Any, hint: Any) -> Any:
    """``value`` as the annotated type ``hint``, or a :class:`ConfigError` that names ``key``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{key} must be a whole number, got {_show(value)}")
        return value
    if hint is float:
        return _number(key, value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be text, got {_show(value)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{key} must be a list of numbers, e.g. [0.5], got {_show(value)}")
        numbers = tuple(_number(key, v) for v in value)
        if args and args[-1] is not Ellipsis and len(numbers) != len(args):
            raise ConfigError(f"{key} must be a list of {len(args)} numbers, got {_show(value)}")
        return numbers
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping (e.g. {{name: value}}), got {_show(value)}")
        return value
    if hint is AugmentConfig:
        if isinstance(value, dict):
            return augment_config(value)
        if not isinstance(value, AugmentConfig):
            raise ConfigError(f"{key} must be a mapping of augmentation settings, got {_show(value)}")
        return value
    return value


def _number(key: str, value: Any) -> float:
    """A number from YAML: ints, floats, and strings such as ``2e-3`` (YAML 1.1 reads those as text)."""
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, got {_show(value)}")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {_show(value)}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {_show(value)}")
    return float(value)


def _check_range(key: str, name: str, value: Any) -> None:
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[name])}, got {_show(value)}")
    if name not in _RANGES or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    low, high, low_ok, high_ok = _RANGES[name]
    if value < low or (value == low and not low_ok) or value > high or (value == high and not high_ok):
        left, right = "[" if low_ok else "(", "]" if high_ok else ")"
        upper = "inf" if math.isinf(high) else f"{high:g}"
        raise ConfigError(f"{key} must be in {left}{low:g}, {upper}{right}, got {_show(value)}")


def augment_config(raw: Any) -> AugmentConfig:
    """The ``augment:`` mapping of a config -> :class:`AugmentConfig` (checked; unknown keys named)."""
    if isinstance(raw, AugmentConfig):
        return raw
    if raw is None:
        return AugmentConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"augment must be a mapping of augmentation settings, got {_show(raw)}")
    known = [f.name for f in dataclasses.fields(AugmentConfig)]
    unknown = sorted(set(raw) - set(known), key=str)
    if unknown:
        raise ConfigError(f"unknown augment key(s) {', '.join(map(str, unknown))}; known: {', '.join(known)}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    cfg = AugmentConfig(**values)
    check_values(cfg)
    return cfg


def check_dataset(dataset: dict[str, Any]) -> None:
    """``dataset:`` needs ``kind`` (a loader of :data:`~affectlens.train.datasets.LOADERS`) and that loader's required
    arguments, and nothing it does not take."""
    from affectlens.train.datasets import LOADERS

    kind = dataset.get("kind")
    if kind not in LOADERS:
        raise ConfigError(f"dataset.kind must be one of {', '.join(LOADERS)}, got {_show(kind)}")
    params = inspect.signature(LOADERS[kind]).parameters
    given = {k for k in dataset if k != "kind"}
    unknown = sorted(given - set(params), key=str)
    if unknown:
        raise ConfigError(f"dataset kind {kind} takes no {', '.join(map(str, unknown))}; it takes {', '.join(params)}")
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in given]
    if missing:
        raise ConfigError(f"dataset kind {kind} needs {', '.join(missing)} (e.g. `{missing[0]}: path/to/data`)")


def resolve_model_kwargs(model: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """Every argument of architecture ``model``'s builder: ``given`` over the project's recommendation for that
    architecture (:data:`RECOMMENDED_MODEL_KWARGS`) over the builder's defaults.

    Raises :class:`ConfigError` for an unknown architecture or an argument the builder does not take.
    """
    from affectlens.models.registry import list_models, model_builder

    if model not in list_models():
        raise ConfigError(f"model must be one of {', '.join(list_models())}, got {_show(model)}")
    params = {
        name: p.default
        for name, p in inspect.signature(model_builder(model)).parameters.items()
        if name != "in_channels" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    chosen = dict(given or {})
    unknown = sorted(set(chosen) - set(params), key=str)
    if unknown:
        takes = ", ".join(params) if params else "no arguments (use model_kwargs: {})"
        keys = ", ".join(map(str, unknown))
        raise ConfigError(f"model_kwargs key(s) {keys} do not apply to {model}; it takes {takes}")
    return {**params, **RECOMMENDED_MODEL_KWARGS.get(model, {}), **chosen}


def yaml_problem(error: Exception) -> str:
    """A PyYAML error as one line: ``line L, column C: <problem>``."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"invalid YAML at {where}{problem}" + (f" ({context})" if context else "")


def _show(value: Any) -> str:
    """A value as the user wrote it, short."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
