"""ShuffleNet V2 (Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", ECCV 2018),
sized for 48x48 faces.

Units split the channels in two, transform one half (1x1 -> depthwise 3x3 -> 1x1) and shuffle the concatenation; a
downsampling unit transforms both halves with stride 2 and doubles the channels. The ImageNet network reaches its
first stage after a stride-4 stem (224 -> 56); here the 3x3 stem keeps full resolution and drops the max-pool, so
the three stages run at 24, 12 and 6 pixels for a 48x48 input (about the 28/14/7 of the original).
"""

from __future__ import annotations

import torch
from torch import nn

from affectlens.models.registry import register_model

# stage output channels for the paper's width multipliers (Table 5); conv5 has 1024 channels (2048 at 2x)
STAGE_CHANNELS = {0.5: (48, 96, 192), 1.0: (116, 232, 464), 1.5: (176, 352, 704), 2.0: (244, 488, 976)}


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W) with the channels of ``groups`` groups interleaved."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def conv_bn(
    c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    """Convolution + batch norm (+ ReLU)."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ShuffleUnit(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, H / stride, W / stride); stride 1 needs C_in == C_out (both even)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        if stride == 1 and c_in != c_out:
            raise ValueError(f"a stride-1 shuffle unit keeps its channels, got {c_in} -> {c_out}")
        self.stride = stride
        half = c_out // 2
        branch_in = c_in if stride > 1 else c_in // 2
        self.branch = nn.Sequential(
            conv_bn(branch_in, half),
            conv_bn(half, half, 3, stride, groups=half, relu=False),
            conv_bn(half, half),
        )
        self.shortcut: nn.Module | None = None
        if stride > 1:
            self.shortcut = nn.Sequential(
                conv_bn(c_in, c_in, 3, stride, groups=c_in, relu=False),
                conv_bn(c_in, half),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            kept, transformed = x.chunk(2, dim=1)
            out = torch.cat((kept, self.branch(transformed)), dim=1)
        else:
            out = torch.cat((self.shortcut(x), self.branch(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """(N, C_in, S, S) -> (N, last_channels) features; S >= 16 (three stride-2 stages: 48 -> 6)."""

    def __init__(
        self,
        in_channels: int = 1,
        stage_channels: tuple[int, ...] = (116, 232, 464),
        repeats: tuple[int, ...] = (4, 8, 4),
        stem_channels: int = 24,
        last_channels: int = 1024,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(in_channels, stem_channels, 3, stem_stride)]
        c_in = stem_channels
        for c_out, n in zip(stage_channels, repeats, strict=True):
            layers.append(ShuffleUnit(c_in, c_out, stride=2))
            layers.extend(ShuffleUnit(c_out, c_out) for _ in range(n - 1))
            c_in = c_out
        layers.append(conv_bn(c_in, last_channels))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = last_channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


def stage_channels_for(width: float) -> tuple[int, int, int]:
    """The paper's stage widths for 0.5/1/1.5/2x; other multipliers scale the 1x widths (kept even)."""
    if width in STAGE_CHANNELS:
        return STAGE_CHANNELS[width]
    a, b, c = (max(4, round(ch * width / 2) * 2) for ch in STAGE_CHANNELS[1.0])
    return a, b, c


@register_model
def shufflenet_v2(in_channels: int = 1, width: float = 1.0, stem_stride: int = 1) -> ShuffleNetV2:
    """ShuffleNet V2 with width multiplier ``width`` (paper: 0.5, 1, 1.5, 2); 1x is about 1.26 M parameters.

    ``stem_stride`` 2 runs the stages at 12/6/3 pixels for a 48x48 input: about 4x fewer multiply-adds.
    """
    last = 2048 if width >= 2.0 else 1024
    return ShuffleNetV2(in_channels, stage_channels_for(width), stem_stride=stem_stride, last_channels=last)


@register_model
def test_shufflenet_v2(in_channels: int = 1) -> ShuffleNetV2:
    """A tiny ShuffleNet V2 for tests (16/32/64 channels, one unit per stage)."""
    return ShuffleNetV2(in_channels, (16, 32, 64), (1, 1, 1), stem_channels=8, last_channels=64)
