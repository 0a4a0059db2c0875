"""Core types: Faces validation, empty value, indexing, records; the emotion vocabulary."""

import numpy as np
import pytest

from affectlens.core import (
    RAW_PROBS,
    RAW_VALENCE_AROUSAL,
    SHOWN_LABEL,
    UNCERTAIN,
    Faces,
    Frame,
    FrameResult,
)
from affectlens.emotions import EMOTIONS, UnknownLabelError, canonical_emotion, is_emotion


def make_faces(n: int, labels=EMOTIONS) -> Faces:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(labels)), size=n).astype(np.float32)
    return Faces(
        xyxy=np.tile([10, 20, 110, 140], (n, 1)),
        score=np.full(n, 0.9),
        keypoints=np.zeros((n, 6, 2)),
        probs=probs,
        valence_arousal=np.zeros((n, 2)),
        labels=labels,
    )


def test_empty_is_a_value_with_zero_rows():
    faces = Faces.empty()
    assert len(faces) == 0
    assert faces.xyxy.shape == (0, 4) and faces.keypoints.shape == (0, 6, 2)
    assert faces.to_records() == []
    assert list(faces) == []


def test_shape_errors_name_the_expected_shape():
    with pytest.raises(ValueError, match=r"Faces.score must have shape \(N\) with N=2"):
        Faces(xyxy=np.zeros((2, 4)), score=np.zeros(3), keypoints=np.zeros((2, 6, 2)))
    with pytest.raises(ValueError, match=r"keypoints must have shape \(N, 6, 2\)"):
        Faces(xyxy=np.zeros((1, 4)), score=np.zeros(1), keypoints=np.zeros((1, 5, 2)))
    with pytest.raises(ValueError, match="probs"):
        Faces(
            xyxy=np.zeros((1, 4)),
            score=np.zeros(1),
            keypoints=np.zeros((1, 6, 2)),
            probs=np.zeros((1, 3)),
            labels=("a", "b"),
        )


def test_indexing_slicing_and_iteration_keep_rows_together():
    faces = make_faces(3)
    faces.data["engagement"] = np.array([0.1, 0.2, 0.3])
    second = faces[1]
    assert len(second) == 1 and second.data["engagement"][0] == pytest.approx(0.2)
    assert len(faces[1:]) == 2
    assert [len(f) for f in faces] == [1, 1, 1]
    assert len(faces[np.array([True, False, True])]) == 2


def test_records_carry_emotion_confidence_and_probs():
    faces = make_faces(2)
    records = faces.to_records()
    assert records[0]["emotion"] == EMOTIONS[int(faces.probs[0].argmax())]
    assert records[0]["confidence"] == pytest.approx(float(faces.probs[0].max()), abs=1e-4)
    assert set(records[0]["probs"]) == set(EMOTIONS)
    frame = Frame(image=np.zeros((4, 4, 3), np.uint8), index=7, timestamp_ms=233.3)
    record = FrameResult(frame=frame, faces=faces, timings_ms={"total": 1.0}).to_record()
    assert record["frame"] == 7 and record["timestamp_ms"] == pytest.approx(233.3) and len(record["faces"]) == 2


def test_confidence_is_the_probability_of_the_label_shown():
    """Issue 9 #9: after smoothing, `emotion` is the held label; `confidence` is ITS probability, not the top one."""
    faces = make_faces(3)
    faces.probs[:] = 0.02
    faces.probs[:, EMOTIONS.index("happy")] = 0.72
    faces.probs[:, EMOTIONS.index("sad")] = 0.16
    faces.data[SHOWN_LABEL] = np.array(["sad", UNCERTAIN, "happy"])
    np.testing.assert_allclose(faces.confidence, [0.16, 0.72, 0.72])  # uncertain: the top probability
    for record in faces.to_records():
        shown = record["emotion"]
        expected = max(record["probs"].values()) if shown == UNCERTAIN else record["probs"][shown]
        assert record["confidence"] == pytest.approx(expected)
    assert faces[0].confidence[0] == pytest.approx(0.16)  # row selection keeps the shown label


def test_records_give_null_for_valence_arousal_that_is_not_available():
    """A model whose valence/arousal head was not trained gives NaN: records say null, not a number."""
    faces = make_faces(2)
    faces.valence_arousal[:] = np.nan
    faces.data[RAW_PROBS] = faces.probs.copy()
    faces.data[RAW_VALENCE_AROUSAL] = faces.valence_arousal.copy()
    for record in faces.to_records():
        assert record["valence"] is None and record["arousal"] is None  # JSON null, never NaN
        assert record["raw"]["valence"] is None and record["raw"]["arousal"] is None
    assert not faces.has_valence_arousal.any()
    assert make_faces(1).to_records()[0]["valence"] == 0.0 and make_faces(1).has_valence_arousal.all()


def test_records_carry_the_other_heads_of_the_model():
    from affectlens.core import HEAD_PROBS

    fer2013 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry")
    base = make_faces(2)
    head_probs = np.tile(np.eye(7, dtype=np.float32)[2], (2, 1))  # sad
    faces = base.with_emotions(base.probs, base.valence_arousal, EMOTIONS, heads={"fer2013": (fer2013, head_probs)})
    record = faces.to_records()[1]
    assert record["heads"] == {
        "fer2013": {"label": "sad", "probs": dict(zip(fer2013, head_probs[1].tolist(), strict=True))}
    }
    assert faces[1:].head_labels == {"fer2013": fer2013} and faces[1:].data[HEAD_PROBS + "fer2013"].shape == (1, 7)
    assert "heads" not in base.to_records()[0]
    with pytest.raises(ValueError, match="head_probs:fer2013"):
        base.with_emotions(base.probs, base.valence_arousal, EMOTIONS, heads={"fer2013": (fer2013, head_probs[:, :6])})


def test_frame_rejects_non_bgr_images():
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        Frame(image=np.zeros((4, 4), np.uint8), index=0, timestamp_ms=0)
    with pytest.raises(ValueError, match="uint8"):
        Frame(image=np.zeros((4, 4, 3), np.float32), index=0, timestamp_ms=0)


@pytest.mark.parametrize(
    ("label", "canonical"),
    [
        ("happiness", "happy"),
        ("Sadness", "sad"),
        ("anger", "angry"),
        ("surprised", "surprise"),
        ("fearful", "fear"),
        ("DISGUSTED", "disgust"),
        ("contempt", "contempt"),
        ("neutral", "neutral"),
    ],
)
def test_synonyms_map_to_canonical_names(label, canonical):
    assert canonical_emotion(label) == canonical


def test_unknown_label_error_lists_the_vocabulary():
    assert not is_emotion("posture")
    with pytest.raises(UnknownLabelError, match="neutral, happy, sad"):
        canonical_emotion("bored")
