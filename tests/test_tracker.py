"""FaceTracker: synthetic motion (ids, gaps, crossings, frame rates) and real clips (acceptance criteria)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from affectlens.core import Faces
from affectlens.track import BoxKalman, BoxMotionNoise, FaceTracker, SceneCutDetector, box_iou, greedy_match
from helpers import shared_path

SIDE = 80.0  # pixels, side of the synthetic faces


def make_faces(boxes: Sequence[Sequence[float]], scores: Sequence[float] | None = None) -> Faces:
    """Faces with boxes (N, 4) xyxy pixels, scores (N,) (default 0.9) and keypoints at the box centres."""
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    score = np.full(len(xyxy), 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    return Faces(xyxy=xyxy, score=score, keypoints=np.repeat(centres[:, None], 6, axis=1))


def square(cx: float, cy: float, side: float = SIDE) -> list[float]:
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def track_sequence(
    tracker: FaceTracker, timestamps_ms: Sequence[float], boxes_at: Callable[[float], list[list[float]]]
) -> list[Faces]:
    """Run ``tracker`` over frames whose boxes are ``boxes_at(t_ms)``."""
    return [tracker.update(make_faces(boxes_at(t)), t) for t in timestamps_ms]


def frame_times(fps: float, seconds: float) -> np.ndarray:
    return np.arange(round(seconds * fps)) * 1000.0 / fps


def ids_of(outputs: Sequence[Faces], row: int = 0) -> list[int]:
    return [int(f.track_id[row]) for f in outputs if len(f) > row]


# ---------------------------------------------------------------- helpers of the module


def test_box_iou_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [1.0, 50 / 150, 0.0])
    np.testing.assert_allclose(iou[1], 0.0)
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_greedy_match_takes_best_pairs_first():
    score = np.array([[0.9, 0.8], [0.85, 0.1]])
    rows, cols = greedy_match(score, 0.05)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0), (1, 1)]
    rows, cols = greedy_match(score, 0.5)
    assert rows.tolist() == [0] and cols.tolist() == [0]
    assert len(greedy_match(np.zeros((0, 3)))[0]) == 0


# ---------------------------------------------------------------- synthetic motion


def test_linear_motion_keeps_one_id():
    tracker = FaceTracker()
    out = track_sequence(tracker, frame_times(30, 3.0), lambda t: [square(100 + 0.2 * t, 200 + 0.05 * t)])
    ids = ids_of(out)
    assert ids[0] == -1, "min_hits=2: a face's first frame has no id yet"
    assert set(ids[1:]) == {1}
    assert tracker.stats.ids_issued == 1 and tracker.stats.tracks_started == 1


def test_first_frame_gets_an_id_with_min_hits_1():
    out = track_sequence(FaceTracker(min_hits=1), frame_times(30, 0.5), lambda t: [square(200, 200)])
    assert set(ids_of(out)) == {1}


@pytest.mark.parametrize("dy", [0.0, 30.0], ids=["head-on", "offset"])
def test_two_crossing_boxes_keep_their_ids(dy: float):
    # A goes right at 300 px/s, B left at 270 px/s; they cross at t = 1053 ms, between frames (boxes that coincide
    # exactly are indistinguishable), head-on or offset by dy. Rows are shuffled every frame.
    rng = np.random.default_rng(0)
    tracker = FaceTracker()
    a_ids, b_ids = [], []
    for t in frame_times(30, 2.0):
        boxes = [square(200 + 0.3 * t, 200), square(800 - 0.27 * t, 200 + dy)]
        order = rng.permutation(2)
        out = tracker.update(make_faces([boxes[i] for i in order]), t)
        np.testing.assert_array_equal(out.xyxy, np.asarray([boxes[i] for i in order], np.float32))
        a_ids.append(int(out.track_id[np.flatnonzero(order == 0)[0]]))
        b_ids.append(int(out.track_id[np.flatnonzero(order == 1)[0]]))
    assert len(set(a_ids[1:])) == 1 and len(set(b_ids[1:])) == 1
    assert a_ids[-1] != b_ids[-1] and min(a_ids[-1], b_ids[-1]) > 0


def test_occluded_crossing_face_keeps_its_id():
    # B passes behind A: the detector misses B for 200 ms around the crossing; the prediction carries it across.
    tracker = FaceTracker()
    a_ids, b_ids = [], []
    for t in frame_times(30, 2.0):
        a, b = square(200 + 0.3 * t, 200), square(800 - 0.3 * t, 210)
        hidden = 900 <= t < 1100
        out = tracker.update(make_faces([a] if hidden else [a, b]), t)
        a_ids.append(int(out.track_id[0]))
        if not hidden:
            b_ids.append(int(out.track_id[1]))
    assert len(set(a_ids[1:])) == 1
    assert len(set(b_ids[1:])) == 1 and b_ids[-1] != a_ids[-1]
    assert tracker.stats.recoveries == 1


@pytest.mark.parametrize(("gap_ms", "same_id"), [(300.0, True), (650.0, True), (800.0, False), (1500.0, False)])
def test_gap_shorter_than_max_missing_keeps_the_id(gap_ms: float, same_id: bool):
    tracker = FaceTracker(max_missing_ms=700.0)
    before = track_sequence(tracker, frame_times(30, 1.0), lambda t: [square(300, 200)])
    after = track_sequence(tracker, 1000.0 + gap_ms + frame_times(30, 0.5), lambda t: [square(300, 200)])
    first, second = ids_of(before)[-1], ids_of(after)[-1]
    assert first == 1
    assert (second == first) is same_id
    assert tracker.stats.ids_issued == (1 if same_id else 2)


def test_empty_frames_age_the_tracks():
    tracker = FaceTracker(max_missing_ms=500.0)
    track_sequence(tracker, frame_times(30, 0.5), lambda t: [square(300, 200)])
    for t in 500.0 + frame_times(30, 1.0):
        out = tracker.update(Faces.empty(), t)
        assert len(out) == 0 and out.track_id.shape == (0,) and out.track_id.dtype == np.int64
    assert tracker.active_ids == []
    assert tracker.stats.tracks_ended == 1


def test_rows_keep_their_order_and_other_fields():
    tracker = FaceTracker()
    boxes = [square(100, 100), square(300, 100), square(500, 100)]
    probs = np.eye(3, dtype=np.float32)
    for k, t in enumerate(frame_times(30, 0.5)):
        order = [k % 3, (k + 1) % 3, (k + 2) % 3]
        faces = make_faces([boxes[i] for i in order])
        faces = faces.with_emotions(probs[order], np.zeros((3, 2), np.float32), ("a", "b", "c"))
        faces.data["extra"] = np.array(order)
        out = tracker.update(faces, t)
        assert out is not faces and out.data is not faces.data
        np.testing.assert_array_equal(faces.track_id, [-1, -1, -1])  # the input is not modified
        for name in ("xyxy", "score", "keypoints", "probs", "valence_arousal"):
            np.testing.assert_array_equal(getattr(out, name), getattr(faces, name))
        np.testing.assert_array_equal(out.data["extra"], order)
        assert out.labels == faces.labels
        if k > 0:  # the id follows the box, whatever its row: box i gets id i + 1
            np.testing.assert_array_equal(out.track_id, np.array(order) + 1)


def test_low_score_detections_extend_tracks_but_never_start_them():
    tracker = FaceTracker(high_score=0.6, low_score=0.3)
    scores = [0.9] * 5 + [0.45] * 10 + [0.9] * 3
    ids = []
    for k, (t, score) in enumerate(zip(frame_times(30, 1.0), scores, strict=False)):
        out = tracker.update(make_faces([square(300 + 2 * k, 200), square(600, 200)], [score, 0.45]), t)
        ids.append(out.track_id.tolist())
    assert {i[0] for i in ids[1:]} == {1}, "the low-score face keeps its track"
    assert {i[1] for i in ids} == {-1}, "a face only ever seen at a low score gets no id"
    assert tracker.stats.low_score_matches == 10
    # Below low_score, a face is ignored: its track coasts and the row keeps -1.
    out = tracker.update(make_faces([square(336, 200)], [0.2]), 700.0)
    assert out.track_id.tolist() == [-1] and tracker.active_ids == [1]


def test_a_one_frame_false_positive_gets_no_id():
    tracker = FaceTracker()
    out = [tracker.update(make_faces([square(300, 200)] if k == 3 else []), k * 33.3) for k in range(10)]
    assert all((f.track_id == -1).all() for f in out)
    assert tracker.stats.tracks_started == 1 and tracker.stats.ids_issued == 0


def test_scene_cut_ends_every_track():
    tracker = FaceTracker()
    before = track_sequence(tracker, frame_times(30, 0.5), lambda t: [square(300, 200)])
    out = tracker.update(make_faces([square(300, 200)]), 500.0, scene_cut=True)
    after = tracker.update(make_faces([square(300, 200)]), 533.0)
    assert ids_of(before)[-1] == 1 and out.track_id[0] == -1 and after.track_id[0] == 2


def test_time_going_back_starts_a_new_sequence():
    tracker = FaceTracker()
    track_sequence(tracker, frame_times(30, 0.5), lambda t: [square(300, 200)])
    out = track_sequence(tracker, frame_times(30, 0.2), lambda t: [square(300, 200)])
    assert ids_of(out) == [-1] + [1] * (len(out) - 1)
    assert tracker.stats.updates == len(out)


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="low_score"):
        FaceTracker(high_score=0.3, low_score=0.6)
    with pytest.raises(ValueError, match="new_track_score"):
        FaceTracker(high_score=0.6, new_track_score=0.5)
    with pytest.raises(ValueError, match="min_hits"):
        FaceTracker(min_hits=0)
    with pytest.raises(ValueError, match="finite"):
        FaceTracker().update(Faces.empty(), float("nan"))


# ---------------------------------------------------------------- time, not frames


def scenario(t: float) -> list[list[float]]:
    """Three faces over 3 s: A walks right at 250 px/s with a 400 ms detector dropout; B sits still and leaves for
    1 s (longer than max_missing_ms); C crosses A's path going left."""
    boxes = []
    if not 1200 <= t < 1600:
        boxes.append(square(100 + 0.25 * t, 300 + 20 * np.sin(t / 300)))
    if not 1000 <= t < 2000:
        boxes.append(square(900, 120))
    boxes.append(square(1000 - 0.2 * t, 330))
    return boxes


def canonical_ids(outputs: Sequence[Faces]) -> list[tuple[int, ...]]:
    """Ids renamed by order of first appearance, so that two runs compare by identity pattern."""
    names: dict[int, int] = {-1: -1}
    result = []
    for faces in outputs:
        for i in faces.track_id.tolist():
            names.setdefault(i, len(names))
        result.append(tuple(names[i] for i in faces.track_id.tolist()))
    return result


def test_the_same_motion_at_15_and_60_fps_gives_the_same_ids():
    slow_times = frame_times(15, 3.0)
    fast_times = frame_times(60, 3.0)
    slow = track_sequence(FaceTracker(), slow_times, scenario)
    fast = track_sequence(FaceTracker(), fast_times, scenario)
    common = np.isin(fast_times, slow_times)
    assert common.sum() == len(slow_times)
    slow_ids = canonical_ids(slow)[1:]  # frame 0: no id yet at either rate
    fast_ids = [ids for ids, keep in zip(canonical_ids(fast), common, strict=True) if keep][1:]
    assert slow_ids == fast_ids
    assert len({i for ids in slow_ids for i in ids if i >= 0}) == 4, "A, B, C, and B again after its long absence"


def test_kalman_velocity_is_per_second():
    # 150 px/s sampled at 15 and 60 fps: the filter estimates the same velocity in pixels per second.
    for fps in (15, 60):
        tracker = FaceTracker()
        track_sequence(tracker, frame_times(fps, 2.0), lambda t: [square(100 + 0.15 * t, 200)])
        assert tracker._kalman.vel[0, 0] == pytest.approx(150.0, rel=0.05), fps


def test_box_kalman_matches_the_textbook_filter():
    # The 8x8 filter split into 2x2 filters per coordinate must equal x = F x, P = F P F' + Q, then the usual update.
    noise = BoxMotionNoise()
    kalman = BoxKalman(noise)
    kalman.add(np.array([[100.0, 50.0, 40.0, 60.0]]))
    x = np.array([[100.0, 50.0, 40.0, 60.0], [0.0] * 4])  # per coordinate: (position, velocity)
    p = [np.diag([noise.measurement_noise**2 * s**2, noise.initial_velocity**2 * s**2]) for s in (40, 60, 40, 60)]
    rng = np.random.default_rng(0)
    for dt in (0.033, 0.1, 0.017, 0.25, 0.033):
        size = np.maximum(kalman.pos[0, [2, 3, 2, 3]], 1.0)
        kalman.predict(dt)
        f = np.array([[1.0, dt], [0.0, 1.0]])
        for c in range(4):
            q_v, q_p = (noise.velocity_noise * size[c]) ** 2, (noise.position_noise * size[c]) ** 2
            q = q_v * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]]) + np.diag([q_p * dt, 0.0])
            x[:, c] = f @ x[:, c]
            p[c] = f @ p[c] @ f.T + q
        z = kalman.pos[0] + rng.normal(0, 3, 4)
        kalman.correct(np.array([0]), z[None])
        for c, s in enumerate(z[[2, 3, 2, 3]]):
            gain = p[c][:, 0] / (p[c][0, 0] + (noise.measurement_noise * s) ** 2)
            x[:, c] += gain * (z[c] - x[0, c])
            p[c] = (np.eye(2) - np.outer(gain, [1.0, 0.0])) @ p[c]
        np.testing.assert_allclose(kalman.pos[0], x[0], rtol=1e-9)
        np.testing.assert_allclose(kalman.vel[0], x[1], rtol=1e-9, atol=1e-9)


def test_update_cost_is_small():
    tracker = FaceTracker()
    frames = [make_faces([square(100 + 150 * i + k, 200 + k) for i in range(5)]) for k in range(200)]
    start = time.process_time()
    for k, faces in enumerate(frames):
        tracker.update(faces, k * 33.3)
    per_update_ms = (time.process_time() - start) * 1e3 / len(frames)
    assert per_update_ms < 1.0, f"{per_update_ms:.3f} ms per update of 5 faces (measured ~0.09 ms)"


# ---------------------------------------------------------------- scene cuts from pixels


def test_scene_cut_detector_flags_a_cut_not_a_small_change():
    a = np.full((90, 160, 3), 30, np.uint8)
    a[:, 80:] = 220  # a scene: dark left, bright right
    b = a + 5  # the same scene a little brighter
    c = np.full((90, 160, 3), 30, np.uint8)
    c[:45] = 220  # another scene: bright top, dark bottom
    cuts = SceneCutDetector()
    assert cuts.update(a) is False  # the first frame is never a cut
    assert cuts.update(b) is False and cuts.last_difference < 6
    assert cuts.update(c) is True
    cuts.reset()
    assert cuts.update(c) is False


# ---------------------------------------------------------------- real clips


@dataclass
class Clip:
    """A video's detections, once: per frame the timestamps (ms), Faces and pixel-based cut flags."""

    timestamps_ms: list[float]
    faces: list[Faces]
    cuts: list[bool]

    def track(self, tracker: FaceTracker, use_cuts: bool = True) -> list[Faces]:
        return [
            tracker.update(f, t, scene_cut=use_cuts and c)
            for t, f, c in zip(self.timestamps_ms, self.faces, self.cuts, strict=True)
        ]

    @property
    def cut_frames(self) -> list[int]:
        return [i for i, c in enumerate(self.cuts) if c]


@pytest.fixture(scope="module")
def clips() -> Callable[[str], Clip]:
    """``clips(name)`` runs the default detector over ``../shared/data/videos/<name>`` once per module."""
    from affectlens.detect import create_detector
    from affectlens.detect.blazeface import mediapipe_available
    from affectlens.io import open_source

    if not mediapipe_available():
        pytest.skip("mediapipe is not installed: pip install mediapipe==0.10.21")
    cache: dict[str, Clip] = {}

    def load(name: str) -> Clip:
        if name not in cache:
            path = shared_path("videos", name)
            clip = Clip([], [], [])
            cuts = SceneCutDetector()
            with create_detector("mediapipe", min_confidence=0.3) as detector, open_source(path) as source:
                for frame in source:
                    clip.timestamps_ms.append(frame.timestamp_ms)
                    clip.faces.append(detector.detect(frame.image))
                    clip.cuts.append(cuts.update(frame.image))
            cache[name] = clip
        return cache[name]

    return load


def identity_errors(clip: Clip, outputs: Sequence[Faces], max_missing_ms: float = 700.0, min_iou: float = 0.5):
    """Count id errors against "the same physical face" defined from the boxes, within a shot (between cuts):

    - ``switches``: a face in consecutive frames (IoU >= min_iou with a face of the previous frame) whose id changes;
    - ``fragments``: a new id starting where another id of the same shot was last seen less than
      ``max_missing_ms`` before, at IoU >= min_iou (the face was lost and came back under a new id);
    - ``carried``: ids present on both sides of a cut (one id for faces of two shots: different people here).
    """
    shot = np.cumsum(clip.cuts)
    switches = fragments = 0
    last_seen: dict[int, tuple[int, np.ndarray]] = {}  # id -> (frame, box)
    shots_of: dict[int, set[int]] = {}
    for i, faces in enumerate(outputs):
        has_id = faces.track_id >= 0
        ids, boxes = faces.track_id[has_id], faces.xyxy[has_id]
        if i > 0 and shot[i] == shot[i - 1] and len(ids):
            prev = outputs[i - 1]
            prev_ids, prev_boxes = prev.track_id[prev.track_id >= 0], prev.xyxy[prev.track_id >= 0]
            if len(prev_ids):
                iou = box_iou(boxes, prev_boxes)
                best = iou.argmax(axis=1)
                switches += int(np.count_nonzero((iou.max(axis=1) >= min_iou) & (ids != prev_ids[best])))
        for k, box in zip(ids.tolist(), boxes, strict=True):
            if k not in last_seen:
                for other, (j, other_box) in last_seen.items():
                    recent = clip.timestamps_ms[i] - clip.timestamps_ms[j] <= max_missing_ms and shot[j] == shot[i]
                    if other not in ids and recent and box_iou(box[None], other_box[None])[0, 0] >= min_iou:
                        fragments += 1
                        break
            last_seen[k] = (i, box)
            shots_of.setdefault(k, set()).add(int(shot[i]))
    carried = sum(len(s) > 1 for s in shots_of.values())
    return {"switches": switches, "fragments": fragments, "carried": carried, "distinct_ids": len(shots_of)}


@pytest.mark.slow
def test_wolfgang_one_face_keeps_one_id(clips):
    clip = clips("WolfgangLanger_Pexels.mp4")
    out = clip.track(FaceTracker())
    with_face = [f for f in out if len(f)]
    ids = np.concatenate([f.track_id for f in with_face])
    dominant = np.bincount(ids[ids >= 0]).argmax()
    share = np.mean([dominant in f.track_id for f in with_face])
    print(f"\nWolfgangLanger: {len(with_face)}/{len(out)} frames with a face, {share:.1%} carry id {dominant}")
    assert len(with_face) >= 0.9 * len(out)
    assert share >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("use_cuts", [False, True], ids=["iou-gating", "scene-cuts"])
def test_face_noface_track_ends_at_the_cut(clips, use_cuts: bool):
    clip = clips("face_noface.mov")
    cut = clip.cut_frames[0]
    man_frames = [i for i, f in enumerate(clip.faces) if len(f) and f.score.max() > 0.9]  # the cartoon's < 0.7
    assert cut == man_frames[-1] + 1, "pixels and detections agree: the man's face stops at the cut"
    assert 40 <= cut <= len(clip.faces) - 40
    out = clip.track(FaceTracker(), use_cuts=use_cuts)
    before = {int(i) for f in out[:cut] for i in f.track_id if i >= 0}
    after = {int(i) for f in out[cut:] for i in f.track_id if i >= 0}
    man = np.bincount([int(i) for f in out[:cut] for i in f.track_id if i >= 0]).argmax()
    share = np.mean([man in f.track_id for f in out[:cut]])
    print(
        f"\nface_noface: cut at frame {cut}; ids before {sorted(before)}, after {sorted(after)} (cartoon false "
        f"positives); man's id on {share:.1%} of the frames before the cut"
    )
    assert share >= 0.95
    assert not before & after, "no id survives the cut"


@pytest.mark.slow
def test_noface_face_track_starts_after_the_cut(clips):
    clip = clips("noface_face.mov")
    cut = clip.cut_frames[0]
    first_face = next(i for i, f in enumerate(clip.faces) if len(f) and f.score.max() > 0.9)  # the cartoon's < 0.7
    assert cut == first_face, "pixels and detections agree: the man appears at the cut"
    out = clip.track(FaceTracker())
    ids_before = {int(i) for f in out[:cut] for i in f.track_id if i >= 0}
    first_id_frame = next(i for i, f in enumerate(out) if (f.track_id >= 0).any())
    man = int(out[first_id_frame].track_id.max())
    share = np.mean([man in f.track_id for f in out[cut:]])
    print(f"\nnoface_face: cut at frame {cut}; first id {man} at frame {first_id_frame}; on {share:.1%} after the cut")
    assert not ids_before, "the cartoon's one-frame false positives get no id"
    assert cut <= first_id_frame <= cut + 2
    assert share >= 0.95


@pytest.mark.slow
def test_hamilton_several_faces_few_identity_errors(clips):
    clip = clips("short_hamilton_clip.mp4")
    assert clip.cut_frames == [20, 82, 211]  # checked by eye: singer / close-up / singer / audience
    tracker = FaceTracker()
    out = clip.track(tracker)
    errors = identity_errors(clip, out)
    most_at_once = max(int((f.track_id >= 0).sum()) for f in out)
    geometry_only = identity_errors(clip, clip.track(FaceTracker(), use_cuts=False))
    print(f"\nshort_hamilton_clip: {errors}, up to {most_at_once} ids at once, {tracker.stats}")
    print(f"without scene cuts: {geometry_only} (an id carried across a cut goes to a different person)")
    assert most_at_once >= 2
    assert errors["carried"] == 0
    # By eye the clip holds 12 faces that stay on screen: the singer (two shots), a close-up performer, at least 5
    # audience faces in shot 2 and 4 in shot 4. Each lost-and-found face would add a fragment and an id; allow 2 id
    # errors in all and 4 ids beyond the 12 (false positives that last 2+ frames, faces re-entering after 700 ms).
    assert errors["switches"] + errors["fragments"] <= 2
    assert 8 <= errors["distinct_ids"] <= 16
