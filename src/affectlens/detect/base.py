"""The face detector contract, shared post-processing, and the registry behind :func:`create_detector`.

A detector is any object with a ``name``, ``detect(image) -> Faces`` and ``close()``, usable as a context manager.
Backends register a factory under a name with :func:`register_detector`; :func:`create_detector` builds one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import numpy as np

from affectlens.core import NUM_KEYPOINTS, Faces


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in one BGR frame.

    ``detect`` never returns ``None``: no face (a black frame, a cartoon) is ``Faces.empty()``. An instance is not
    thread-safe: use one per thread. ``close()`` frees native resources; it is idempotent.
    """

    name: str

    def detect(self, image: np.ndarray) -> Faces:
        """(H, W, 3) uint8 BGR image -> Faces with xyxy (N, 4) pixels clipped to the image, score (N,) in [0, 1],
        keypoints (N, 6, 2) pixels indexed by :class:`~affectlens.core.FaceKeypoint`, sorted by decreasing score."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class DetectorBase:
    """Context-manager plumbing and argument checks shared by the backends (optional: the protocol is what counts)."""

    name: str = "base"

    def __init__(self, min_confidence: float = 0.5, max_faces: int = 0) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if max_faces < 0:
            raise ValueError(f"max_faces must be >= 0 (0 keeps all faces), got {max_faces}")
        self.min_confidence = float(min_confidence)
        self.max_faces = int(max_faces)

    def detect(self, image: np.ndarray) -> Faces:
        raise NotImplementedError

    def close(self) -> None:
        """Free native resources (nothing by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        args = f"name={self.name!r}, min_confidence={self.min_confidence}, max_faces={self.max_faces}"
        return f"{type(self).__name__}({args})"


def check_image(image: np.ndarray) -> None:
    """Raise ValueError unless ``image`` is an (H, W, 3) uint8 array with H, W > 0."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", type(image).__name__)
        dtype = getattr(image, "dtype", "")
        raise ValueError(f"detect() needs an (H, W, 3) uint8 BGR image, got {shape} {dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"detect() got an empty image of shape {image.shape}")


def make_faces(
    xyxy: np.ndarray,
    score: np.ndarray,
    keypoints: np.ndarray,
    width: int,
    height: int,
    min_confidence: float = 0.0,
    max_faces: int = 0,
) -> Faces:
    """Raw detections -> :class:`Faces`, the same way for every backend.

    Drops scores below ``min_confidence``, sorts by decreasing score, keeps the top ``max_faces`` (0: all), clips the
    boxes to the ``width`` x ``height`` image and drops boxes left with no area. Keypoints are not clipped: an eye just
    outside the frame is still the best estimate of where the eye is, and alignment handles it.

    Args:
        xyxy: (N, 4) boxes in pixels.
        score: (N,) confidences, clipped to [0, 1].
        keypoints: (N, 6, 2) pixels.
    """
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    score = np.clip(np.asarray(score, np.float32).reshape(-1), 0.0, 1.0)
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, NUM_KEYPOINTS, 2)
    if len(score) == 0:
        return Faces.empty()
    order = np.argsort(-score, kind="stable")
    order = order[score[order] >= min_confidence]
    if max_faces > 0:
        order = order[:max_faces]
    xyxy = xyxy[order]
    xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0.0, float(width))
    xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0.0, float(height))
    keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    if not keep.all():
        order, xyxy = order[keep], xyxy[keep]
    return Faces(xyxy=xyxy, score=score[order], keypoints=keypoints[order])


def box_overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intersection over union, and intersection over the smaller area, of every pair of boxes.

    Args:
        a: (N, 4) xyxy; b: (M, 4) xyxy (either may be empty). A box with no area (or an inverted one) counts as
            area 0: it overlaps nothing.

    Returns:
        ``iou`` and ``covered``, (N, M) float64 each: 1 for the same box / when one box holds the other, 0 when
        disjoint.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    iou = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    covered = inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)
    return iou, covered


def overlap_with_any(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(N,) max over ``others`` of intersection / smaller area: 1 when one box holds the other, 0 when disjoint.

    Args:
        boxes: (N, 4) xyxy; others: (M, 4) xyxy (M may be 0).
    """
    if len(boxes) == 0 or len(others) == 0:
        return np.zeros(len(boxes), np.float32)
    return box_overlaps(boxes, others)[1].max(axis=1).astype(np.float32)


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., FaceDetector]
    available: Callable[[], bool]
    unavailable_hint: str
    description: str


_REGISTRY: dict[str, _Entry] = {}


def register_detector(
    name: str,
    *,
    available: Callable[[], bool] = lambda: True,
    unavailable_hint: str = "",
    description: str = "",
) -> Callable[[Callable[..., FaceDetector]], Callable[..., FaceDetector]]:
    """Decorator: register ``factory(min_confidence=, max_faces=, tiles=) -> FaceDetector`` under ``name``.

    ``available`` tells cheaply (without importing heavy packages) whether the backend can run here;
    ``unavailable_hint`` is the error message when it cannot (the exact ``pip install`` command).
    """

    def decorator(factory: Callable[..., FaceDetector]) -> Callable[..., FaceDetector]:
        _REGISTRY[name] = _Entry(factory, available, unavailable_hint, description)
        return factory

    return decorator


def list_detectors() -> list[str]:
    """Names of the detectors that can run in this environment, default first."""
    return [name for name, entry in _REGISTRY.items() if entry.available()]


def describe_detectors() -> dict[str, str]:
    """Every registered name -> one-line description (available or not)."""
    return {name: entry.description for name, entry in _REGISTRY.items()}


def create_detector(
    name: str = "mediapipe", min_confidence: float = 0.5, max_faces: int = 0, tiles: str | int = "auto"
) -> FaceDetector:
    """Build a face detector by registry name.

    Args:
        name: ``mediapipe`` (default: BlazeFace short range with a full-range pass for small faces),
            ``mediapipe-short``, ``mediapipe-full`` or ``haar``; :func:`list_detectors` lists what runs here.
        min_confidence: minimum detection score in [0, 1].
        max_faces: keep the N highest-scoring faces; 0 keeps all.
        tiles: detection in tiles for frames much larger than the detector's input (group photos, crowds):
            ``"auto"`` (frames from a 1024 px long side), ``"off"``, or N tiles across the long side at the finest
            level (see :mod:`affectlens.detect.tiling`).

    Raises:
        ValueError: unknown name or bad argument.
        ImportError: the backend's package is missing; the message names the ``pip install`` command.
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown face detector {name!r}; choose one of: {', '.join(_REGISTRY)}")
    if not entry.available():
        raise ImportError(entry.unavailable_hint or f"face detector {name!r} is not available here")
    return entry.factory(min_confidence=min_confidence, max_faces=max_faces, tiles=tiles)
