"""MobileNet V2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018),
sized for 48x48 faces.

Inverted residual blocks: 1x1 expansion (factor t) -> depthwise 3x3 -> linear 1x1 projection, with a residual when
the shape is kept. The ImageNet network downsamples 32x (224 -> 7), which would leave 1.5 pixels of a 48x48 face;
here the stem keeps full resolution (stride 1), so the network downsamples 16x and ends on a 3x3 map.
"""

from __future__ import annotations

import torch
from torch import nn

from affectlens.models.registry import register_model

# (expansion t, channels c, repeats n, stride s) of the paper's Table 2
SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor``, never below 90 % of ``value`` (the reference rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn_relu6(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Convolution + batch norm + ReLU6."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, H / stride, W / stride); residual when stride 1 and C_in == C_out."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = [conv_bn_relu6(c_in, hidden)] if expansion != 1 else []
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """(N, C_in, S, S) -> (N, last_channels) features; total stride 16 (48 -> 3) with the default stem stride 1."""

    def __init__(
        self,
        in_channels: int = 1,
        width: float = 1.0,
        settings: tuple[tuple[int, int, int, int], ...] = SETTINGS,
        stem_channels: int = 32,
        last_channels: int = 1280,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        c_in = make_divisible(stem_channels * width)
        layers: list[nn.Module] = [conv_bn_relu6(in_channels, c_in, 3, stem_stride)]
        for t, c, n, s in settings:
            c_out = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        # as in the paper, the last layer is not thinned for width < 1
        self.num_features = make_divisible(last_channels * max(1.0, width))
        layers.append(conv_bn_relu6(c_in, self.num_features))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


@register_model
def mobilenet_v2(in_channels: int = 1, width: float = 1.0, last_channels: int = 1280) -> MobileNetV2:
    """MobileNet V2 with width multiplier ``width`` (paper: 0.35-1.4); 1x is about 2.2 M parameters."""
    return MobileNetV2(in_channels, width, last_channels=last_channels)


@register_model
def test_mobilenet_v2(in_channels: int = 1) -> MobileNetV2:
    """A tiny MobileNet V2 for tests (four one-block stages, 64 features)."""
    settings = ((1, 8, 1, 1), (4, 16, 1, 2), (4, 24, 1, 2), (4, 32, 1, 2))
    return MobileNetV2(in_channels, 1.0, settings, stem_channels=8, last_channels=64)
