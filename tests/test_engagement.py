"""EngagementScorer: weights over emotion probabilities, head-pose attention from the keypoints, per-track EMA."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.analytics import (
    DEFAULT_ENGAGEMENT_WEIGHTS,
    HEAD_POSE,
    EngagementScorer,
    attention_factor,
    engagement_weights,
    head_pose,
)
from affectlens.core import ENGAGEMENT, FaceKeypoint, Faces
from affectlens.emotions import EMOTIONS, UnknownLabelError

# A frontal face in pixels, by FaceKeypoint: eyes 60 px apart, nose halfway between the eye line and the mouth.
FRONTAL = np.array([[170, 200], [230, 200], [200, 232], [200, 264], [140, 210], [260, 210]], np.float32)


def face_keypoints(nose_dx: float = 0.0, nose_dy: float = 0.0) -> np.ndarray:
    """(6, 2) keypoints of FRONTAL with the nose tip moved by (dx, dy) pixels."""
    points = FRONTAL.copy()
    points[FaceKeypoint.NOSE_TIP] += (nose_dx, nose_dy)
    return points


def make_faces(probs, track_ids=None, keypoints=None) -> Faces:
    probs = np.asarray(probs, np.float32).reshape(-1, len(EMOTIONS))
    n = len(probs)
    return Faces(
        xyxy=np.tile(np.array([[130, 150, 270, 310]], np.float32), (n, 1)),
        score=np.ones(n, np.float32),
        keypoints=np.tile(FRONTAL, (n, 1, 1)) if keypoints is None else np.asarray(keypoints, np.float32),
        track_id=np.arange(n) if track_ids is None else np.asarray(track_ids),
        probs=probs,
        labels=EMOTIONS,
    )


def only(label: str) -> np.ndarray:
    probs = np.zeros(len(EMOTIONS), np.float32)
    probs[EMOTIONS.index(label)] = 1.0
    return probs


def test_weights_table_and_overrides():
    assert set(DEFAULT_ENGAGEMENT_WEIGHTS) == set(EMOTIONS)
    assert all(0.0 <= w <= 1.0 for w in DEFAULT_ENGAGEMENT_WEIGHTS.values())
    table = engagement_weights({"Happiness": 0.5, "anger": 1.0})  # synonyms, any case
    assert table["happy"] == 0.5 and table["angry"] == 1.0 and table["sad"] == DEFAULT_ENGAGEMENT_WEIGHTS["sad"]
    with pytest.raises(UnknownLabelError):
        EngagementScorer({"boredom": 0.1})
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        EngagementScorer({"happy": 1.5})


def test_engagement_is_the_weighted_sum_of_probabilities():
    scorer = EngagementScorer(attention=False, tau_ms=0.0)
    faces = make_faces([only(label) for label in EMOTIONS])
    out = scorer.update(faces, 0.0)
    np.testing.assert_allclose(out.data[ENGAGEMENT], [DEFAULT_ENGAGEMENT_WEIGHTS[e] for e in EMOTIONS], atol=1e-6)
    assert out.data[ENGAGEMENT][EMOTIONS.index("happy")] == 1.0
    mixed = 0.5 * only("happy") + 0.5 * only("sad")
    assert scorer.score(make_faces([mixed]))[0] == pytest.approx(0.55)
    assert EngagementScorer({"happy": 0.2}, attention=False).score(make_faces([only("happy")]))[0] == pytest.approx(0.2)
    assert HEAD_POSE[0] not in out.data  # no attention, no head angles


def test_engagement_stays_in_bounds():
    rng = np.random.default_rng(0)
    n = 200
    keypoints = np.tile(FRONTAL, (n, 1, 1)) + rng.normal(0, 25, (n, 6, 2)).astype(np.float32)
    keypoints[0] = 0.0  # degenerate: all points on one pixel
    faces = make_faces(rng.dirichlet(np.ones(len(EMOTIONS)) * 0.3, n), keypoints=keypoints)
    for attention in (True, False):
        scorer = EngagementScorer(attention=attention)
        for t in (0.0, 40.0, 80.0):
            value = scorer.update(faces, t).data[ENGAGEMENT]
            assert value.dtype == np.float32 and value.shape == (n,)
            assert np.all((value >= 0.0) & (value <= 1.0))


def test_head_pose_of_a_frontal_face_is_zero():
    yaw, pitch = head_pose(FRONTAL[None])
    assert abs(yaw[0]) < 1.0 and abs(pitch[0]) < 1.0
    assert attention_factor(yaw, pitch)[0] == 1.0


def test_yaw_sign_follows_the_nose():
    """Nose toward the subject's left eye (image right) = the head turned to the subject's left = positive yaw."""
    yaw, _ = head_pose(np.stack([face_keypoints(+12), face_keypoints(-12), face_keypoints(+30)]))
    assert yaw[0] > 10.0 and yaw[1] < -10.0
    assert yaw[0] == pytest.approx(-yaw[1], abs=0.1)
    assert yaw[2] > yaw[0] > 0.0
    # the estimate does not depend on scale or on a rotation of the head in the image plane (roll)
    turned = face_keypoints(+12)
    angle = np.radians(25.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    rolled = (turned - turned.mean(0)) @ rotation.T * 2.5 + 400
    assert head_pose(rolled[None])[0][0] == pytest.approx(yaw[0], abs=0.5)


def test_pitch_sign_follows_the_nose():
    _, pitch = head_pose(np.stack([face_keypoints(nose_dy=-8), face_keypoints(nose_dy=+8)]))
    assert pitch[0] > 10.0 and pitch[1] < -10.0  # nose toward the eyes: chin up


def test_looking_away_lowers_engagement():
    faces = make_faces([only("happy")] * 3, keypoints=[FRONTAL, face_keypoints(+22), face_keypoints(+60)])
    out = EngagementScorer(tau_ms=0.0).update(faces, 0.0)
    yaw = out.data[HEAD_POSE[0]]
    assert out.data[ENGAGEMENT][0] == 1.0
    assert 20.0 < yaw[1] < 60.0 and 0.0 < out.data[ENGAGEMENT][1] < 1.0
    assert yaw[2] > 60.0 and out.data[ENGAGEMENT][2] == 0.0
    assert HEAD_POSE[1] in out.data
    no_keypoints = make_faces([only("happy")], keypoints=np.zeros((1, 6, 2)))  # unknown pose: no penalty
    assert EngagementScorer().score(no_keypoints)[0] == 1.0


def test_engagement_is_smoothed_per_track_in_time():
    sad, happy = make_faces([only("sad")], [7]), make_faces([only("happy")], [7])
    for fps in (15.0, 60.0):
        scorer = EngagementScorer(attention=False, tau_ms=1000.0)
        scorer.update(sad, 0.0)
        step = 1000.0 / fps
        t = step
        while t <= 1000.0 + 1e-6:
            value = scorer.update(happy, t).data[ENGAGEMENT][0]
            t += step
        expected = 0.1 + 0.9 * (1 - np.exp(-1.0))  # one time constant after the step, whatever the frame rate
        assert value == pytest.approx(expected, abs=1e-4), fps
    # untracked faces get this frame's score; another track starts fresh
    out = scorer.update(make_faces([only("sad"), only("sad")], [-1, 8]), t)
    np.testing.assert_allclose(out.data[ENGAGEMENT], [0.1, 0.1], atol=1e-6)


def test_a_scene_cut_forgets_every_track():
    scorer = EngagementScorer(attention=False)
    for t in range(0, 1000, 40):
        scorer.update(make_faces([only("happy")], [7]), float(t))
    out = scorer.update(make_faces([only("sad")], [7]), 1000.0, scene_cut=True)
    assert out.data[ENGAGEMENT][0] == pytest.approx(0.1)  # this frame's score, not an average with the old shot


def test_inputs_are_not_modified_and_empty_or_unclassified_pass():
    scorer = EngagementScorer()
    faces = make_faces([only("happy")])
    out = scorer.update(faces, 0.0)
    assert ENGAGEMENT not in faces.data and ENGAGEMENT in out.data
    assert out.to_records()[0]["engagement"] == 1.0
    empty = Faces.empty(EMOTIONS)
    assert scorer.update(empty, 40.0) is empty
    unclassified = Faces(xyxy=np.zeros((1, 4)), score=np.ones(1), keypoints=np.zeros((1, 6, 2)))
    assert ENGAGEMENT not in scorer.update(unclassified, 80.0).data
