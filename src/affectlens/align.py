"""Face alignment: crop each face so its eyes land where the model's training crops had them.

The model's cfg names the template (``cfg.eyes``: eye centres as fractions of the ``cfg.input_size`` crop). A
similarity transform (rotation, uniform scale, translation) maps the two detected eye centres onto it, so a tilted
head gives an upright crop at the scale the model was trained on. A model whose training crops were not aligned to a
known template (``cfg.eyes`` None) gets the detector's box instead: a square around the box centre, no rotation.

Shrinking a large face to 48 px with one bilinear warp would alias (it samples 2 of every ~6 pixels). Instead the
warp goes to ``k * S`` pixels, with ``k = ceil(shrink factor)`` capped at 3, and ``cv2.resize(INTER_AREA)`` averages
each ``k x k`` block down to ``S``: a box prefilter for the price of a warp of at most ``3S x 3S`` pixels
(~0.1 ms per face at S = 48).
Grayscale conversion happens on the final ``S x S`` crop, never on the frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from affectlens.core import FaceKeypoint, Faces
from affectlens.modelcfg import ModelConfig

# Cap of the supersampling factor k. Measured on faces of WolfgangLanger_Pexels.mp4 (shrunk ~5.6x to 48 px), mean
# absolute difference to an ideal 16x-supersampled crop / cost per face with the frame in cache: k=1 (plain warp)
# 3.8 gray levels / 0.04 ms, k=2 0.9 / 0.04 ms, k=3 0.33 / 0.09-0.16 ms, k=4 0.23 / 0.15-0.21 ms. 3 is the knee.
MAX_SUPERSAMPLING = 3
# Where BlazeFace puts the eyes in its own box, as fractions (x, y) of the box: medians over 110 faces of the shared
# videos and images (interquartile ranges 0.04-0.09). The box-based fallback uses them when the eyes are unusable.
BOX_EYES = ((0.31, 0.30), (0.69, 0.30))
_MIN_EYE_DISTANCE = 1.0  # pixels: closer eyes are treated as degenerate


def eye_alignment_matrix(
    right_eye_xy: np.ndarray | tuple[float, float],
    left_eye_xy: np.ndarray | tuple[float, float],
    cfg: ModelConfig,
) -> np.ndarray:
    """The similarity transform that puts the eyes on the model's template.

    Args:
        right_eye_xy: (2,) pixels of the subject's right eye (``FaceKeypoint.RIGHT_EYE``, the image-left eye of an
            upright face); mapped to ``cfg.eyes[0] * S``.
        left_eye_xy: (2,) pixels of the subject's left eye; mapped to ``cfg.eyes[1] * S``.
        cfg: the model's cfg; S = ``cfg.input_size``.

    Returns:
        (2, 3) float64 matrix ``[[a, -b, tx], [b, a, ty]]`` from frame pixels to crop pixels, for ``cv2.warpAffine``.

    Raises:
        ValueError: the eyes are not finite or are less than 1 pixel apart; the cfg has no eye template.
    """
    if cfg.eyes is None:
        raise ValueError("the model's cfg has no eye template (its training crops were not aligned)")
    src0 = complex(*np.asarray(right_eye_xy, np.float64).reshape(2))
    src1 = complex(*np.asarray(left_eye_xy, np.float64).reshape(2))
    size = float(cfg.input_size)
    dst0 = complex(cfg.eyes[0][0] * size, cfg.eyes[0][1] * size)
    dst1 = complex(cfg.eyes[1][0] * size, cfg.eyes[1][1] * size)
    span = src1 - src0
    if not (math.isfinite(span.real) and math.isfinite(span.imag)) or abs(span) < _MIN_EYE_DISTANCE:
        raise ValueError(f"eyes at {src0} and {src1} are not usable for alignment")
    # A similarity transform is multiplication by one complex number z (rotation + scale) plus a shift t.
    z = (dst1 - dst0) / span
    t = dst0 - z * src0
    return np.array([[z.real, -z.imag, t.real], [z.imag, z.real, t.imag]], np.float64)


def box_alignment_matrix(xyxy: np.ndarray | tuple[float, ...], cfg: ModelConfig) -> np.ndarray:
    """Fallback without usable eyes: the eyes assumed at :data:`BOX_EYES` of the box, no rotation.

    Args:
        xyxy: (4,) box in pixels (a degenerate box is widened to 8 pixels).
        cfg: the model's cfg.

    Returns:
        (2, 3) float64 matrix like :func:`eye_alignment_matrix`.
    """
    x1, y1, x2, y2 = (float(v) for v in np.nan_to_num(np.asarray(xyxy, np.float64).reshape(4)))
    width, height = max(x2 - x1, 8.0), max(y2 - y1, 8.0)
    right = (x1 + BOX_EYES[0][0] * width, y1 + BOX_EYES[0][1] * height)
    left = (x1 + BOX_EYES[1][0] * width, y1 + BOX_EYES[1][1] * height)
    return eye_alignment_matrix(right, left, cfg)


def box_crop_matrix(xyxy: np.ndarray | tuple[float, ...], cfg: ModelConfig) -> np.ndarray:
    """For a model without an eye template (``cfg.eyes`` None): the square of side max(width, height) around the
    box centre, scaled to the ``cfg.input_size`` crop, no rotation.

    Args:
        xyxy: (4,) box in pixels (a degenerate box is widened to 8 pixels).
        cfg: the model's cfg.

    Returns:
        (2, 3) float64 matrix like :func:`eye_alignment_matrix`.
    """
    x1, y1, x2, y2 = (float(v) for v in np.nan_to_num(np.asarray(xyxy, np.float64).reshape(4)))
    side = max(x2 - x1, y2 - y1, 8.0)
    scale = cfg.input_size / side
    # The box centre lands on the crop centre (OpenCV addresses pixel centres: continuous c is pixel c - 0.5).
    half = (cfg.input_size - 1) / 2
    cx, cy = (x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2
    return np.array([[scale, 0.0, half - scale * cx], [0.0, scale, half - scale * cy]], np.float64)


def face_alignment_matrix(keypoints: np.ndarray, xyxy: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """The matrix :func:`align_faces` uses for one face: eyes onto ``cfg.eyes``; the box fallback when the eyes are
    unusable (same point, NaN); the box crop (:func:`box_crop_matrix`) when the cfg has no eye template.

    Args:
        keypoints: (6, 2) pixels, indexed by :class:`~affectlens.core.FaceKeypoint`.
        xyxy: (4,) box in pixels.
        cfg: the model's cfg.
    """
    if cfg.eyes is None:
        return box_crop_matrix(xyxy, cfg)
    try:
        return eye_alignment_matrix(keypoints[FaceKeypoint.RIGHT_EYE], keypoints[FaceKeypoint.LEFT_EYE], cfg)
    except ValueError:
        return box_alignment_matrix(xyxy, cfg)


def supersampling_factor(matrix: np.ndarray) -> int:
    """k for :func:`align_face`: ceil(frame pixels per crop pixel), 1 when enlarging, at most MAX_SUPERSAMPLING."""
    scale = math.hypot(matrix[0, 0], matrix[1, 0])  # crop pixels per frame pixel
    if scale >= 1.0:
        return 1
    if scale * MAX_SUPERSAMPLING <= 1.0:
        return MAX_SUPERSAMPLING
    return math.ceil(1.0 / scale - 1e-6)


def align_face(image: np.ndarray, matrix: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """Warp one face with an alignment matrix, anti-aliased.

    Args:
        image: (H, W, 3) uint8 BGR frame.
        matrix: (2, 3) frame pixels -> crop pixels, as from :func:`eye_alignment_matrix`.
        cfg: the model's cfg.

    Returns:
        (S, S) uint8 gray when ``cfg.channels == 1``, else (S, S, 3) uint8 BGR; S = ``cfg.input_size``.
    """
    size = cfg.input_size
    k = supersampling_factor(matrix)
    if k > 1:
        # Crop pixel u covers the k x k block of the big grid centred on k * u + (k - 1) / 2.
        matrix = np.asarray(matrix, np.float64) * float(k)
        matrix[:, 2] += (k - 1) / 2
    crop = cv2.warpAffine(image, matrix, (size * k, size * k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if k > 1:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if cfg.channels == 1 else crop


def align_faces(image: np.ndarray, faces: Faces, cfg: ModelConfig) -> list[np.ndarray]:
    """One aligned crop per face, ready for :func:`affectlens.preprocess.preprocess_batch`.

    Each face's eyes (``FaceKeypoint.RIGHT_EYE``, ``LEFT_EYE``) are mapped onto ``cfg.eyes``; a face whose eyes are
    unusable (same point, NaN) is cropped from its box instead (:func:`box_alignment_matrix`), and so is every face
    for a model without an eye template (:func:`box_crop_matrix`). Areas outside the frame repeat the nearest edge
    pixel.

    Args:
        image: (H, W, 3) uint8 BGR frame the faces were detected in.
        faces: N faces with keypoints (N, 6, 2) and boxes (N, 4) in pixels of ``image``.
        cfg: the model's cfg (input size, channels, eye template).

    Returns:
        N crops, each (S, S) uint8 gray if ``cfg.channels == 1`` else (S, S, 3) uint8 BGR; [] for no faces.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"align_faces needs an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
    return [
        align_face(image, face_alignment_matrix(faces.keypoints[i], faces.xyxy[i], cfg), cfg) for i in range(len(faces))
    ]
