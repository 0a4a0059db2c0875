"""The types that pass between pipeline stages: :class:`Frame`, row types (:class:`Faces`, :class:`Persons`) and
:class:`FrameResult`.

Every stage takes and returns these, so stages compose in plain Python and each can be tested alone.
A row type is one validated dataclass of numpy arrays with N rows (see :class:`Rows`); "nothing found" is
``Faces.empty()`` / ``Persons.empty()``, never ``None``. This module is the bottom layer: it imports no other module of
the package.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum
from typing import Any, ClassVar, Self

import numpy as np

SCHEMA_VERSION = 2
"""Version of the record format written by :meth:`FrameResult.to_record` (``"schema"`` in every record).
1: the records before the field existed (no ``schema``, ``outputs``, ``scene_cut`` or ``persons``)."""


class FaceKeypoint(IntEnum):
    """Semantic index of the K=6 keypoints every detector provides (BlazeFace order, subject's side)."""

    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    MOUTH_CENTER = 3
    RIGHT_EAR = 4
    LEFT_EAR = 5


NUM_KEYPOINTS = len(FaceKeypoint)


class PoseLandmark(IntEnum):
    """Semantic index of the K=33 body landmarks of :class:`Persons` (MediaPipe Pose order, subject's side)."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


NUM_POSE_LANDMARKS = len(PoseLandmark)

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


def _rows(owner: str, name: str, value: Any, n: int, tail: tuple[int | None, ...], dtype: Any) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    ok = array.ndim == 1 + len(tail) and array.shape[0] == n
    ok = ok and all(t is None or t == s for t, s in zip(tail, array.shape[1:], strict=False))
    if not ok:
        want = ", ".join(["N"] + ["C" if t is None else str(t) for t in tail])
        raise ValueError(f"{owner}.{name} must have shape ({want}) with N={n}, got {array.shape}")
    return array


def _leading(owner: str, name: str, value: Any, n: int) -> None:
    """Raise unless ``value`` is an array with ``n`` rows (only the leading dimension is checked: cheap)."""
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) == 0 or shape[0] != n:
        raise ValueError(f"{owner}.{name} must have N={n} rows, got shape {shape}")


class RowData(dict[str, np.ndarray]):
    """``Rows.data``: a dict of arrays that each have the N rows of their owner, checked on every write.

    ``faces.data[key] = array`` with the wrong number of rows raises ``ValueError`` (values are converted with
    ``np.asarray``; only the leading dimension is checked). Copying with ``dict(faces.data)`` gives a plain dict,
    which the owner's constructor or ``evolve(data=...)`` checks again.
    """

    __slots__ = ("owner", "rows")

    def __init__(self, rows: int, owner: str = "Rows", items: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.owner = owner
        if items:
            for key, value in items.items():
                self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        array = np.asarray(value)
        if array.ndim == 0 or array.shape[0] != self.rows:
            raise ValueError(f"{self.owner}.data[{key!r}] must have N={self.rows} rows, got shape {array.shape}")
        super().__setitem__(key, array)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> np.ndarray:
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> RowData:  # type: ignore[override,misc]
        self.update(other)
        return self

    def copy(self) -> RowData:
        return RowData(self.rows, self.owner, self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (RowData, (self.rows, self.owner, dict(self)))


class Rows:
    """Base of the row types: N things found in one frame, as arrays with one row each.

    Every row type is a dataclass with at least these fields (validated on construction):

    Attributes:
        xyxy: (N, 4) float32 boxes ``x1, y1, x2, y2`` in pixels of the frame.
        score: (N,) float32 detector confidence in [0, 1].
        keypoints: (N, K, 2) float32 pixel coordinates; K is the class attribute :attr:`K`.
        track_id: (N,) int64, -1 where no tracker assigned one.
        data: stage extras (a :class:`RowData` after construction), each an array with N rows; item writes are
            checked. Replace the whole dict with :meth:`evolve` (checked), not by assignment.

    Subclasses list their other (N, ...) array fields in :attr:`ROW_FIELDS`, so that indexing selects them and
    :meth:`evolve` checks them.
    """

    K: ClassVar[int] = 0
    ROW_FIELDS: ClassVar[frozenset[str]] = frozenset({"xyxy", "score", "keypoints", "track_id"})

    xyxy: np.ndarray
    score: np.ndarray
    keypoints: np.ndarray
    track_id: np.ndarray
    data: dict[str, np.ndarray]  # a RowData after construction

    def _validate_rows(self) -> int:
        """Validate the common fields in place; returns N."""
        owner = type(self).__name__
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        n = int(xyxy.shape[0]) if xyxy.ndim >= 1 else -1
        self.xyxy = _rows(owner, "xyxy", xyxy.reshape(0, 4) if xyxy.size == 0 else xyxy, n, (4,), np.float32)
        self.score = _rows(owner, "score", self.score, n, (), np.float32)
        self.keypoints = _rows(owner, "keypoints", self.keypoints, n, (self.K, 2), np.float32)
        track_id = np.full(n, -1, dtype=np.int64) if self.track_id is None else self.track_id
        self.track_id = _rows(owner, "track_id", track_id, n, (), np.int64)
        return n

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> Self:
        """Select rows; an int gives a one-row value (like supervision's ``Detections``)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        values: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name in self.ROW_FIELDS:
                values[f.name] = value[index]
            elif f.name == "data":
                values[f.name] = {k: v[index] for k, v in value.items()}
            else:
                values[f.name] = value
        return type(self)(**values)

    def __iter__(self) -> Iterator[Self]:
        for i in range(len(self)):
            yield self[i]

    def evolve(self, **changes: Any) -> Self:
        """A shallow copy with some fields replaced, with only a cheap check.

        Only for values with the same N rows as the ones they replace (a stage that rewrites rows, or adds an (N,)
        entry to ``data``): the leading dimension of every array passed (and of every ``data`` entry) is checked,
        nothing else (full validation costs ~10 µs a call, as much as a smoothing stage's own work). To change N,
        index (``faces[keep]``) or construct anew.

        Raises:
            ValueError: an array passed (or a ``data`` entry) does not have N rows; an unknown field.
        """
        n = len(self)
        owner = type(self).__name__
        known = self.__dict__
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"{owner}.evolve: unknown field {name!r}")
            if name in self.ROW_FIELDS:
                _leading(owner, name, value, n)
        if "data" in changes:
            data = changes["data"]
            changes["data"] = data if isinstance(data, RowData) and data.rows == n else RowData(n, owner, data)
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.__dict__.update(changes)
        return out

    @classmethod
    def _empty_fields(cls) -> dict[str, Any]:
        return {
            "xyxy": np.zeros((0, 4), np.float32),
            "score": np.zeros((0,), np.float32),
            "keypoints": np.zeros((0, cls.K, 2), np.float32),
        }

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row."""
        raise NotImplementedError


def _check_data(rows: Rows, n: int) -> RowData:
    """A checked copy of ``rows.data`` (the caller's dict is never modified)."""
    return RowData(n, type(rows).__name__, rows.data)


@dataclass
class Faces(Rows):
    """N faces in one frame, as arrays with one row per face (a :class:`Rows` with K=6).

    Attributes:
        xyxy: (N, 4) float32 boxes ``x1, y1, x2, y2`` in pixels of the frame.
        score: (N,) float32 detector confidence in [0, 1].
        keypoints: (N, 6, 2) float32 pixel coordinates, indexed by :class:`FaceKeypoint`.
        track_id: (N,) int64, -1 where no tracker assigned one.
        probs: (N, C) float32 emotion probabilities over ``labels``; C = 0 before classification.
        valence_arousal: (N, 2) float32 in [-1, 1]; NaN before classification, and NaN throughout for a model whose
            valence/arousal head was not trained (``ModelConfig.valence_arousal`` false): NaN means "not available".
        labels: the C class names of ``probs`` columns.
        data: stage extras, each an array with N rows (landmarks, engagement, ...); writes are checked.
        head_labels: class names of the model's other heads (e.g. ``fer2013``, or ``emotion`` when ``--head`` chose
            another head to drive ``probs``); their raw per-frame probabilities are ``data[HEAD_PROBS + name]``
            (N, K) float32.
    """

    K: ClassVar[int] = NUM_KEYPOINTS
    ROW_FIELDS: ClassVar[frozenset[str]] = Rows.ROW_FIELDS | {"probs", "valence_arousal"}

    xyxy: np.ndarray
    score: np.ndarray
    keypoints: np.ndarray
    track_id: np.ndarray = None  # type: ignore[assignment]  # None: all -1
    probs: np.ndarray = None  # type: ignore[assignment]  # None: (N, 0)
    valence_arousal: np.ndarray = None  # type: ignore[assignment]  # None: NaN
    labels: tuple[str, ...] = ()
    data: dict[str, np.ndarray] = field(default_factory=dict)
    head_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self._validate_rows()
        self.labels = tuple(self.labels)
        probs = np.zeros((n, len(self.labels)), dtype=np.float32) if self.probs is None else self.probs
        self.probs = _rows("Faces", "probs", probs, n, (len(self.labels),), np.float32)
        va = np.full((n, 2), np.nan, dtype=np.float32) if self.valence_arousal is None else self.valence_arousal
        self.valence_arousal = _rows("Faces", "valence_arousal", va, n, (2,), np.float32)
        data = _check_data(self, n)
        self.head_labels = {name: tuple(names) for name, names in self.head_labels.items()}
        for name, names in self.head_labels.items():
            if HEAD_PROBS + name in data:
                data[HEAD_PROBS + name] = _rows(
                    "Faces", f"data[{HEAD_PROBS + name!r}]", data[HEAD_PROBS + name], n, (len(names),), np.float32
                )
        self.data = data

    @classmethod
    def empty(cls, labels: tuple[str, ...] = ()) -> Faces:
        """No faces: a value with N=0 rows, never ``None``."""
        return cls(**cls._empty_fields(), labels=labels)

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


@dataclass
class Persons(Rows):
    """N people (bodies) in one frame, as arrays with one row per person (a :class:`Rows` with K=33).

    Attributes:
        xyxy: (N, 4) float32 body boxes ``x1, y1, x2, y2`` in pixels of the frame.
        score: (N,) float32 detector confidence in [0, 1].
        keypoints: (N, 33, 2) float32 pixel coordinates of the pose landmarks, indexed by :class:`PoseLandmark`.
        track_id: (N,) int64, -1 where no tracker assigned one.
        visibility: (N, 33) float32 in [0, 1], how likely each landmark is visible (1 where the detector gives none).
        face_index: (N,) int64 row of this person's face in the frame's :class:`Faces`, -1 for none.
        data: stage extras (posture, body actions...), each an array with N rows; writes are checked.
    """

    K: ClassVar[int] = NUM_POSE_LANDMARKS
    ROW_FIELDS: ClassVar[frozenset[str]] = Rows.ROW_FIELDS | {"visibility", "face_index"}

    xyxy: np.ndarray
    score: np.ndarray
    keypoints: np.ndarray
    track_id: np.ndarray = None  # type: ignore[assignment]  # None: all -1
    visibility: np.ndarray = None  # type: ignore[assignment]  # None: all 1
    face_index: np.ndarray = None  # type: ignore[assignment]  # None: all -1
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self._validate_rows()
        visibility = np.ones((n, self.K), np.float32) if self.visibility is None else self.visibility
        self.visibility = _rows("Persons", "visibility", visibility, n, (self.K,), np.float32)
        face_index = np.full(n, -1, np.int64) if self.face_index is None else self.face_index
        self.face_index = _rows("Persons", "face_index", face_index, n, (), np.int64)
        self.data = _check_data(self, n)

    @classmethod
    def empty(cls) -> Persons:
        """No people: a value with N=0 rows, never ``None``."""
        return cls(**cls._empty_fields())

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per person: ``bbox``, ``score``, ``track_id`` and ``face_index`` (when set), and
        ``landmarks`` as 33 ``[x, y, visibility]`` in :class:`PoseLandmark` order (pixels, 1 decimal)."""
        records = []
        for i in range(len(self)):
            record: dict[str, Any] = {
                "bbox": [round(float(v), 1) for v in self.xyxy[i]],
                "score": round(float(self.score[i]), 4),
            }
            if self.track_id[i] >= 0:
                record["track_id"] = int(self.track_id[i])
            if self.face_index[i] >= 0:
                record["face_index"] = int(self.face_index[i])
            record["landmarks"] = [
                [round(float(x), 1), round(float(y), 1), round(float(v), 3)]
                for (x, y), v in zip(self.keypoints[i], self.visibility[i], strict=True)
            ]
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


def _output_record(value: Any) -> Any:
    """An ``outputs`` value as written to records: ``value.to_record()`` when it has one, else the value itself
    (JSON-ready; sinks convert numpy scalars and arrays)."""
    to_record = getattr(value, "to_record", None)
    return to_record() if callable(to_record) else value


@dataclass
class FrameResult:
    """What sinks consume: the frame, the faces and people found, and the per-frame outputs of other stages.

    Attributes:
        frame: the analysed :class:`Frame`.
        faces: the faces found (possibly empty).
        timings_ms: milliseconds per stage (``detect``, ``emotion``, ``total``...).
        persons: the people found (possibly empty; nothing fills it before a pose stage runs).
        outputs: per-frame outputs of stages, by name: JSON-ready values, or objects with a ``to_record()`` method;
            written under ``"outputs"`` in records (never merged into the top level).
        scene_cut: this frame starts a new shot (tracks were reset before it).
    """

    frame: Frame
    faces: Faces
    timings_ms: dict[str, float] = field(default_factory=dict)
    persons: Persons = field(default_factory=Persons.empty)
    outputs: dict[str, Any] = field(default_factory=dict)
    scene_cut: bool = False

    @property
    def extras(self) -> dict[str, Any]:
        """Deprecated name of :attr:`outputs` (read-only; the same dict)."""
        return self.outputs

    def to_record(self) -> dict[str, Any]:
        """The JSONL record of this frame (see README, "Records").

        Keys, in order: ``schema`` (:data:`SCHEMA_VERSION`), ``video`` (only when ``frame.source`` has one: the video
        id that ``Analyzer.run(..., video_id=...)`` and ``affectlens batch`` set), ``frame``, ``timestamp_ms``,
        ``file`` (only for stills,
        from ``frame.source["file"]``: the image's path relative to the folder, or its name), ``scene_cut``,
        ``faces``, ``persons`` (only when there are some), ``outputs`` (always; ``{}`` when no stage wrote one),
        ``timings_ms``.
        """
        record: dict[str, Any] = {"schema": SCHEMA_VERSION}
        if "video" in self.frame.source:
            record["video"] = self.frame.source["video"]
        record["frame"] = self.frame.index
        record["timestamp_ms"] = round(float(self.frame.timestamp_ms), 3)
        if "file" in self.frame.source:
            record["file"] = self.frame.source["file"]
        record["scene_cut"] = bool(self.scene_cut)
        record["faces"] = self.faces.to_records()
        if len(self.persons):
            record["persons"] = self.persons.to_records()
        record["outputs"] = {name: _output_record(value) for name, value in self.outputs.items()}
        record["timings_ms"] = {k: round(float(v), 3) for k, v in self.timings_ms.items()}
        return record
