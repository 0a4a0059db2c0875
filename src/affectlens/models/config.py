"""The model's cfg: everything needed to feed and read a model, stored inside the exported ONNX file.

Training writes it into the ONNX metadata (key ``affectlens_cfg``); the runtime reads it from there, so input size,
colour, normalisation, alignment template, label names and valence/arousal range are never hard-coded beside a model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from affectlens.emotions import EMOTIONS

CFG_METADATA_KEY = "affectlens_cfg"

# Eye centres of a FER-2013 48x48 crop, as fractions of the crop's width and height: the image-left eye (the
# subject's right eye) first: medians of MediaPipe BlazeFace on 2,955 upscaled FER-2013 training images, made
# left-right symmetric (`python scripts/measure_fer_eye_template.py --n 3000`).
FER_EYES: tuple[tuple[float, float], tuple[float, float]] = ((0.3163, 0.3988), (0.6837, 0.3988))


@dataclass(frozen=True)
class ModelConfig:
    """How to prepare a face crop for a model and how to read its outputs.

    Attributes:
        architecture: registry name of the network (``resnet_se``, ``mini_xception``...).
        labels: class names of the emotion head, in output order.
        input_size: side of the square input in pixels.
        channels: 1 (grayscale) or 3 (BGR as OpenCV decodes it, converted to RGB by :func:`preprocess`).
        mean, std: per-channel normalisation applied to pixel values scaled to [0, 1].
        eyes: alignment template, eye centres ((x, y) image-left eye, (x, y) image-right eye) as fractions of the
            input size.
        valence_arousal_range: (low, high) of the valence/arousal outputs.
        extra_heads: names and label lists of further classification heads (e.g. posture).
        info: free-form provenance (training data, licence, metrics file), shown by ``affectlens info``.
    """

    architecture: str = "resnet_se"
    labels: tuple[str, ...] = EMOTIONS
    input_size: int = 48
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    eyes: tuple[tuple[float, float], tuple[float, float]] = FER_EYES
    valence_arousal_range: tuple[float, float] = (-1.0, 1.0)
    extra_heads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"ModelConfig.channels must be 1 or 3, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"ModelConfig.mean/std need {self.channels} values, got {self.mean} / {self.std}")
        if self.input_size < 8:
            raise ValueError(f"ModelConfig.input_size must be >= 8 pixels, got {self.input_size}")
        if not self.labels:
            raise ValueError("ModelConfig.labels must name at least one class")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        raw = json.loads(text)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"model cfg has unknown fields {unknown}; is the model newer than this affectlens?")
        raw["labels"] = tuple(raw.get("labels", EMOTIONS))
        for key in ("mean", "std", "valence_arousal_range"):
            if key in raw:
                raw[key] = tuple(raw[key])
        if "eyes" in raw:
            raw["eyes"] = tuple(tuple(p) for p in raw["eyes"])
        if "extra_heads" in raw:
            raw["extra_heads"] = {k: tuple(v) for k, v in raw["extra_heads"].items()}
        return cls(**raw)
