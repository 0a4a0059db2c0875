"""Training-only augmentation on uint8 face crops, applied BEFORE :func:`affectlens.preprocess.preprocess`.

Per image: horizontal flip, rotation (±15° default), scale/shift, brightness/contrast, optional CLAHE, random
erasing. Per batch (on tensors, in the trainer): mixup / cutmix, see :mod:`affectlens.train.mixing`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; a 0 / False turns it off."""

    flip: bool = True
    rotation_deg: float = 15.0
    scale: float = 0.1
    shift: float = 0.08
    brightness: float = 0.25
    contrast: float = 0.25
    clahe_p: float = 0.0
    erasing_p: float = 0.25
    erasing_area: tuple[float, float] = (0.02, 0.15)


def augment(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """One random augmentation of a uint8 (H, W) or (H, W, 3) crop; same shape and dtype out."""
    h, w = image.shape[:2]
    if cfg.flip and rng.random() < 0.5:
        image = image[:, ::-1]
    if cfg.rotation_deg or cfg.scale or cfg.shift:
        angle = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
        scale = rng.uniform(1 - cfg.scale, 1 + cfg.scale)
        matrix = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale), np.float64)
        matrix[:, 2] += rng.uniform(-cfg.shift, cfg.shift, size=2) * (w, h)
        image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    if cfg.clahe_p and rng.random() < cfg.clahe_p:
        image = _clahe(image)
    if cfg.brightness or cfg.contrast:
        alpha = 1 + rng.uniform(-cfg.contrast, cfg.contrast)
        beta = 255 * rng.uniform(-cfg.brightness, cfg.brightness) * 0.5
        mean = float(image.mean())
        image = np.clip((image.astype(np.float32) - mean) * alpha + mean + beta, 0, 255).astype(np.uint8)
    if cfg.erasing_p and rng.random() < cfg.erasing_p:
        image = _erase(image, cfg.erasing_area, rng)
    return np.ascontiguousarray(image)


def _clahe(image: np.ndarray) -> np.ndarray:
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))
    if image.ndim == 2:
        return clahe.apply(np.ascontiguousarray(image))
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def _erase(image: np.ndarray, area: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Random erasing (Zhong et al., 2020): one rectangle filled with noise."""
    h, w = image.shape[:2]
    target = rng.uniform(*area) * h * w
    aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
    eh = int(min(h, round(np.sqrt(target * aspect))))
    ew = int(min(w, round(np.sqrt(target / aspect))))
    if eh < 1 or ew < 1:
        return image
    y, x = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
    image = image.copy()
    image[y : y + eh, x : x + ew] = rng.integers(0, 256, size=image[y : y + eh, x : x + ew].shape, dtype=np.uint8)
    return image
