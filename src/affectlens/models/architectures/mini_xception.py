"""mini-Xception (Arriaga et al., "Real-time Convolutional Neural Networks for Emotion and Gender
Classification", 2017): depthwise-separable residual modules, the network behind the ``fer`` package."""

from __future__ import annotations

import torch
from torch import nn

from affectlens.models.registry import register_model


class SeparableConv(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 convolution, then batch norm."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, 1, 1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pointwise(self.depthwise(x)))


class XceptionModule(nn.Module):
    """Two separable convolutions and a strided max-pool, with a strided 1x1 residual: halves H and W."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 1, 2, bias=False), nn.BatchNorm2d(c_out))
        self.body = nn.Sequential(
            SeparableConv(c_in, c_out),
            nn.ReLU(inplace=True),
            SeparableConv(c_out, c_out),
            nn.MaxPool2d(3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.residual(x)


class MiniXception(nn.Module):
    """(N, C_in, S, S) -> (N, 16w) features."""

    def __init__(self, in_channels: int = 1, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        widths = [width * 2, width * 4, width * 8, width * 16]
        modules, c_in = [], width
        for c_out in widths:
            modules.append(XceptionModule(c_in, c_out))
            c_in = c_out
        self.modules_ = nn.Sequential(*modules)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.modules_(self.stem(x))), 1)


@register_model
def mini_xception(in_channels: int = 1, width: int = 8) -> MiniXception:
    """mini-Xception; ``width`` 8 gives the original 16-32-64-128 module widths (about 50 k parameters)."""
    return MiniXception(in_channels, width)
