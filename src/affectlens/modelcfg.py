"""The model's cfg: everything needed to feed and read a model, stored inside the exported ONNX file.

Training writes it into the ONNX metadata (key ``affectlens_cfg``); the runtime reads it from there, so the kind of
input (one face crop, a clip of face crops, the whole frame...), input size, colour, normalisation, alignment
template, label names, heads and valence/arousal range are never hard-coded beside a model.

This module sits at the core layer (it imports only :mod:`affectlens.emotions`): :mod:`affectlens.align`,
:mod:`affectlens.preprocess` and :mod:`affectlens.models` all read it, and none of them has to import another for it
(``affectlens.models.config`` re-exports it for older code).

Fields added later default to the safe reading for older models: a single aligned face crop (``kind`` face_crop,
``window`` 1), the FER-2013 eye template (every model exported before ``eyes`` could differ was trained on FER-2013
crops), no trained valence/arousal head, and no ``uncertain`` threshold of their own (the smoother's default applies).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from affectlens.emotions import EMOTIONS

CFG_METADATA_KEY = "affectlens_cfg"
MAIN_HEAD = "emotion"
"""Name of the main classification head (``labels``) wherever heads are named: ``--head``, ``uncertain_below``."""
VALENCE_AROUSAL_OUTPUT = "valence_arousal"
"""ONNX output name of the (N, 2) valence/arousal head."""

# Eye centres of a FER-2013 48x48 crop, as fractions of the crop's width and height: the image-left eye (the
# subject's right eye) first: medians of MediaPipe BlazeFace on 2,955 upscaled FER-2013 training images, made
# left-right symmetric (`python scripts/measure_fer_eye_template.py --n 3000`).
FER_EYES: tuple[tuple[float, float], tuple[float, float]] = ((0.3163, 0.3988), (0.6837, 0.3988))

Eyes = tuple[tuple[float, float], tuple[float, float]]


class ModelKind(StrEnum):
    """What one input sample of a model is.

    ``face_crop``: one face, aligned to ``eyes`` (or cut from the detector box), (N, C, S, S).
    ``face_clip``: ``window`` crops of one tracked face, ``sample_ms`` apart, (N, T, C, S, S).
    ``frame``: the whole frame resized to S x S, (N, C, S, S).
    ``frame_clip``: ``window`` whole frames, ``sample_ms`` apart, (N, T, C, S, S).
    """

    FACE_CROP = "face_crop"
    FACE_CLIP = "face_clip"
    FRAME = "frame"
    FRAME_CLIP = "frame_clip"

    @property
    def is_clip(self) -> bool:
        """Samples are windows of several frames (``window`` > 1, ``sample_ms`` > 0)."""
        return self in (ModelKind.FACE_CLIP, ModelKind.FRAME_CLIP)

    @property
    def is_face(self) -> bool:
        """Samples are crops of one face (aligned per the cfg's ``eyes``), not whole frames."""
        return self in (ModelKind.FACE_CROP, ModelKind.FACE_CLIP)


IMAGE_LAYOUT = "NCHW"
"""Input layout of single-image kinds: batch, channels, height, width."""
CLIP_LAYOUT = "NTCHW"
"""Input layout of clip kinds: batch, time (``window`` frames, oldest first), channels, height, width."""


@dataclass(frozen=True)
class ModelConfig:
    """How to prepare the input of a model and how to read its outputs.

    Attributes:
        architecture: registry name of the network (``resnet_se``, ``mini_xception``...).
        labels: class names of the main (``emotion``) head, in output order; ONNX output ``probs``.
        input_size: side of the square input in pixels.
        channels: 1 (grayscale) or 3 (BGR as OpenCV decodes it, converted to RGB by :func:`preprocess`).
        mean, std: per-channel normalisation applied to pixel values scaled to [0, 1].
        eyes: alignment template of face kinds, eye centres ((x, y) image-left eye, (x, y) image-right eye) as
            fractions of the input size, as found in the training crops; None: the training crops were not aligned
            to a known template, so the runtime cuts the detector's box (a square around its centre) instead.
        valence_arousal_range: (low, high) of the valence/arousal outputs.
        valence_arousal: the valence/arousal head was trained on real targets (set by training when the dataset has
            valence/arousal values). False (the default, also for models exported before this field existed): the
            runtime reports no valence/arousal (NaN), since an untrained head outputs noise.
        extra_heads: names and label lists of further classification heads (e.g. posture); ONNX output
            ``<name>_probs`` each (see :meth:`output_name`).
        uncertain_below: per head (``"emotion"`` for ``labels``, else an ``extra_heads`` name), the top probability
            below which the label shown is ``uncertain``, chosen on validation data (``scripts/calibrate_uncertain.py``:
            the probability below which the top label is wrong more often than right, on raw per-image outputs). A
            head without an entry uses the smoother's default.
        kind: what one input sample is (:class:`ModelKind`); ``face_crop`` for every model before this field.
        window: frames per sample: 1 for single-image kinds, >= 2 for clip kinds.
        sample_ms: milliseconds between the frames of a clip (clip kinds, > 0); 0 for single-image kinds.
        inputs: ONNX input names and their layouts (``"NCHW"`` for single images, ``"NTCHW"`` for clips); empty
            (the default) means ``{"input": <the kind's layout>}``, the name every exported model uses.
        info: free-form provenance (training data, licence, metrics file), shown by ``affectlens info``.
    """

    architecture: str = "resnet_se"
    labels: tuple[str, ...] = EMOTIONS
    input_size: int = 48
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    eyes: Eyes | None = FER_EYES
    valence_arousal_range: tuple[float, float] = (-1.0, 1.0)
    valence_arousal: bool = False
    extra_heads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    uncertain_below: dict[str, float] = field(default_factory=dict)
    kind: ModelKind = ModelKind.FACE_CROP
    window: int = 1
    sample_ms: float = 0.0
    inputs: dict[str, str] = field(default_factory=dict)
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
        if MAIN_HEAD in self.extra_heads:
            raise ValueError(f"ModelConfig.extra_heads cannot be named {MAIN_HEAD!r}: that is the main head")
        try:
            kind = ModelKind(self.kind)
        except ValueError:
            kinds = ", ".join(k.value for k in ModelKind)
            raise ValueError(f"ModelConfig.kind must be one of {kinds}, got {self.kind!r}") from None
        object.__setattr__(self, "kind", kind)
        if kind.is_clip:
            if self.window < 2 or self.sample_ms <= 0:
                raise ValueError(
                    f"a {kind.value} model needs window >= 2 frames and sample_ms > 0, got window={self.window}, "
                    f"sample_ms={self.sample_ms}"
                )
        elif self.window != 1 or self.sample_ms != 0:
            raise ValueError(
                f"a {kind.value} model takes one frame: window must be 1 and sample_ms 0, got window={self.window}, "
                f"sample_ms={self.sample_ms}"
            )
        if self.eyes is not None:
            eyes = tuple((float(x), float(y)) for x, y in self.eyes)
            if len(eyes) != 2 or eyes[0] == eyes[1]:
                raise ValueError(f"ModelConfig.eyes must be two different (x, y) points, got {self.eyes}")
            object.__setattr__(self, "eyes", eyes)
        layout = CLIP_LAYOUT if kind.is_clip else IMAGE_LAYOUT
        if not self.inputs:
            object.__setattr__(self, "inputs", {"input": layout})
        for name, given in self.inputs.items():
            if given != layout:
                raise ValueError(
                    f"ModelConfig.inputs[{name!r}] of a {kind.value} model must be {layout!r}, got {given!r}"
                )

    @property
    def heads(self) -> dict[str, tuple[str, ...]]:
        """Every classification head and its class names: the main head (``"emotion"``) first, then the extra heads
        in name order."""
        return {MAIN_HEAD: self.labels, **{name: self.extra_heads[name] for name in sorted(self.extra_heads)}}

    @staticmethod
    def output_name(head: str) -> str:
        """ONNX output of a classification head: ``probs`` for the main head, ``<head>_probs`` for the others."""
        return "probs" if head == MAIN_HEAD else f"{head}_probs"

    @property
    def input_name(self) -> str:
        """The (first) ONNX input name."""
        return next(iter(self.inputs))

    def input_shape(self, batch: int = 1) -> tuple[int, ...]:
        """Shape of a batch of ``batch`` samples: (N, C, S, S), or (N, T, C, S, S) for clip kinds."""
        image = (self.channels, self.input_size, self.input_size)
        return (batch, self.window, *image) if self.kind.is_clip else (batch, *image)

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
        raw = asdict(self)
        raw["kind"] = self.kind.value
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        """Read a cfg written by :meth:`to_json`, by this or an older affectlens (missing fields take the defaults
        described in the module docstring).

        Raises:
            ValueError: unknown fields (a model newer than this affectlens), or invalid values.
        """
        raw = json.loads(text)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"model cfg has unknown fields {unknown}; is the model newer than this affectlens?")
        raw["labels"] = tuple(raw.get("labels", EMOTIONS))
        for key in ("mean", "std", "valence_arousal_range"):
            if key in raw:
                raw[key] = tuple(raw[key])
        if raw.get("eyes") is not None:
            raw["eyes"] = tuple(tuple(p) for p in raw["eyes"])
        if "extra_heads" in raw:
            raw["extra_heads"] = {k: tuple(v) for k, v in raw["extra_heads"].items()}
        if "uncertain_below" in raw:
            raw["uncertain_below"] = {k: float(v) for k, v in raw["uncertain_below"].items()}
        if "valence_arousal" in raw:
            raw["valence_arousal"] = bool(raw["valence_arousal"])
        if "inputs" in raw:
            raw["inputs"] = {str(k): str(v) for k, v in raw["inputs"].items()}
        return cls(**raw)
