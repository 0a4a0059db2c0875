"""The model's cfg: everything needed to feed and read a model, stored inside the exported ONNX file.

Training writes it into the ONNX metadata (key ``affectlens_cfg``); the runtime reads it from there, so input size,
colour, normalisation, alignment template, label names and valence/arousal range are never hard-coded beside a model.
Fields added later default to the safe reading for older models: no trained valence/arousal head, and no
``uncertain`` threshold of their own (the smoother's default applies).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from affectlens.emotions import EMOTIONS

CFG_METADATA_KEY = "affectlens_cfg"
MAIN_HEAD = "emotion"
"""Name of the main classification head (``labels``) wherever heads are named: ``--head``, ``uncertain_below``."""

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
        valence_arousal: the valence/arousal head was trained on real targets (set by training when the dataset has
            valence/arousal values). False (the default, also for models exported before this field existed): the
            runtime reports no valence/arousal (NaN), since an untrained head outputs noise.
        extra_heads: names and label lists of further classification heads (e.g. posture).
        uncertain_below: per head (``"emotion"`` for ``labels``, else an ``extra_heads`` name), the top probability
            below which the label shown is ``uncertain``, chosen on validation data (``scripts/calibrate_uncertain.py``:
            the probability below which the top label is wrong more often than right, on raw per-image outputs). A
            head without an entry uses the smoother's default.
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
    valence_arousal: bool = False
    extra_heads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    uncertain_below: dict[str, float] = field(default_factory=dict)
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
        for head, threshold in self.uncertain_below.items():
            if head != MAIN_HEAD and head not in self.extra_heads:
                raise ValueError(f"ModelConfig.uncertain_below names {head!r}, which is not a head of the model")
            if not 0.0 <= float(threshold) <= 1.0:
                raise ValueError(f"ModelConfig.uncertain_below[{head!r}] must be in [0, 1], got {threshold}")

    def head_labels(self, head: str | None = None) -> tuple[str, ...]:
        """Class names of ``head`` (None or ``"emotion"``: the main head ``labels``).

        Raises:
            ValueError: the model has no such head; the message lists the heads it has.
        """
        if head in (None, MAIN_HEAD):
            return self.labels
        if head not in self.extra_heads:
            raise ValueError(
                f"the model has no head {head!r}; its heads: {', '.join([MAIN_HEAD, *sorted(self.extra_heads)])}"
            )
        return self.extra_heads[head]

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
        if "uncertain_below" in raw:
            raw["uncertain_below"] = {k: float(v) for k, v in raw["uncertain_below"].items()}
        if "valence_arousal" in raw:
            raw["valence_arousal"] = bool(raw["valence_arousal"])
        return cls(**raw)
