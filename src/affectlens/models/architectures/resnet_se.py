"""ResNet with squeeze-and-excitation, sized for 48x48 faces (Hu et al., "Squeeze-and-Excitation Networks", 2018).

Layout for a 48x48 input: a 3x3 stem at full resolution, then three stages at 24, 12 and 6 pixels with widths
2w, 4w, 8w, each of ``depth`` basic blocks (the first one strided), global average pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from affectlens.models.registry import register_model


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution + batch norm + ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SqueezeExcite(nn.Module):
    """Channel attention: (N, C, H, W) -> same shape, each channel scaled by a gate in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SEBasicBlock(nn.Module):
    """Two 3x3 convolutions with an SE gate and a residual connection (1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, se: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(c_in, c_out, stride),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
            SqueezeExcite(c_out) if se else nn.Identity(),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNetSE(nn.Module):
    """(N, C_in, S, S) -> (N, 8w) features; S >= 8."""

    def __init__(self, in_channels: int = 1, width: int = 16, depth: int = 2, se: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(in_channels, width)]
        c_in = width
        for c_out in (2 * width, 4 * width, 8 * width):
            layers.append(SEBasicBlock(c_in, c_out, stride=2, se=se))
            layers.extend(SEBasicBlock(c_out, c_out, se=se) for _ in range(depth - 1))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = c_in
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


@register_model
def resnet_se(in_channels: int = 1, width: int = 16, depth: int = 2, se: bool = True) -> ResNetSE:
    """ResNet-SE; ``width`` 16 / ``depth`` 2 is about 0.7 M parameters and 56 M multiply-adds at 48x48."""
    return ResNetSE(in_channels, width, depth, se)


@register_model
def test_resnet_se(in_channels: int = 1) -> ResNetSE:
    """A tiny ResNet-SE for tests (width 4, depth 1)."""
    return ResNetSE(in_channels, width=4, depth=1)
