"""ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016), CIFAR-style for 48x48 faces.

Four stages of two basic blocks each (widths w, 2w, 4w, 8w; the first block of stages 2-4 strided). The ImageNet
7x7 stride-2 stem and max-pool (224 -> 56) are replaced by a 3x3 stride-1 stem, as the paper does for CIFAR-10, so a
48x48 input runs the stages at 48, 24, 12 and 6 pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from affectlens.models.registry import register_model


class BasicBlock(nn.Module):
    """Two 3x3 convolutions + residual: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """(N, C_in, S, S) -> (N, 8 * width) features; S >= 8 (total stride 8: 48 -> 6)."""

    def __init__(self, in_channels: int = 1, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2, 2)) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        c_in = width
        for stage, n in enumerate(blocks):
            c_out = width * 2**stage
            layers.append(BasicBlock(c_in, c_out, stride=1 if stage == 0 else 2))
            layers.extend(BasicBlock(c_out, c_out) for _ in range(n - 1))
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
def resnet18(in_channels: int = 1, width: int = 64) -> ResNet:
    """ResNet-18, CIFAR stem; ``width`` 64 is the paper's (about 11.2 M parameters, 1.3 G multiply-adds at 48x48)."""
    return ResNet(in_channels, width, (2, 2, 2, 2))


@register_model
def test_resnet18(in_channels: int = 1) -> ResNet:
    """A tiny ResNet for tests (width 8, one block per stage)."""
    return ResNet(in_channels, width=8, blocks=(1, 1, 1, 1))
