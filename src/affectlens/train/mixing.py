"""Batch-level mixup (Zhang et al., 2018) and cutmix (Yun et al., 2019) on tensors, targets mixed to match."""

from __future__ import annotations

import numpy as np
import torch


def mix_batch(
    x: torch.Tensor,
    targets: list[torch.Tensor],
    rng: np.random.Generator,
    mixup_alpha: float,
    cutmix_alpha: float,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Mix each sample with a shuffled partner.

    Args:
        x: (N, C, H, W) inputs.
        targets: tensors with N rows (label distributions, valence/arousal) mixed with the same weight.
        rng: randomness source.
        mixup_alpha, cutmix_alpha: Beta(alpha, alpha) parameters; a 0 disables that kind (if both > 0, one is
            picked at random per batch).

    Returns:
        Mixed inputs and mixed targets (same shapes).
    """
    kinds = [k for k, a in (("mixup", mixup_alpha), ("cutmix", cutmix_alpha)) if a > 0]
    if not kinds or x.shape[0] < 2:
        return x, targets
    kind = kinds[int(rng.integers(len(kinds)))]
    alpha = mixup_alpha if kind == "mixup" else cutmix_alpha
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
    if kind == "mixup":
        x = lam * x + (1 - lam) * x[perm]
    else:
        h, w = x.shape[2:]
        ch, cw = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        y1, y2 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x1, x2 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[:, :, y1:y2, x1:x2] = x[perm][:, :, y1:y2, x1:x2]
        lam = 1 - (y2 - y1) * (x2 - x1) / (h * w)
    return x, [lam * t + (1 - lam) * t[perm] for t in targets]
