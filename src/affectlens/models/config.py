"""Compatibility name of :mod:`affectlens.modelcfg` (the model cfg moved below the models package, so that
:mod:`affectlens.align` and :mod:`affectlens.preprocess` can read it without importing ``affectlens.models``)."""

from affectlens.modelcfg import (
    CFG_METADATA_KEY,
    CLIP_LAYOUT,
    FER_EYES,
    IMAGE_LAYOUT,
    MAIN_HEAD,
    VALENCE_AROUSAL_OUTPUT,
    Eyes,
    ModelConfig,
    ModelKind,
)

__all__ = [
    "CFG_METADATA_KEY",
    "CLIP_LAYOUT",
    "FER_EYES",
    "IMAGE_LAYOUT",
    "MAIN_HEAD",
    "VALENCE_AROUSAL_OUTPUT",
    "Eyes",
    "ModelConfig",
    "ModelKind",
]
