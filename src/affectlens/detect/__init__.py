"""Face detectors: one protocol, a registry of backends, :func:`create_detector` to build one by name.

    from affectlens.detect import create_detector

    with create_detector("mediapipe", min_confidence=0.5) as detector:
        faces = detector.detect(bgr_image)  # Faces: xyxy (N, 4), score (N,), keypoints (N, 6, 2), pixels

Backends: ``mediapipe`` (default; BlazeFace short range + full range for small faces), ``mediapipe-short``,
``mediapipe-full`` (see :mod:`affectlens.detect.blazeface`) and ``haar`` (OpenCV, the fallback;
:mod:`affectlens.detect.haar`). Importing this package imports neither mediapipe nor any model.
"""

from affectlens.detect import blazeface as _blazeface  # noqa: F401  (registers the mediapipe detectors)
from affectlens.detect import haar as _haar  # noqa: F401  (registers the haar detector)
from affectlens.detect.base import (
    DetectorBase,
    FaceDetector,
    create_detector,
    describe_detectors,
    list_detectors,
    register_detector,
)
from affectlens.detect.blazeface import BlazeFaceDetector
from affectlens.detect.haar import HaarFaceDetector

__all__ = [
    "BlazeFaceDetector",
    "DetectorBase",
    "FaceDetector",
    "HaarFaceDetector",
    "create_detector",
    "describe_detectors",
    "list_detectors",
    "register_detector",
]
