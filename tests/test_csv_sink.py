"""The CSV has the JSONL's fields, flattened, with a header that does not depend on the first frame having a face."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from affectlens.core import ENGAGEMENT, RAW_PROBS, RAW_VALENCE_AROUSAL, SHOWN_LABEL, Faces, Frame, FrameResult
from affectlens.io import CsvSink, JsonlSink
from helpers import shared_path

LABELS = ("neutral", "happy", "sad")


def smoothed_result(index: int, n_faces: int) -> FrameResult:
    """A frame as the video pipeline makes it: smoothed faces with engagement and the raw (unsmoothed) values."""
    frame = Frame(np.zeros((48, 64, 3), np.uint8), index=index, timestamp_ms=index * 33.333)
    timings = {"detect": 1.25, "emotion": 0.5, "track": 0.1, "total": 1.85}
    if n_faces == 0:
        return FrameResult(frame=frame, faces=Faces.empty(LABELS), timings_ms=timings)
    faces = Faces(
        xyxy=np.array([[2 + i, 3, 20 + i, 30] for i in range(n_faces)], np.float32),
        score=np.full(n_faces, 0.9, np.float32),
        keypoints=np.zeros((n_faces, 6, 2), np.float32),
        track_id=np.arange(n_faces) + 7,
    ).with_emotions(
        np.tile(np.array([[0.2, 0.5, 0.3]], np.float32), (n_faces, 1)), np.full((n_faces, 2), 0.25, np.float32), LABELS
    )
    faces.data[RAW_PROBS] = np.tile(np.array([[0.1, 0.2, 0.7]], np.float32), (n_faces, 1))
    faces.data[RAW_VALENCE_AROUSAL] = np.full((n_faces, 2), -0.5, np.float32)
    faces.data[ENGAGEMENT] = np.full(n_faces, 0.625, np.float32)
    faces.data[SHOWN_LABEL] = np.array(["uncertain"] * n_faces)
    return FrameResult(frame=frame, faces=faces, timings_ms=timings)


def flat(record: dict, prefix: str = "") -> dict:
    """The documented flattening rule, written out independently: nested keys joined by ``_``, ``probs`` -> ``p``,
    ``bbox`` -> ``x1, y1, x2, y2``."""
    out: dict = {}
    for key, value in record.items():
        if key == "bbox":
            out.update(zip((prefix + c for c in ("x1", "y1", "x2", "y2")), value, strict=True))
        elif isinstance(value, dict):
            out.update(flat(value, prefix + ("p" if key == "probs" else key) + "_"))
        else:
            out[prefix + key] = value
    return out


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_csv_rows_hold_every_jsonl_field_even_when_the_first_frame_has_no_face(tmp_path):
    results = [smoothed_result(0, 0), smoothed_result(1, 2), smoothed_result(2, 1)]
    with JsonlSink(tmp_path / "r.jsonl") as jsonl, CsvSink(tmp_path / "r.csv") as sink:
        for result in results:
            jsonl.write(result)
            sink.write(result)
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    rows = read_rows(tmp_path / "r.csv")
    assert len(rows) == 3  # one per face; the faceless frame has none
    expected = []
    for record in records:
        frame = flat({k: v for k, v in record.items() if k != "faces"})
        expected += [{**frame, "face": i, **flat(face)} for i, face in enumerate(record["faces"])]
    for row, fields in zip(rows, expected, strict=True):
        assert set(fields) <= set(row)  # every JSONL field has its column...
        for key, value in fields.items():  # ...with the same value
            assert row[key] == (json.dumps(value) if isinstance(value, bool) else str(value)), key  # bools as JSON
    first = rows[0]
    assert (first["engagement"], first["raw_emotion"], first["raw_p_sad"], first["raw_valence"]) == (
        "0.625",
        "sad",
        "0.7",
        "-0.5",
    )
    assert (first["emotion"], first["p_happy"], first["track_id"], first["timings_ms_total"]) == (
        "uncertain",
        "0.5",
        "7",
        "1.85",
    )


def test_csv_empty_frames_get_a_row_with_empty_face_columns(tmp_path):
    with CsvSink(tmp_path / "r.csv", labels=LABELS, empty_frames=True) as sink:
        for index, n_faces in enumerate((0, 1, 0)):
            sink.write(smoothed_result(index, n_faces))
    rows = read_rows(tmp_path / "r.csv")
    assert [(r["frame"], r["face"]) for r in rows] == [("0", ""), ("1", "0"), ("2", "")]
    assert rows[0]["timestamp_ms"] == "0.0" and rows[2]["timestamp_ms"] == "66.666"
    assert rows[0]["emotion"] == rows[0]["p_happy"] == rows[0]["x1"] == ""


def test_csv_of_still_images_leaves_the_temporal_fields_empty(tmp_path):
    result = smoothed_result(0, 1)
    for key in (RAW_PROBS, RAW_VALENCE_AROUSAL, ENGAGEMENT, SHOWN_LABEL):
        del result.faces.data[key]
    with CsvSink(tmp_path / "r.csv") as sink:
        sink.write(result)
    (row,) = read_rows(tmp_path / "r.csv")
    assert row["emotion"] == "happy" and row["engagement"] == row["raw_emotion"] == row["raw_p_happy"] == ""


def test_cli_csv_from_a_clip_that_starts_without_a_face(tmp_path):
    clip = shared_path("videos", "noface_face.mov")  # a cartoon first, then a man's face
    out = {k: tmp_path / f"r.{k}" for k in ("csv", "jsonl")}
    args = ["analyze", str(clip), "--csv", str(out["csv"]), "--jsonl", str(out["jsonl"]), "--csv-empty-frames"]
    proc = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", *args, "--no-progress"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
    rows = read_rows(out["csv"])
    assert not records[0]["faces"] and rows[0]["face"] == ""
    assert len(rows) == sum(max(1, len(r["faces"])) for r in records)
    with_face = [r for r in rows if r["face"] != ""]
    assert with_face and all(r["p_happy"] and r["raw_p_happy"] and r["engagement"] for r in with_face)
    fields = {key for r in records for face in r["faces"] for key in flat(face)}
    fields |= {key for r in records for key in flat({k: v for k, v in r.items() if k != "faces"})}
    assert fields <= set(rows[0])  # every JSONL field has a column
    assert "not in the CSV header" not in proc.stderr


def test_csv_timing_columns_are_the_pipelines_steps():
    """The header once named the steps of an older pipeline: later steps' timings were dropped as unknown columns."""
    from affectlens.io.record_sinks import CsvSink
    from affectlens.pipeline import RESERVED_NAMES

    assert set(CsvSink.TIMING_STAGES) == set(RESERVED_NAMES)
