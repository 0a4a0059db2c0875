"""Backbones, each registered with ``@register_model`` (training only: these import torch)."""

from affectlens.models.architectures import (  # noqa: F401
    mini_xception,
    mobilenet_v2,
    resnet18,
    resnet_se,
    shufflenet_v2,
)
