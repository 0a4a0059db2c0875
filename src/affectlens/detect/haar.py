"""OpenCV Haar cascade (frontal face): the fallback detector, needing nothing beyond opencv.

Slower and weaker than BlazeFace (25-45 ms per 640x360 frame on 2 cores, frontal faces only), but always there.
Haar gives no keypoints, so the 6 BlazeFace keypoints are placed at fixed fractions of the box
(:data:`HAAR_KEYPOINTS`), which lets alignment and everything after it treat every detector alike (no roll
correction, of course).

Score: the cascade's final-stage sum ``w`` (``levelWeights`` of ``detectMultiScale3``, free to get), squashed to
``w / (w + 1.5)`` in [0, 1). A monotone ranking, not a calibrated probability: on this project's videos and images,
faces that BlazeFace confirms have median ``w`` 7.7 (score 0.84) and 10th percentile 3.8 (0.72); unconfirmed boxes
mostly 0.5-2.6. The default ``min_confidence=0.5`` thus drops boxes with ``w < 1.5``.

Large frames: the cascade scans every scale itself, so it has no fixed input size to tile; what loses small faces is
the shrink to ``max_side`` (640 px). ``tiles=N`` raises that limit to ``max_side`` x N, so a large frame is scanned at
up to N times the resolution, at up to N^2 times the cost (3000x1334 at full resolution: 4.8 s instead of 0.5 s,
finding 25 of 30 faces instead of 18). ``tiles="auto"`` keeps the 640 px limit for Haar (it would make a 1920x1080
video 9 times slower); BlazeFace tiles instead (:mod:`affectlens.detect.tiling`).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from affectlens.core import Faces
from affectlens.detect.base import DetectorBase, check_image, make_faces, register_detector
from affectlens.detect.tiling import parse_tiles

HAAR_CASCADE = "haarcascade_frontalface_default.xml"

# Keypoints as fractions (x, y) of a Haar frontal-face box, in FaceKeypoint order: medians of BlazeFace's keypoints
# on 87 faces that both detectors found (frames of the shared videos and the shared images), made left-right
# symmetric. Interquartile ranges 0.03-0.04 for eyes, 0.05-0.08 for nose, mouth and ears.
HAAR_KEYPOINTS = np.array(
    [
        [0.31, 0.43],  # RIGHT_EYE (subject's right, image-left)
        [0.69, 0.43],  # LEFT_EYE
        [0.50, 0.61],  # NOSE_TIP
        [0.50, 0.81],  # MOUTH_CENTER
        [0.12, 0.54],  # RIGHT_EAR
        [0.88, 0.54],  # LEFT_EAR
    ],
    np.float32,
)


def haar_cascade_path() -> str:
    """Path of the frontal-face cascade shipped in the opencv wheel ('' when this build has none)."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    return os.path.join(folder, HAAR_CASCADE) if folder else ""


def haar_available() -> bool:
    """True when this opencv has ``CascadeClassifier`` and ships the frontal-face cascade."""
    path = haar_cascade_path()
    return hasattr(cv2, "CascadeClassifier") and bool(path) and os.path.isfile(path)


class HaarFaceDetector(DetectorBase):
    """OpenCV Haar frontal-face cascade with synthetic keypoints.

    Args:
        min_confidence: minimum score in [0, 1] (see the module doc for what the score is).
        max_faces: keep the N highest-scoring faces; 0 keeps all.
        scale_factor, min_neighbors: ``detectMultiScale`` parameters.
        min_size: smallest face side in pixels of the input image.
        max_side: images whose long side exceeds this are shrunk to it for detection (Haar cost grows with pixels).
        tiles: ``"auto"`` and ``"off"`` (the same here), or N: images are shrunk to ``max_side`` x N instead (see the
            module doc).

    Raises:
        RuntimeError: the cascade file cannot be loaded (an opencv build without ``cv2.data``, such as OpenCV 5).
    """

    name = "haar"

    def __init__(
        self,
        min_confidence: float = 0.5,
        max_faces: int = 0,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 32,
        max_side: int = 640,
        tiles: str | int = "auto",
    ) -> None:
        super().__init__(min_confidence, max_faces)
        self.tiles = parse_tiles(tiles)
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.max_side = max_side
        path = haar_cascade_path()
        cascade = cv2.CascadeClassifier(path) if haar_available() else None
        if cascade is None or cascade.empty():
            raise RuntimeError(
                f"cannot load the OpenCV Haar cascade {path or HAAR_CASCADE!r}: this opencv build has no cv2.data "
                f"cascades (opencv {cv2.__version__}); pip install 'opencv-python-headless<4.12'"
            )
        self._cascade: cv2.CascadeClassifier | None = cascade

    def detect(self, image: np.ndarray) -> Faces:
        """(H, W, 3) uint8 BGR -> Faces (see :class:`~affectlens.detect.base.FaceDetector`)."""
        check_image(image)
        if self._cascade is None:
            raise RuntimeError("haar detector is closed")
        height, width = image.shape[:2]
        tiles = 1 if self.tiles == "auto" else int(self.tiles)
        shrink = min(1.0, self.max_side * tiles / max(height, width))
        if shrink < 1.0:
            small = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
            gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        else:
            gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        min_side = max(1, round(self.min_size * shrink))
        found, _, levels = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        boxes = np.asarray(found, np.float32).reshape(-1, 4) / shrink  # x, y, w, h in pixels of `image`
        weights = np.clip(np.asarray(levels, np.float32).reshape(-1), 0.0, None)
        xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
        keypoints = boxes[:, None, :2] + HAAR_KEYPOINTS[None] * boxes[:, None, 2:]
        score = weights / (weights + 1.5)
        return make_faces(xyxy, score, keypoints, width, height, self.min_confidence, self.max_faces)

    def close(self) -> None:
        self._cascade = None


@register_detector(
    "haar",
    available=haar_available,
    unavailable_hint="the haar detector needs opencv 4.x with its cascades: pip install 'opencv-python-headless<4.12'",
    description="OpenCV Haar frontal-face cascade: fallback, slower, frontal faces only",
)
def _create_haar(min_confidence: float = 0.5, max_faces: int = 0, tiles: str | int = "auto") -> HaarFaceDetector:
    return HaarFaceDetector(min_confidence=min_confidence, max_faces=max_faces, tiles=tiles)
