"""Face detectors: registry, contract (shapes, empty frames, clipping), and behaviour on the shared images/videos."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.core import FaceKeypoint, Faces
from affectlens.detect import FaceDetector, HaarFaceDetector, create_detector, list_detectors
from affectlens.detect import blazeface as blazeface_module
from affectlens.detect import haar as haar_module
from affectlens.detect.base import make_faces, overlap_with_any

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_mediapipe = pytest.mark.skipif(
    not blazeface_module.mediapipe_available(), reason="mediapipe not installed (pip install mediapipe==0.10.21)"
)


def shared_file(*parts: str) -> Path:
    """A file under ``<repo>/../shared/data``, or skip the test saying what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the shared data (../shared/data beside the repository) is absent")
    return path


def read_image(name: str) -> np.ndarray:
    image = cv2.imread(str(shared_file("images", name)))
    assert image is not None, name
    return image


def read_frames(name: str) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(shared_file("videos", name)))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def check_faces(faces: Faces, image: np.ndarray) -> None:
    """The detector contract: shapes, dtypes, boxes inside the image, scores in [0, 1] sorted down."""
    height, width = image.shape[:2]
    n = len(faces)
    assert faces.xyxy.shape == (n, 4) and faces.xyxy.dtype == np.float32
    assert faces.score.shape == (n,) and faces.score.dtype == np.float32
    assert faces.keypoints.shape == (n, 6, 2) and faces.keypoints.dtype == np.float32
    assert np.all((faces.score >= 0) & (faces.score <= 1))
    assert np.all(np.diff(faces.score) <= 0), "faces must be sorted by decreasing score"
    assert (
        np.all(faces.xyxy[:, [0, 1]] >= 0) and np.all(faces.xyxy[:, 2] <= width) and np.all(faces.xyxy[:, 3] <= height)
    )
    assert np.all(faces.xyxy[:, 2] > faces.xyxy[:, 0]) and np.all(faces.xyxy[:, 3] > faces.xyxy[:, 1])


@pytest.fixture(scope="module")
def mediapipe_detector():
    if not blazeface_module.mediapipe_available():
        pytest.skip("mediapipe not installed (pip install mediapipe==0.10.21)")
    with create_detector("mediapipe") as detector:
        yield detector


# --- registry --------------------------------------------------------------------------------------------------


def test_list_detectors_names_the_backends():
    names = list_detectors()
    assert "haar" in names
    assert ("mediapipe" in names) == blazeface_module.mediapipe_available()
    if "mediapipe" in names:
        assert names[0] == "mediapipe" and {"mediapipe-short", "mediapipe-full"} <= set(names)


def test_unknown_detector_lists_choices():
    with pytest.raises(ValueError, match=r"unknown face detector 'yolo'.*mediapipe.*haar"):
        create_detector("yolo")


@pytest.mark.parametrize("kwargs", [{"min_confidence": 1.5}, {"min_confidence": -0.1}, {"max_faces": -1}])
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        create_detector("haar", **kwargs)


def test_missing_mediapipe_names_the_install_command(monkeypatch):
    blazeface_module._solution_class.cache_clear()
    # make every `import mediapipe...` fail, as if not installed (submodules imported by earlier tests included)
    for name in [m for m in sys.modules if m == "mediapipe" or m.startswith("mediapipe.")] + ["mediapipe"]:
        monkeypatch.setitem(sys.modules, name, None)
    try:
        assert "mediapipe" not in list_detectors() and "haar" in list_detectors()
        with pytest.raises(ImportError, match=r"pip install mediapipe==0\.10\.21"):
            create_detector("mediapipe")
        with pytest.raises(ImportError, match=r"pip install mediapipe==0\.10\.21"):
            blazeface_module.BlazeFaceDetector("full")
    finally:
        blazeface_module._solution_class.cache_clear()


def test_haar_without_cascade_fails_clearly(monkeypatch):
    monkeypatch.setattr(haar_module, "haar_cascade_path", lambda: "/nonexistent/haarcascade_frontalface_default.xml")
    assert "haar" not in list_detectors()
    with pytest.raises(RuntimeError, match="Haar cascade"):
        HaarFaceDetector()


# --- shared post-processing -------------------------------------------------------------------------------------


def test_make_faces_sorts_filters_clips_and_caps():
    xyxy = np.array([[-5, -5, 20, 20], [10, 10, 30, 30], [50, 50, 60, 60], [200, 200, 220, 220]], np.float32)
    score = np.array([0.6, 0.9, 0.3, 0.8], np.float32)
    keypoints = np.zeros((4, 6, 2), np.float32)
    faces = make_faces(xyxy, score, keypoints, width=100, height=80, min_confidence=0.5)
    # 0.3 is below min_confidence; the box at 200 lies outside the 100x80 image and vanishes when clipped
    np.testing.assert_allclose(faces.score, [0.9, 0.6])
    np.testing.assert_allclose(faces.xyxy, [[10, 10, 30, 30], [0, 0, 20, 20]])
    assert len(make_faces(xyxy, score, keypoints, 100, 80, max_faces=1)) == 1
    assert len(make_faces(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2)), 100, 80)) == 0


def test_overlap_with_any_is_intersection_over_smaller_box():
    boxes = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], np.float32)
    others = np.array([[-10, -10, 20, 20], [105, 100, 115, 110]], np.float32)
    np.testing.assert_allclose(overlap_with_any(boxes, others), [1.0, 0.5])
    assert overlap_with_any(boxes, np.zeros((0, 4), np.float32)).tolist() == [0.0, 0.0]


# --- haar -------------------------------------------------------------------------------------------------------


def test_haar_black_frame_is_empty():
    with create_detector("haar") as detector:
        assert isinstance(detector, FaceDetector)
        faces = detector.detect(np.zeros((240, 320, 3), np.uint8))
    assert isinstance(faces, Faces) and len(faces) == 0


def test_haar_finds_the_face_with_synthetic_keypoints():
    image = read_image("single_face.jpg")
    with create_detector("haar") as detector:
        faces = detector.detect(image)
    check_faces(faces, image)
    assert len(faces) >= 1
    x1, y1, x2, y2 = faces.xyxy[0]
    expected = np.array([x1, y1]) + haar_module.HAAR_KEYPOINTS * np.array([x2 - x1, y2 - y1])
    np.testing.assert_allclose(faces.keypoints[0], expected, atol=1.0)  # the box is not clipped in this image
    assert faces.keypoints[0, FaceKeypoint.RIGHT_EYE, 0] < faces.keypoints[0, FaceKeypoint.LEFT_EYE, 0]


def test_detect_rejects_non_images():
    with create_detector("haar") as detector, pytest.raises(ValueError, match="uint8 BGR"):
        detector.detect(np.zeros((10, 10), np.uint8))


# --- mediapipe --------------------------------------------------------------------------------------------------


@needs_mediapipe
@pytest.mark.parametrize("name", ["mediapipe", "mediapipe-short", "mediapipe-full"])
def test_mediapipe_black_frame_is_empty(name):
    with create_detector(name) as detector:
        assert isinstance(detector, FaceDetector) and detector.name == name
        faces = detector.detect(np.zeros((360, 640, 3), np.uint8))
    assert isinstance(faces, Faces) and len(faces) == 0
    assert faces.keypoints.shape == (0, 6, 2)


@needs_mediapipe
def test_closed_detector_refuses_and_close_is_idempotent():
    detector = create_detector("mediapipe")
    detector.close()
    detector.close()
    with pytest.raises(RuntimeError, match="closed"):
        detector.detect(np.zeros((32, 32, 3), np.uint8))


def test_single_face_image(mediapipe_detector):
    image = read_image("single_face.jpg")
    faces = mediapipe_detector.detect(image)
    check_faces(faces, image)
    assert len(faces) == 1
    eyes = faces.keypoints[0]
    assert eyes[FaceKeypoint.RIGHT_EYE, 0] < eyes[FaceKeypoint.LEFT_EYE, 0], "subject's right eye is image-left"
    x1, y1, x2, y2 = faces.xyxy[0]
    assert x1 < eyes[FaceKeypoint.NOSE_TIP, 0] < x2 and y1 < eyes[FaceKeypoint.NOSE_TIP, 1] < y2


def test_multi_face_image_gives_five_faces_by_default(mediapipe_detector):
    # Faces ~10% of the image width: below BlazeFace short range's scale, so the default adds the full-range model.
    image = read_image("multi_face.jpg")
    faces = mediapipe_detector.detect(image)
    check_faces(faces, image)
    assert len(faces) == 5


def test_max_faces_keeps_the_best(mediapipe_detector):
    image = read_image("multi_face.jpg")
    everything = mediapipe_detector.detect(image)
    with create_detector("mediapipe", max_faces=2) as detector:
        best = detector.detect(image)
    assert len(best) == 2
    np.testing.assert_allclose(best.score, everything.score[:2])


@pytest.mark.parametrize("name", ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"])
def test_posed_images_with_head_yaw(mediapipe_detector, name):
    image = read_image(name)
    faces = mediapipe_detector.detect(image)
    check_faces(faces, image)
    assert len(faces) == 1


def test_rolled_head_still_found(mediapipe_detector):
    image = read_image("single_face.jpg")
    height, width = image.shape[:2]
    rotated = cv2.warpAffine(image, cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.0), (width, height))
    faces = mediapipe_detector.detect(rotated)
    assert len(faces) == 1
    right, left = faces.keypoints[0, FaceKeypoint.RIGHT_EYE], faces.keypoints[0, FaceKeypoint.LEFT_EYE]
    # image rotated 25 degrees counter-clockwise: the eye line rises to the right (y decreases)
    angle = np.degrees(np.arctan2(-(left[1] - right[1]), left[0] - right[0]))
    assert 15 < angle < 35


def test_single_face_video(mediapipe_detector):
    frames = read_frames("single_face.mp4")
    assert len(frames) == 72
    mediapipe_detector.full_passes = 0
    counts = [len(mediapipe_detector.detect(frame)) for frame in frames]
    assert sum(c == 1 for c in counts) >= 0.95 * len(frames)
    # a large face: short range alone handles it, the full-range model never runs (the cheap path for video)
    assert mediapipe_detector.full_passes == 0


def test_cartoon_video_has_no_faces(mediapipe_detector):
    frames = read_frames("no_face.mp4")
    assert len(frames) >= 90
    with_faces = sum(len(mediapipe_detector.detect(frame)) > 0 for frame in frames)
    assert with_faces <= 0.06 * len(frames)  # measured: 4 of 95 frames, one low-score box each


@pytest.mark.slow
def test_close_up_video_keeps_its_face(mediapipe_detector):
    frames = read_frames("WolfgangLanger_Pexels.mp4")
    counts = np.array([len(mediapipe_detector.detect(frame)) for frame in frames])
    assert np.mean(counts == 1) >= 0.98
