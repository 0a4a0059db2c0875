"""Losses: classification (hard, soft, label smoothing, focal, class weights) and valence/arousal (MSE + CCC)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def capped_class_weights(counts: np.ndarray, cap: float = 10.0) -> torch.Tensor:
    """Inverse-frequency class weights, normalised to mean 1 over present classes, each capped at ``cap``."""
    counts = np.asarray(counts, np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    weights = np.minimum(weights, cap)
    weights = weights / weights[counts > 0].mean()
    return torch.tensor(weights, dtype=torch.float32)


def soft_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
    focal_gamma: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy against target distributions.

    Args:
        logits: (N, C).
        target: (N, C) distributions (one-hot for hard labels, FER+ vote shares for soft labels).
        label_smoothing: mix ``eps`` of the uniform distribution into the target.
        class_weights: (C,) weights applied per target class.
        focal_gamma: > 0 scales each sample by (1 - p_target)^gamma (focal loss, Lin et al. 2017).

    Returns:
        The mean loss, a scalar.
    """
    num_classes = logits.shape[1]
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / num_classes
    log_p = F.log_softmax(logits, dim=1)
    per_class = -target * log_p
    if class_weights is not None:
        per_class = per_class * class_weights.to(logits.device)
    loss = per_class.sum(dim=1)
    if focal_gamma:
        p_target = (log_p.exp() * target).sum(dim=1).clamp(0, 1)
        loss = loss * (1 - p_target).pow(focal_gamma)
    return loss.mean()


def ccc(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation coefficient per column: (N, D), (N, D) -> (D,)."""
    pm, tm = prediction.mean(0), target.mean(0)
    pv, tv = prediction.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((prediction - pm) * (target - tm)).mean(0)
    return 2 * cov / (pv + tv + (pm - tm) ** 2 + 1e-8)


def valence_arousal_loss(prediction: torch.Tensor, target: torch.Tensor, ccc_weight: float = 0.5) -> torch.Tensor:
    """MSE + ``ccc_weight`` * (1 - mean CCC) over rows whose target is finite; 0 when none is."""
    valid = torch.isfinite(target).all(dim=1)
    if valid.sum() < 2:
        return prediction.sum() * 0.0
    p, t = prediction[valid], target[valid]
    return F.mse_loss(p, t) + ccc_weight * (1 - ccc(p, t).mean())
