"""Multi-task heads over any registered backbone (training only: imports torch)."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn


class MultiTaskNet(nn.Module):
    """Backbone features -> emotion logits (N, C), valence/arousal (N, 2) in [-1, 1], extra heads' logits.

    ``forward`` returns a dict: ``logits`` always, ``valence_arousal`` when enabled, and one entry per extra head.
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        valence_arousal: bool,
        extra_heads: dict[str, int],
        dropout: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        features = int(cast(Any, backbone).num_features)  # every registered backbone sets num_features
        self.dropout = nn.Dropout(dropout)
        self.emotion_head = nn.Linear(features, num_classes)
        self.va_head = nn.Linear(features, 2) if valence_arousal else None
        self.extra_heads = nn.ModuleDict({name: nn.Linear(features, n) for name, n in extra_heads.items()})

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, S, S) -> pooled features (N, F)."""
        return self.backbone(x)

    def forward_head(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.dropout(features)
        out = {"logits": self.emotion_head(features)}
        if self.va_head is not None:
            out["valence_arousal"] = torch.tanh(self.va_head(features))
        for name, head in self.extra_heads.items():
            out[name] = head(features)
        return out

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the emotion head (fine-tuning on a user's own classes)."""
        self.emotion_head = nn.Linear(self.emotion_head.in_features, num_classes)


class InferenceWrapper(nn.Module):
    """What gets exported: softmaxed probabilities instead of logits, outputs as a fixed tuple.

    Outputs ``probs`` (N, C), ``valence_arousal`` (N, 2), then each extra head's probabilities in name order.
    """

    def __init__(self, net: nn.Module) -> None:
        """``net``: a :class:`MultiTaskNet` (or any module whose forward returns the same dict)."""
        super().__init__()
        self.net = net
        self.extra_names = sorted(cast(Any, net).extra_heads.keys())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(x)
        probs = torch.softmax(out["logits"], dim=1)
        va = out.get("valence_arousal")
        if va is None:
            va = torch.zeros(x.shape[0], 2, dtype=x.dtype, device=x.device)
        return (probs, va, *[torch.softmax(out[name], dim=1) for name in self.extra_names])
