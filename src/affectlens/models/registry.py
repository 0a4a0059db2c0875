"""Model registry: ``@register_model`` on small builder functions and one :func:`create_model` factory.

Training-only (imports torch lazily through the builders); the runtime never touches this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_BUILDERS: dict[str, Callable[..., Any]] = {}


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register a builder ``fn(in_channels, **kw) -> nn.Module`` under its function name."""
    if fn.__name__ in _BUILDERS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _BUILDERS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`."""
    _import_architectures()
    return sorted(_BUILDERS)


def model_builder(name: str) -> Callable[..., Any]:
    """The builder function registered as ``name`` (its signature lists the architecture's arguments)."""
    _import_architectures()
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name]


def create_backbone(name: str, in_channels: int = 1, **kw: Any) -> Any:
    """Build the registered feature extractor ``name`` (an ``nn.Module`` with ``num_features``)."""
    _import_architectures()
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](in_channels=in_channels, **kw)


def create_model(
    name: str,
    num_classes: int = 8,
    in_channels: int = 1,
    valence_arousal: bool = True,
    extra_heads: dict[str, int] | None = None,
    dropout: float = 0.3,
    **kw: Any,
) -> Any:
    """A multi-task network: backbone ``name`` + emotion logits (+ valence/arousal in [-1, 1]) (+ extra heads).

    Args:
        name: registered backbone (see :func:`list_models`).
        num_classes: emotion classes of the main head.
        in_channels: 1 for grayscale, 3 for colour input.
        valence_arousal: add the tanh valence/arousal head.
        extra_heads: further classification heads, name -> number of classes (e.g. ``{"posture": 2}``).
        dropout: dropout before the heads.
        **kw: passed to the backbone builder (``width``...).
    """
    from affectlens.models.multitask import MultiTaskNet

    backbone = create_backbone(name, in_channels=in_channels, **kw)
    return MultiTaskNet(backbone, num_classes, valence_arousal, extra_heads or {}, dropout)


def _import_architectures() -> None:
    # importing the package runs every @register_model
    import affectlens.models.architectures  # noqa: F401
