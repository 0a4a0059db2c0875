"""The types that pass between pipeline stages: :class:`Frame`, :class:`Faces`, :class:`FrameResult`.

Every stage takes and returns these, so stages compose in plain Python and each can be tested alone.
``Faces`` is one validated dataclass of numpy arrays with N rows; "no face" is ``Faces.empty()``, never ``None``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any

import numpy as np


class FaceKeypoint(IntEnum):
    """Semantic index of the K=6 keypoints every detector provides (BlazeFace order, subject's side)."""

    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    MOUTH_CENTER = 3
    RIGHT_EAR = 4
    LEFT_EAR = 5


NUM_KEYPOINTS = len(FaceKeypoint)

# Keys of ``Faces.data`` that later stages write and records read (see ``Faces.to_records``).
RAW_PROBS = "raw_probs"  # (N, C) float32: the model's probabilities before temporal smoothing
RAW_VALENCE_AROUSAL = "raw_valence_arousal"  # (N, 2) float32: valence/arousal before smoothing
SHOWN_LABEL = "label"  # (N,) str: the label to show after hysteresis; may be UNCERTAIN
ENGAGEMENT = "engagement"  # (N,) float32 in [0, 1]
HEAD_PROBS = "head_probs:"  # prefix: data[HEAD_PROBS + name] (N, K) float32, raw probabilities of another model head
UNCERTAIN = "uncertain"


@dataclass
class Frame:
    """One decoded image and where it came from.

    Attributes:
        image: (H, W, 3) uint8, BGR (OpenCV order).
        index: 0-based position in the source (frames decoded so far, for files; images decoded, for folders).
        timestamp_ms: presentation time in milliseconds since the source's first frame (the container's times for
            files, wall clock for live sources); 0 for still images, which have no time.
        source: free-form metadata (``path``, ``fps``, ``kind``..., and ``file`` for images: the path relative to
            the folder, or the file name).
    """

    image: np.ndarray
    index: int
    timestamp_ms: float
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.image, np.ndarray) or self.image.ndim != 3 or self.image.shape[2] != 3:
            shape = getattr(self.image, "shape", type(self.image).__name__)
            raise ValueError(f"Frame.image must be an (H, W, 3) uint8 BGR array, got {shape}")
        if self.image.dtype != np.uint8:
            raise ValueError(f"Frame.image must be uint8, got {self.image.dtype}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def _rows(name: str, value: np.ndarray, n: int, tail: tuple[int | None, ...], dtype: Any) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    ok = array.ndim == 1 + len(tail) and array.shape[0] == n
    ok = ok and all(t is None or t == s for t, s in zip(tail, array.shape[1:], strict=False))
    if not ok:
        want = ", ".join(["N"] + ["C" if t is None else str(t) for t in tail])
        raise ValueError(f"Faces.{name} must have shape ({want}) with N={n}, got {array.shape}")
    return array


@dataclass
class Faces:
    """N faces in one frame, as arrays with one row per face.

    Attributes:
        xyxy: (N, 4) float32 boxes ``x1, y1, x2, y2`` in pixels of the frame.
        score: (N,) float32 detector confidence in [0, 1].
        keypoints: (N, 6, 2) float32 pixel coordinates, indexed by :class:`FaceKeypoint`.
        track_id: (N,) int64, -1 where no tracker assigned one.
        probs: (N, C) float32 emotion probabilities over ``labels``; C = 0 before classification.
        valence_arousal: (N, 2) float32 in [-1, 1]; NaN before classification, and NaN throughout for a model whose
            valence/arousal head was not trained (``ModelConfig.valence_arousal`` false): NaN means "not available".
        labels: the C class names of ``probs`` columns.
        data: stage extras, each an array with N rows (landmarks, engagement, ...).
        head_labels: class names of the model's other heads (e.g. ``fer2013``, or ``emotion`` when ``--head`` chose
            another head to drive ``probs``); their raw per-frame probabilities are ``data[HEAD_PROBS + name]``
            (N, K) float32.
    """

    xyxy: np.ndarray
    score: np.ndarray
    keypoints: np.ndarray
    track_id: np.ndarray | None = None
    probs: np.ndarray | None = None
    valence_arousal: np.ndarray | None = None
    labels: tuple[str, ...] = ()
    data: dict[str, np.ndarray] = field(default_factory=dict)
    head_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        n = int(xyxy.shape[0]) if xyxy.ndim >= 1 else -1
        self.xyxy = _rows("xyxy", xyxy.reshape(0, 4) if xyxy.size == 0 else xyxy, n, (4,), np.float32)
        self.score = _rows("score", self.score, n, (), np.float32)
        self.keypoints = _rows("keypoints", self.keypoints, n, (NUM_KEYPOINTS, 2), np.float32)
        if self.track_id is None:
            self.track_id = np.full(n, -1, dtype=np.int64)
        self.track_id = _rows("track_id", self.track_id, n, (), np.int64)
        self.labels = tuple(self.labels)
        if self.probs is None:
            self.probs = np.zeros((n, len(self.labels)), dtype=np.float32)
        self.probs = _rows("probs", self.probs, n, (len(self.labels),), np.float32)
        if self.valence_arousal is None:
            self.valence_arousal = np.full((n, 2), np.nan, dtype=np.float32)
        self.valence_arousal = _rows("valence_arousal", self.valence_arousal, n, (2,), np.float32)
        for key, value in self.data.items():
            array = np.asarray(value)
            if array.ndim == 0 or array.shape[0] != n:
                raise ValueError(f"Faces.data[{key!r}] must have N={n} rows, got shape {array.shape}")
            self.data[key] = array
        self.head_labels = {name: tuple(names) for name, names in self.head_labels.items()}
        for name, names in self.head_labels.items():
            if HEAD_PROBS + name in self.data:
                self.data[HEAD_PROBS + name] = _rows(
                    f"data[{HEAD_PROBS + name!r}]", self.data[HEAD_PROBS + name], n, (len(names),), np.float32
                )

    @classmethod
    def empty(cls, labels: tuple[str, ...] = ()) -> Faces:
        """No faces: a value with N=0 rows, never ``None``."""
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            score=np.zeros((0,), np.float32),
            keypoints=np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
            labels=labels,
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> Faces:
        """Select rows; an int gives a one-row ``Faces`` (like supervision's ``Detections``)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Faces(
            xyxy=self.xyxy[index],
            score=self.score[index],
            keypoints=self.keypoints[index],
            track_id=self.track_id[index],
            probs=self.probs[index],
            valence_arousal=self.valence_arousal[index],
            labels=self.labels,
            data={k: v[index] for k, v in self.data.items()},
            head_labels=self.head_labels,
        )

    def __iter__(self) -> Iterator[Faces]:
        for i in range(len(self)):
            yield self[i]

    def evolve(self, **changes: Any) -> Faces:
        """A shallow copy with some fields replaced, WITHOUT re-validation.

        Only for values of the same shapes and dtypes as the ones they replace (a stage that rewrites rows, or adds an
        (N,) entry to ``data``): validation costs ~10 µs a call, as much as a smoothing stage's own work.
        """
        out = object.__new__(Faces)
        out.__dict__.update(self.__dict__)
        out.__dict__.update(changes)
        return out

    def with_emotions(
        self,
        probs: np.ndarray,
        valence_arousal: np.ndarray,
        labels: tuple[str, ...],
        heads: dict[str, tuple[tuple[str, ...], np.ndarray]] | None = None,
    ) -> Faces:
        """A copy with classifier outputs: probs (N, C) over ``labels``, valence_arousal (N, 2) (NaN: not available),
        and optionally the model's other heads as ``{name: (labels (K,), probs (N, K))}``."""
        data = dict(self.data)
        head_labels = {}
        for name, (names, head_probs) in (heads or {}).items():
            data[HEAD_PROBS + name] = head_probs
            head_labels[name] = tuple(names)
        return replace(
            self,
            probs=probs,
            valence_arousal=valence_arousal,
            labels=tuple(labels),
            data=data,
            head_labels=head_labels,
        )

    @property
    def classified(self) -> bool:
        return len(self.labels) > 0

    @property
    def emotion(self) -> list[str]:
        """Label to show per face: the smoothing stage's ``data["label"]`` when present, else the top label
        (empty strings before classification)."""
        if SHOWN_LABEL in self.data:
            return [str(label) for label in self.data[SHOWN_LABEL]]
        if not self.classified:
            return [""] * len(self)
        return [self.labels[i] for i in self.probs.argmax(axis=1)] if len(self) else []

    @property
    def confidence(self) -> np.ndarray:
        """(N,) float32 probability of the label shown (:attr:`emotion`), from ``probs``: after smoothing, the smoothed
        probability of the held label (not of the top one); for :data:`UNCERTAIN`, the top probability (which is
        below the threshold: how sure the model is of its best guess). Zeros before classification."""
        if not self.classified or len(self) == 0:
            return np.zeros(len(self), np.float32)
        top = self.probs.max(axis=1)
        if SHOWN_LABEL not in self.data:
            return top
        column = {name: i for i, name in enumerate(self.labels)}
        shown = [column.get(str(label), -1) for label in self.data[SHOWN_LABEL]]
        return np.asarray([top[i] if c < 0 else self.probs[i, c] for i, c in enumerate(shown)], np.float32).reshape(
            len(self)
        )

    @property
    def has_valence_arousal(self) -> np.ndarray:
        """(N,) bool: the face has valence and arousal (False before classification and for models whose valence/
        arousal head was not trained); renderers and records show valence/arousal only where this is True."""
        return np.isfinite(self.valence_arousal).all(axis=1)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per face, in the JSONL record format."""
        records = []
        emotions = self.emotion
        confidence = self.confidence
        for i in range(len(self)):
            record: dict[str, Any] = {
                "bbox": [round(float(v), 1) for v in self.xyxy[i]],
                "score": round(float(self.score[i]), 4),
            }
            if self.track_id[i] >= 0:
                record["track_id"] = int(self.track_id[i])
            if self.classified:
                record["emotion"] = emotions[i]
                record["confidence"] = round(float(confidence[i]), 4)
                record["probs"] = _probs_record(self.labels, self.probs[i])
                record.update(_va_record(self.valence_arousal[i]))
            if ENGAGEMENT in self.data:
                record["engagement"] = round(float(self.data[ENGAGEMENT][i]), 4)
            if RAW_PROBS in self.data:
                raw_probs = self.data[RAW_PROBS][i]
                raw_va = self.data.get(RAW_VALENCE_AROUSAL, self.valence_arousal)[i]
                record["raw"] = {
                    "emotion": self.labels[int(np.argmax(raw_probs))],
                    "probs": _probs_record(self.labels, raw_probs),
                    **_va_record(raw_va),
                }
            heads = {
                name: {"label": names[int(np.argmax(probs[i]))], "probs": _probs_record(names, probs[i])}
                for name, names in self.head_labels.items()
                if (probs := self.data.get(HEAD_PROBS + name)) is not None and len(names)
            }
            if heads:
                record["heads"] = heads
            records.append(record)
        return records


def _probs_record(labels: tuple[str, ...], probs: np.ndarray) -> dict[str, float]:
    return {name: round(float(p), 4) for name, p in zip(labels, probs, strict=True)}


def _va_record(valence_arousal: np.ndarray) -> dict[str, float | None]:
    """``{"valence", "arousal"}`` rounded; both None (JSON null) when either is NaN: not available (a model whose
    valence/arousal head was not trained)."""
    valence, arousal = float(valence_arousal[0]), float(valence_arousal[1])
    if valence != valence or arousal != arousal:  # NaN
        return {"valence": None, "arousal": None}
    return {"valence": round(valence, 4), "arousal": round(arousal, 4)}


@dataclass
class FrameResult:
    """What sinks consume: the frame, its faces, and per-frame extras.

    Attributes:
        frame: the analysed :class:`Frame`.
        faces: the faces found (possibly empty).
        timings_ms: milliseconds per stage (``detect``, ``emotion``, ``total``...).
        extras: per-frame outputs of later stages (posture, actions...).
    """

    frame: Frame
    faces: Faces
    timings_ms: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The JSONL record of this frame (see README, "Records"); ``file`` (the image's path relative to the folder,
        or its name) only for stills, from ``frame.source["file"]``."""
        file = {"file": self.frame.source["file"]} if "file" in self.frame.source else {}
        return {
            "frame": self.frame.index,
            "timestamp_ms": round(float(self.frame.timestamp_ms), 3),
            **file,
            "faces": self.faces.to_records(),
            "timings_ms": {k: round(float(v), 3) for k, v in self.timings_ms.items()},
            **self.extras,
        }
