"""The ONE preprocessing function behind training, evaluation and the runtime.

Given a face crop (already aligned by :mod:`affectlens.align`, or a dataset's ready-made crop), produce the model
input that the model's :class:`~affectlens.modelcfg.ModelConfig` describes. Training augmentation works on the
uint8 crop *before* this function, never instead of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from affectlens.modelcfg import ModelConfig


def to_model_pixels(crop: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """Resize and convert a crop to the model's size and colour, still uint8.

    Args:
        crop: (H, W) grayscale or (H, W, 3) BGR uint8 face crop, any size.
        cfg: the model's cfg.

    Returns:
        (S, S) uint8 when ``cfg.channels == 1``, else (S, S, 3) uint8 RGB, with S = ``cfg.input_size``.
    """
    if crop.ndim not in (2, 3) or (crop.ndim == 3 and crop.shape[2] not in (1, 3)) or crop.size == 0:
        raise ValueError(f"face crop must be (H, W) or (H, W, 3), got shape {crop.shape}")
    if crop.dtype != np.uint8:
        raise ValueError(f"face crop must be uint8, got {crop.dtype}")
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[:, :, 0]
    size = cfg.input_size
    if crop.shape[0] != size or crop.shape[1] != size:
        shrinking = crop.shape[0] > size or crop.shape[1] > size
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if cfg.channels == 1:
        return crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB) if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)


def normalize(pixels: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """uint8 (..., S, S) or (..., S, S, C) model pixels -> float32 (..., C, S, S): scaled to [0, 1], standardised."""
    x = pixels.astype(np.float32) * (1.0 / 255.0)
    x = x[..., None, :, :] if cfg.channels == 1 else np.moveaxis(x, -1, -3)
    mean = np.asarray(cfg.mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(cfg.std, np.float32).reshape(-1, 1, 1)
    return (x - mean) / std


def preprocess(crop: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """One face crop -> float32 (C, S, S) model input. See :func:`to_model_pixels` for accepted crops."""
    return normalize(to_model_pixels(crop, cfg), cfg)


def preprocess_batch(crops: Sequence[np.ndarray], cfg: ModelConfig) -> np.ndarray:
    """Several crops -> float32 (N, C, S, S); N = 0 gives an empty batch of the right shape."""
    if len(crops) == 0:
        return np.zeros((0, cfg.channels, cfg.input_size, cfg.input_size), np.float32)
    return normalize(np.stack([to_model_pixels(c, cfg) for c in crops]), cfg)
