"""Core types: Faces/Persons validation (also of later writes), empty values, indexing, records; the emotion
vocabulary."""

import copy
import json
import pickle

import numpy as np
import pytest

from affectlens.core import (
    RAW_PROBS,
    RAW_VALENCE_AROUSAL,
    SCHEMA_VERSION,
    SHOWN_LABEL,
    UNCERTAIN,
    Faces,
    Frame,
    FrameResult,
    Persons,
    PoseLandmark,
    Rows,
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


def _frame(index: int = 3, **source) -> Frame:
    return Frame(image=np.zeros((4, 4, 3), np.uint8), index=index, timestamp_ms=120.0, source=source)


def make_persons(n: int) -> Persons:
    keypoints = np.arange(n * 33 * 2, dtype=np.float32).reshape(n, 33, 2)
    return Persons(xyxy=np.tile([0, 0, 50, 100], (n, 1)), score=np.full(n, 0.8), keypoints=keypoints)


def test_row_types_share_one_base_with_k_as_a_class_attribute():
    assert issubclass(Faces, Rows) and issubclass(Persons, Rows)
    assert Faces.K == 6 and Persons.K == 33 == len(PoseLandmark)
    assert Faces.empty().keypoints.shape == (0, 6, 2) and Persons.empty().keypoints.shape == (0, 33, 2)


def test_data_writes_with_the_wrong_number_of_rows_raise():
    """Issue 8: validation also guards later mutation, not only construction."""
    faces = make_faces(3)
    faces.data["engagement"] = [0.1, 0.2, 0.3]  # right length: accepted (as an array)
    assert isinstance(faces.data["engagement"], np.ndarray)
    with pytest.raises(ValueError, match=r"Faces.data\['engagement'\] must have N=3 rows, got shape \(2,\)"):
        faces.data["engagement"] = np.zeros(2)
    with pytest.raises(ValueError, match="N=3 rows"):
        faces.data.update(pose=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="N=3 rows"):
        faces.data.setdefault("x", np.float32(1.0))  # a scalar has no rows
    persons = make_persons(2)
    with pytest.raises(ValueError, match=r"Persons.data\['posture'\] must have N=2 rows"):
        persons.data["posture"] = np.zeros(1)


def test_evolve_checks_the_rows_of_what_it_is_given():
    faces = make_faces(3)
    moved = faces.evolve(xyxy=faces.xyxy + 1, data={"engagement": np.ones(3)})
    assert moved.xyxy[0, 0] == 11 and faces.xyxy[0, 0] == 10  # a copy
    with pytest.raises(ValueError, match="N=3"):
        moved.data["engagement"] = np.ones(1)  # the evolved value's data is checked too
    with pytest.raises(ValueError, match=r"Faces.probs must have N=3 rows, got shape \(2, 8\)"):
        faces.evolve(probs=faces.probs[:2])
    with pytest.raises(ValueError, match=r"Faces.data\['label'\] must have N=3 rows"):
        faces.evolve(data={**faces.data, "label": np.array(["a"])})
    with pytest.raises(ValueError, match="must have N=3 rows"):
        faces.evolve(track_id=5)
    with pytest.raises(ValueError, match="unknown field 'boxes'"):
        faces.evolve(boxes=faces.xyxy)


def test_construction_does_not_modify_the_callers_data_dict():
    data = {"engagement": [0.5]}
    faces = Faces(xyxy=np.zeros((1, 4)), score=np.ones(1), keypoints=np.zeros((1, 6, 2)), data=data)
    assert type(data["engagement"]) is list and isinstance(faces.data["engagement"], np.ndarray)


def test_faces_survive_pickle_and_deepcopy_with_checked_data():
    faces = make_faces(2)
    faces.data["engagement"] = np.array([0.25, 0.75], np.float32)
    for clone in (pickle.loads(pickle.dumps(faces)), copy.deepcopy(faces)):
        np.testing.assert_array_equal(clone.data["engagement"], [0.25, 0.75])
        with pytest.raises(ValueError, match="N=2"):
            clone.data["engagement"] = np.zeros(3)


def test_persons_validate_index_and_record():
    with pytest.raises(ValueError, match=r"Persons.keypoints must have shape \(N, 33, 2\)"):
        Persons(xyxy=np.zeros((1, 4)), score=np.ones(1), keypoints=np.zeros((1, 6, 2)))
    with pytest.raises(ValueError, match=r"Persons.visibility must have shape \(N, 33\)"):
        Persons(xyxy=np.zeros((1, 4)), score=np.ones(1), keypoints=np.zeros((1, 33, 2)), visibility=np.ones((1, 6)))
    persons = make_persons(3)
    assert persons.visibility.shape == (3, 33) and persons.visibility.dtype == np.float32
    assert (persons.face_index == -1).all() and (persons.track_id == -1).all()
    persons.data["posture"] = np.array(["upright", "slouched", "upright"])
    linked = persons.evolve(face_index=np.array([-1, 0, -1]))
    second = linked[1]
    assert len(second) == 1 and second.data["posture"][0] == "slouched" and second.face_index[0] == 0
    assert [len(p) for p in linked] == [1, 1, 1] and len(linked[linked.face_index < 0]) == 2
    record = linked.to_records()[1]
    assert record["bbox"] == [0.0, 0.0, 50.0, 100.0] and record["face_index"] == 0 and "track_id" not in record
    assert len(record["landmarks"]) == 33
    assert record["landmarks"][PoseLandmark.LEFT_SHOULDER] == [22.0 + 66, 23.0 + 66, 1.0]
    assert "face_index" not in linked.to_records()[0]
    assert Persons.empty().to_records() == []


def test_records_carry_schema_scene_cut_and_outputs_in_a_fixed_order():
    """Issue 8: a ``schema`` version in every record; per-frame outputs under ``outputs``, never merged into the top
    level (an output named ``faces`` or ``frame`` cannot overwrite those fields); ``persons`` only when present."""

    class Posture:
        def to_record(self) -> dict:
            return {"label": "upright"}

    result = FrameResult(frame=_frame(), faces=make_faces(1), timings_ms={"total": 2.0})
    record = result.to_record()
    assert SCHEMA_VERSION == 2
    assert list(record) == ["schema", "frame", "timestamp_ms", "scene_cut", "faces", "outputs", "timings_ms"]
    assert record["schema"] == SCHEMA_VERSION and record["scene_cut"] is False and record["outputs"] == {}
    result = FrameResult(
        frame=_frame(file="a/b.jpg"),
        faces=make_faces(2),
        persons=make_persons(1),
        outputs={"faces": "not the faces", "frame": -1, "posture": Posture()},
        scene_cut=True,
    )
    record = result.to_record()
    assert list(record) == [
        "schema", "frame", "timestamp_ms", "file", "scene_cut", "faces", "persons", "outputs", "timings_ms"
    ]  # fmt: skip
    assert record["frame"] == 3 and len(record["faces"]) == 2 and record["scene_cut"] is True
    assert record["outputs"] == {"faces": "not the faces", "frame": -1, "posture": {"label": "upright"}}
    assert len(record["persons"]) == 1 and record["file"] == "a/b.jpg"
    json.dumps(record)  # JSON-ready


def test_frame_result_has_persons_and_extras_is_a_read_only_alias_of_outputs():
    result = FrameResult(_frame(), Faces.empty())
    assert len(result.persons) == 0 and isinstance(result.persons, Persons) and result.scene_cut is False
    result.outputs["posture"] = "upright"
    assert result.extras is result.outputs
    with pytest.raises(AttributeError):
        result.extras = {}  # type: ignore[misc]
    assert FrameResult(_frame(), Faces.empty()).persons is not result.persons  # no shared default


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
