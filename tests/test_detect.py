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
from affectlens.detect.tiling import (
    detect_in_tiles,
    merge_detections,
    parse_tiles,
    tile_grid,
    tile_plan,
    tiles_across,
    truncated_by_tile,
)

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
    assert mediapipe_detector.tile_passes == 0  # 640x360: never tiled


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


# --- tiled detection (group photos, crowds) ---------------------------------------------------------------------


def mosaic(columns: int = 3, rows: int = 2) -> np.ndarray:
    """``columns`` x ``rows`` copies of multi_face.jpg (1000x667, 5 faces) at the original size: 3000x1334, 30 faces."""
    return np.tile(read_image("multi_face.jpg"), (rows, columns, 1))


@pytest.mark.parametrize(
    ("value", "expected"), [("auto", "auto"), ("off", 1), ("OFF", 1), ("4", 4), (3, 3), (1, 1), (" 2 ", 2)]
)
def test_parse_tiles(value, expected):
    assert parse_tiles(value) == expected


@pytest.mark.parametrize("value", ["0", 0, -2, "many", "2.5", 2.5, True, ""])
def test_parse_tiles_rejects_nonsense(value):
    with pytest.raises(ValueError, match="'auto', 'off' or a number"):
        parse_tiles(value)


def test_auto_tiles_only_frames_much_larger_than_the_detector_input():
    # 640x360 and 960x540 video: no tiling, the cost of the common case is unchanged
    assert tiles_across("auto", 640, 360) == 1 and len(tile_plan(640, 360, 1)) == 0
    assert tiles_across("auto", 960, 540) == 1
    assert tiles_across("auto", 1280, 720) == 2 and len(tile_plan(1280, 720, 2)) == 2
    assert tiles_across("off", 7680, 4320) == 1 and tiles_across(4, 640, 360) == 4
    assert tiles_across("auto", 3000, 1334) == 5 and tiles_across("auto", 1334, 3000) == 5  # portrait: long side


def test_tile_grid_covers_the_frame_with_overlapping_squares():
    width, height, side = 3000, 1334, 750
    tiles = tile_grid(width, height, side, overlap=0.25)
    assert tiles.shape == (5 * 3, 4) and tiles.dtype == np.int64
    assert np.all(tiles[:, 2] - tiles[:, 0] == side) and np.all(tiles[:, 3] - tiles[:, 1] == side)
    assert tiles[:, [0, 1]].min() == 0 and tiles[:, 2].max() == width and tiles[:, 3].max() == height
    covered = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in tiles:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs, ys = np.unique(tiles[:, 0]), np.unique(tiles[:, 1])
    assert np.all(side - np.diff(xs) >= 0.25 * side - 1) and np.all(side - np.diff(ys) >= 0.25 * side - 1)  # rounding
    # a frame side shorter than the tile: one tile, as long as that side
    np.testing.assert_array_equal(tile_grid(500, 300, 750), [[0, 0, 500, 300]])
    with pytest.raises(ValueError):
        tile_grid(100, 100, 50, overlap=1.0)


def test_tile_plan_adds_coarser_levels_for_larger_faces():
    plan = tile_plan(7680, 4320, 15)
    sides = sorted(set((plan[:, 2] - plan[:, 0]).tolist()))
    assert len(sides) == 3 and sides[0] < 700 < sides[-1] < 7680
    ratios = np.diff(np.log([*sides, 7680])) / np.log(2.5)
    assert np.all(ratios <= 1.0 + 1e-6), "consecutive levels (and the whole frame) within a factor 2.5"
    assert plan[:, [0, 1]].min() >= 0 and plan[:, 2].max() <= 7680 and plan[:, 3].max() <= 4320
    assert len(tile_plan(3000, 1334, 1)) == 0


def test_tile_detections_are_mapped_to_frame_pixels():
    image = np.zeros((1000, 2000, 3), np.uint8)
    plan = np.array([[0, 0, 800, 800], [1200, 200, 2000, 1000]])
    seen = []

    def fake_detector(crop):  # one face at the same place in every tile, in pixels of the crop
        seen.append(crop.shape)
        keypoints = np.tile(np.array([[110.0, 120.0]], np.float32), (6, 1))[None]
        return np.array([[100, 100, 200, 220]], np.float32), np.array([0.9], np.float32), keypoints

    xyxy, score, keypoints, cut = detect_in_tiles(fake_detector, image, plan)
    assert seen == [(800, 800, 3), (800, 800, 3)]
    np.testing.assert_allclose(xyxy, [[100, 100, 200, 220], [1300, 300, 1400, 420]])
    np.testing.assert_allclose(keypoints[:, 0], [[110, 120], [1310, 320]])
    assert keypoints.shape == (2, 6, 2) and score.tolist() == pytest.approx([0.9, 0.9]) and not cut.any()
    empty = detect_in_tiles(fake_detector, image, np.zeros((0, 4), np.int64))
    assert [a.shape for a in empty] == [(0, 4), (0,), (0, 6, 2), (0,)]


def test_a_box_at_an_inner_tile_edge_is_truncated_but_not_at_the_frame_edge():
    tile = np.array([1000, 0, 1800, 800])  # the top edge is the frame's, the others are inner edges
    boxes = np.array([[1000, 100, 1100, 200], [1300, 0, 1400, 90], [1700, 700, 1800, 800], [1300, 300, 1400, 400]])
    assert truncated_by_tile(boxes.astype(np.float32), tile, width=3000, height=2000).tolist() == [
        True,
        False,
        True,
        False,
    ]


def test_merge_detections_removes_duplicates_across_tiles_and_passes():
    xyxy = np.array(
        [
            [100, 100, 200, 200],  # 0: a face seen whole by one tile
            [104, 98, 203, 201],  # 1: the same face, whole, from the neighbouring tile (IoU ~0.9): duplicate
            [100, 100, 150, 200],  # 2: its left half, cut by a tile edge, scoring higher: loses to the whole face
            [210, 100, 310, 200],  # 3: the next face, 10 px away: kept
            [400, 400, 800, 800],  # 4: a large face from the whole-frame pass
            [500, 480, 600, 580],  # 5: an eye of that face, taken for a face by a small tile: dropped
            [1000, 1000, 1100, 1100],  # 6: a face cut by a tile edge and found nowhere else: kept
        ],
        np.float32,
    )
    score = np.array([0.8, 0.85, 0.95, 0.7, 0.9, 0.65, 0.75], np.float32)
    truncated = np.array([False, False, True, False, False, False, True])
    keep = merge_detections(xyxy, score, truncated)
    assert keep.tolist() == [4, 1, 3, 6]  # whole boxes by score, then the cut ones
    assert merge_detections(xyxy[:2], score[:2]).tolist() == [1]
    assert merge_detections(np.zeros((0, 4)), np.zeros(0)).tolist() == []


def test_mosaic_image_finds_most_faces(mediapipe_detector):
    # 3x2 copies of multi_face.jpg at the original size (3000x1334, 30 faces ~100 px): shrunk to 192 px as a whole
    # frame, each face is 6 px and BlazeFace finds 1; the tiles see them at ~15% of their side.
    image = mosaic()
    faces = mediapipe_detector.detect(image)
    check_faces(faces, image)
    assert len(faces) >= 27
    assert np.mean(faces.score >= 0.7) >= 0.9, "most must start a track in video (track_confidence 0.7)"
    assert len(faces) <= 30
    centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
    tile_of_face = (centres // np.array([1000, 667])).astype(int)
    assert len({tuple(t) for t in tile_of_face}) == 6, "faces found in every copy"
    nose = faces.keypoints[:, FaceKeypoint.NOSE_TIP]
    inside = (nose > faces.xyxy[:, :2]) & (nose < faces.xyxy[:, 2:])
    assert inside.all(), "keypoints mapped to frame pixels with their box"
    with create_detector("mediapipe", tiles="off") as untiled:
        assert len(untiled.detect(image)) <= 2  # the whole-frame pass alone (the detector before tiling)


def test_tiled_boxes_and_keypoints_match_the_untiled_ones_moved(mediapipe_detector):
    # multi_face.jpg pasted at an odd offset into a large grey frame: tiles must give the same faces, moved
    original = read_image("multi_face.jpg")
    reference = mediapipe_detector.detect(original)
    assert len(reference) == 5
    frame = np.full((2200, 3600, 3), 114, np.uint8)
    dx, dy = 1333, 777
    frame[dy : dy + original.shape[0], dx : dx + original.shape[1]] = original
    faces = mediapipe_detector.detect(frame)
    assert len(faces) == 5
    # the same face seen at another scale: boxes differ by up to ~1/6 of the face, keypoints by less; a mapping
    # error would be off by a tile offset (hundreds of pixels)
    for box, points in zip(reference.xyxy, reference.keypoints, strict=True):
        moved = box + np.array([dx, dy, dx, dy])
        match = np.argmin(np.abs(faces.xyxy - moved).sum(axis=1))
        size = box[2] - box[0]
        assert np.abs(faces.xyxy[match] - moved).max() < 0.25 * size
        assert np.abs(faces.keypoints[match] - (points + np.array([dx, dy]))).max() < 0.25 * size


@needs_mediapipe
def test_tiles_option_reaches_the_detector():
    with create_detector("mediapipe", tiles="off") as detector:
        detector.detect(np.zeros((1334, 3000, 3), np.uint8))
        assert detector.tile_passes == 0
    with create_detector("mediapipe-full", tiles=3) as detector:
        detector.detect(np.zeros((360, 640, 3), np.uint8))
        assert detector.tile_passes == len(tile_plan(640, 360, 3)) > 0
    with pytest.raises(ValueError, match="'auto', 'off' or a number"):
        create_detector("mediapipe", tiles="lots")


def test_cli_mosaic_image_and_bad_tiles_value(tmp_path, capsys):
    from affectlens.cli import main

    path = tmp_path / "mosaic.png"
    cv2.imwrite(str(path), mosaic())
    out = tmp_path / "x.json"
    assert main(["analyze", str(path), "--json", str(out), "--no-progress"]) == 0
    import json

    records = json.loads(out.read_text())
    assert len(records) == 1 and len(records[0]["faces"]) >= 27
    capsys.readouterr()
    assert main(["analyze", str(path), "--json", str(out), "--detect-tiles", "zero"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("affectlens: error: --detect-tiles must be auto, off or a number")


@pytest.mark.slow
def test_crowd_8k_image_finds_most_faces(mediapipe_detector):
    # 8x7 copies of multi_face.jpg resized to 7680x4320: 280 faces ~100 px wide (1.3% of the long side)
    image = cv2.resize(mosaic(8, 7), (7680, 4320), interpolation=cv2.INTER_AREA)
    faces = mediapipe_detector.detect(image)
    check_faces(faces, image)
    assert 250 <= len(faces) <= 280


@pytest.mark.slow
def test_mosaic_video_reports_most_faces_on_tracks():
    # In a video, a face is reported once its track is confirmed (two detections, the first scoring >= 0.7): the
    # tiled faces must score high enough and be found frame after frame. 25 frames of the mosaic, panning slowly.
    from affectlens.core import Frame
    from affectlens.pipeline import Analyzer

    image = mosaic()
    height, width = image.shape[:2]
    frames = [
        Frame(
            image=cv2.warpAffine(image, np.float32([[1, 0, 2 * i], [0, 1, i]]), (width, height)),
            index=i,
            timestamp_ms=i * 40.0,
            source={"kind": "array"},
        )
        for i in range(25)
    ]
    counts = []

    class Count:
        def write(self, result):
            counts.append(len(result.faces))

    with Analyzer() as analyzer:
        analyzer.run(frames, [Count()])
    assert len(counts) == 25
    assert sum(c >= 27 for c in counts[1:]) >= 0.95 * 24  # frame 0: no track is confirmed yet


@pytest.mark.slow
def test_haar_tiles_scan_large_frames_at_higher_resolution():
    image = mosaic()
    with create_detector("haar") as detector:
        default = len(detector.detect(image))  # auto keeps Haar's 640 px shrink (its cost grows with pixels)
    with create_detector("haar", tiles=5) as detector:
        tiled = len(detector.detect(image))
    assert tiled >= default + 5
