"""Alignment: eyes land on the model's template, crops match the cfg, degenerate input never crashes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.align import align_face, align_faces, box_alignment_matrix, eye_alignment_matrix
from affectlens.core import NUM_KEYPOINTS, FaceKeypoint, Faces
from affectlens.detect import blazeface as blazeface_module
from affectlens.models.config import ModelConfig
from affectlens.preprocess import preprocess_batch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GRAY = ModelConfig()
COLOR = ModelConfig(channels=3, input_size=64, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def shared_file(*parts: str) -> Path:
    """A file under ``<repo>/../shared/data``, or skip the test saying what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the shared data (../shared/data beside the repository) is absent")
    return path


def eye_dots(height: int, width: int, eyes: np.ndarray, sigma: float) -> np.ndarray:
    """A white BGR image with a dark Gaussian dot (std ``sigma`` pixels) at each (x, y) of ``eyes`` (2, 2)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    darkness = sum(np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) for x, y in eyes)
    gray = np.clip(255 - 200 * darkness, 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def faces_with_eyes(eyes: np.ndarray, box: tuple[float, float, float, float] = (0, 0, 10, 10)) -> Faces:
    """One face whose RIGHT_EYE / LEFT_EYE keypoints are ``eyes`` (2, 2); other keypoints at the first eye."""
    keypoints = np.repeat(np.asarray(eyes[:1], np.float32), NUM_KEYPOINTS, axis=0)
    keypoints[FaceKeypoint.RIGHT_EYE], keypoints[FaceKeypoint.LEFT_EYE] = eyes[0], eyes[1]
    return Faces(xyxy=np.array([box], np.float32), score=np.ones(1, np.float32), keypoints=keypoints[None])


def dot_centres(crop: np.ndarray) -> np.ndarray:
    """(2, 2) darkness-weighted centroids of the image-left and image-right halves of a gray crop."""
    weight = np.clip(230.0 - crop.astype(np.float64), 0, None)
    ys, xs = np.mgrid[0 : crop.shape[0], 0 : crop.shape[1]]
    half = crop.shape[1] // 2
    centres = []
    for part in (np.s_[:, :half], np.s_[:, half:]):
        w = weight[part]
        centres.append([(xs[part] * w).sum() / w.sum(), (ys[part] * w).sum() / w.sum()])
    return np.array(centres)


def test_matrix_maps_eyes_onto_template():
    rng = np.random.default_rng(0)
    for _ in range(20):
        right, left = rng.uniform(0, 500, 2), rng.uniform(0, 500, 2)
        if np.linalg.norm(left - right) < 5:
            continue
        matrix = eye_alignment_matrix(right, left, GRAY)
        assert matrix.shape == (2, 3)
        mapped = np.stack([right, left]) @ matrix[:, :2].T + matrix[:, 2]
        np.testing.assert_allclose(mapped, np.array(GRAY.eyes) * GRAY.input_size, atol=1e-9)
        # a similarity: [[a, -b], [b, a]]
        assert matrix[0, 0] == pytest.approx(matrix[1, 1]) and matrix[0, 1] == pytest.approx(-matrix[1, 0])


def test_matrix_rejects_degenerate_eyes():
    with pytest.raises(ValueError):
        eye_alignment_matrix((10.0, 10.0), (10.0, 10.0), GRAY)
    with pytest.raises(ValueError):
        eye_alignment_matrix((np.nan, 10.0), (30.0, 10.0), GRAY)


@pytest.mark.parametrize("eye_distance", [80.0, 30.0, 12.0])  # shrink ~4.5x (supersampled), ~1.7x, enlarge ~1.5x
def test_rotated_eye_dots_land_on_template_and_level(eye_distance):
    angle = np.radians(30.0)
    centre = np.array([200.0, 180.0])
    half = 0.5 * eye_distance * np.array([np.cos(angle), np.sin(angle)])
    eyes = np.stack([centre - half, centre + half])  # image-left eye first, the pair tilted by 30 degrees
    image = eye_dots(360, 400, eyes, sigma=eye_distance / 12)
    (crop,) = align_faces(image, faces_with_eyes(eyes), GRAY)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    found = dot_centres(crop)
    # measured error < 0.03 px; 0.1 px also catches a forgotten half-pixel shift of the supersampled grid
    np.testing.assert_allclose(found, np.array(GRAY.eyes) * GRAY.input_size, atol=0.1)
    assert abs(found[1, 1] - found[0, 1]) < 0.1  # level


def test_swapped_eyes_give_an_upside_down_crop_not_a_crash():
    eyes = np.array([[260.0, 100.0], [200.0, 100.0]])  # image-left eye on the right: a face upside down
    image = eye_dots(200, 400, eyes, sigma=5)
    (crop,) = align_faces(image, faces_with_eyes(eyes), GRAY)
    np.testing.assert_allclose(dot_centres(crop), np.array(GRAY.eyes) * GRAY.input_size, atol=0.1)


def test_no_faces_gives_no_crops():
    assert align_faces(np.zeros((50, 60, 3), np.uint8), Faces.empty(), GRAY) == []
    assert preprocess_batch([], GRAY).shape == (0, 1, 48, 48)


@pytest.mark.parametrize(("cfg", "shape"), [(GRAY, (48, 48)), (COLOR, (64, 64, 3))])
def test_crop_shape_and_dtype_follow_cfg(cfg, shape):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    eyes = np.array([[100.0, 100.0], [140.0, 104.0]])
    faces = faces_with_eyes(eyes, box=(80, 70, 160, 150))
    two = Faces(
        xyxy=np.concatenate([faces.xyxy] * 2),
        score=np.ones(2, np.float32),
        keypoints=np.concatenate([faces.keypoints, faces.keypoints + 50]),
    )
    crops = align_faces(image, two, cfg)
    assert len(crops) == 2 and all(c.shape == shape and c.dtype == np.uint8 for c in crops)
    batch = preprocess_batch(crops, cfg)
    assert batch.shape == (2, cfg.channels, cfg.input_size, cfg.input_size)


def test_color_crop_keeps_bgr_order():
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :, 0] = 255  # pure blue in BGR
    (crop,) = align_faces(image, faces_with_eyes(np.array([[40.0, 50.0], [60.0, 50.0]])), COLOR)
    assert crop[..., 0].min() == 255 and crop[..., 1:].max() == 0


@pytest.mark.parametrize(
    "eyes",
    [np.array([[50.0, 50.0], [50.0, 50.0]]), np.array([[np.nan, np.nan], [np.nan, np.nan]])],
    ids=["same-point", "nan"],
)
def test_degenerate_eyes_fall_back_to_the_box(eyes):
    image = np.full((120, 160, 3), 90, np.uint8)
    (crop,) = align_faces(image, faces_with_eyes(eyes, box=(40, 30, 100, 90)), GRAY)
    assert crop.shape == (48, 48)
    # the box fallback is the eye mapping with eyes at BOX_EYES of the box
    expected = box_alignment_matrix(np.array([40, 30, 100, 90]), GRAY)
    np.testing.assert_array_equal(crop, align_face(image, expected, GRAY))


def test_a_model_without_an_eye_template_gets_the_detector_box_unrotated():
    """Issue 8: a model trained on crops of unknown alignment (``eyes`` None) is fed the square around the box centre,
    whatever the eyes say, since it never saw eye-aligned crops."""
    image = np.full((120, 160, 3), 255, np.uint8)
    image[30:90, 40:100] = np.linspace(0, 180, 60, dtype=np.uint8)[None, :, None]  # the box: a horizontal ramp
    tilted_eyes = np.array([[50.0, 40.0], [90.0, 80.0]])
    cfg = replace(GRAY, eyes=None)
    (crop,) = align_faces(image, faces_with_eyes(tilted_eyes, box=(40, 30, 100, 90)), cfg)
    box = cv2.cvtColor(image[30:90, 40:100], cv2.COLOR_BGR2GRAY)
    expected = cv2.resize(box, (48, 48), interpolation=cv2.INTER_AREA)
    assert crop.shape == (48, 48) and crop.max() < 200  # nothing of the white outside the box
    assert np.abs(crop.astype(int) - expected).mean() < 3  # the box, unrotated
    # a wide box gives a square around its centre (context above and below), never a squashed face
    (wide,) = align_faces(image, faces_with_eyes(tilted_eyes, box=(40, 45, 100, 75)), cfg)
    np.testing.assert_allclose(wide, crop, atol=3)


def test_degenerate_eyes_and_box_do_not_crash():
    image = np.full((20, 20, 3), 7, np.uint8)
    eyes = np.array([[5.0, 5.0], [5.0, 5.0]])
    (crop,) = align_faces(image, faces_with_eyes(eyes, box=(5, 5, 5, 5)), GRAY)
    assert crop.shape == (48, 48) and (crop == 7).all()


def test_face_beyond_the_frame_edge_is_padded():
    image = np.full((100, 100, 3), 200, np.uint8)
    (crop,) = align_faces(image, faces_with_eyes(np.array([[-30.0, -20.0], [10.0, -20.0]])), GRAY)
    assert crop.shape == (48, 48) and (crop == 200).all()  # edge pixels repeated, no black bars


@pytest.mark.skipif(not blazeface_module.mediapipe_available(), reason="mediapipe not installed")
def test_real_tilted_face_aligns_upright():
    from affectlens.detect import create_detector

    image = cv2.imread(str(shared_file("images", "single_face.jpg")))
    height, width = image.shape[:2]
    tilted = cv2.warpAffine(image, cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.0), (width, height))
    cfg = ModelConfig(input_size=96)  # large enough for BlazeFace to re-detect the face in the crop
    with create_detector("mediapipe-short") as detector:
        faces = detector.detect(tilted)
        assert len(faces) == 1
        (crop,) = align_faces(tilted, faces, cfg)
        # run the detector again on the crop, padded (short range wants some context around a face)
        padded = cv2.copyMakeBorder(cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR), 48, 48, 48, 48, cv2.BORDER_CONSTANT)
        again = detector.detect(padded)
    assert len(again) == 1
    eyes = again.keypoints[0, [FaceKeypoint.RIGHT_EYE, FaceKeypoint.LEFT_EYE]] - 48
    # the same detector found the eyes where alignment put them, and level, within ~2% of the crop
    np.testing.assert_allclose(eyes, np.array(cfg.eyes) * cfg.input_size, atol=0.025 * cfg.input_size)
    assert abs(eyes[1, 1] - eyes[0, 1]) < 0.02 * cfg.input_size
