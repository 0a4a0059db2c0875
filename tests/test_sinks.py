"""Record sinks: valid output after every write, truncation tolerance, unwritable paths, video round trip."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.core import Faces, Frame, FrameResult
from affectlens.io import (
    CsvSink,
    JsonArraySink,
    JsonlSink,
    MetricsSink,
    SinkError,
    SinkSet,
    VideoSink,
    open_sink,
    read_jsonl,
)

LABELS = ("angry", "happy", "neutral")


def make_result(
    index: int, n_faces: int = 1, *, classified: bool = True, size: tuple[int, int] = (64, 48)
) -> FrameResult:
    """A FrameResult with ``n_faces`` deterministic faces on a (h, w) = size[::-1] gray frame."""
    width, height = size
    frame = Frame(np.full((height, width, 3), index % 256, np.uint8), index=index, timestamp_ms=index * 40.0)
    if n_faces == 0:
        return FrameResult(frame=frame, faces=Faces.empty(LABELS if classified else ()))
    xyxy = np.array([[2 + i, 3, 20 + i, 30] for i in range(n_faces)], np.float32)
    faces = Faces(
        xyxy=xyxy,
        score=np.linspace(0.9, 0.6, n_faces).astype(np.float32),
        keypoints=np.zeros((n_faces, 6, 2), np.float32),
        track_id=np.arange(n_faces),
    )
    if classified:
        probs = np.tile(np.array([[0.1, 0.7, 0.2]], np.float32), (n_faces, 1))
        faces = faces.with_emotions(probs, np.full((n_faces, 2), 0.25, np.float32), LABELS)
    return FrameResult(frame=frame, faces=faces, timings_ms={"total": 1.5})


# -- JSONL -----------------------------------------------------------------------------------------------------------
def test_jsonl_is_valid_after_every_write(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    results = [make_result(i, n_faces=i % 3) for i in range(5)]
    with JsonlSink(path) as sink:
        assert path.read_text() == ""  # created at construction
        for n, result in enumerate(results, start=1):
            sink.write(result)
            lines = path.read_text().splitlines()  # read back mid-run: flushed
            assert len(lines) == n
            assert json.loads(lines[-1]) == result.to_record()
    assert read_jsonl(path) == [r.to_record() for r in results]


def test_truncated_jsonl_is_parseable_line_by_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "out.jsonl"
    with JsonlSink(path) as sink:
        for i in range(5):
            sink.write(make_result(i, n_faces=2))
    text = path.read_text()
    cut = text[: len(text) - 25]  # the process died in the middle of the last line
    path.write_text(cut)
    complete = cut.split("\n")[:-1]
    assert [json.loads(line)["frame"] for line in complete] == [0, 1, 2, 3]
    with caplog.at_level(logging.WARNING):
        assert [r["frame"] for r in read_jsonl(path)] == [0, 1, 2, 3]
    assert "incomplete last line" in caplog.text


def test_read_jsonl_rejects_corruption_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"frame": 0}\n{"frame": \n{"frame": 2}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_jsonl(path)


def test_killed_writer_leaves_valid_jsonl_and_json(tmp_path: Path) -> None:
    script = f"""
import os, sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_sinks import make_result
from affectlens.io import JsonArraySink, JsonlSink
a, b = JsonlSink({str(tmp_path / "k.jsonl")!r}), JsonArraySink({str(tmp_path / "k.json")!r})
for i in range(7):
    a.write(make_result(i)); b.write(make_result(i))
os.kill(os.getpid(), 9)  # no close(), no atexit, no buffered flush: like a crash
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert len(read_jsonl(tmp_path / "k.jsonl")) == 7
    assert [r["frame"] for r in json.loads((tmp_path / "k.json").read_text())] == list(range(7))


def test_nan_and_numpy_values_become_valid_json(tmp_path: Path) -> None:
    result = make_result(0)
    result.faces.valence_arousal[0, 0] = np.nan
    result.extras["engagement"] = np.float32(0.5)
    result.extras["pose"] = np.array([1, 2])
    path = tmp_path / "out.jsonl"
    with JsonlSink(path) as sink:
        sink.write(result)
    record = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    assert record["faces"][0]["valence"] is None
    assert record["engagement"] == 0.5 and record["pose"] == [1, 2]


# -- JSON array ------------------------------------------------------------------------------------------------------
def test_json_array_is_valid_after_every_write(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    results = [make_result(i, n_faces=i % 2) for i in range(4)]
    with JsonArraySink(path) as sink:
        assert json.loads(path.read_text()) == []
        for n, result in enumerate(results, start=1):
            sink.write(result)
            assert json.loads(path.read_text()) == [r.to_record() for r in results[:n]]
    assert json.loads(path.read_text()) == [r.to_record() for r in results]


# -- CSV -------------------------------------------------------------------------------------------------------------
def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_csv_one_row_per_face_valid_after_every_write(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with CsvSink(path) as sink:
        sink.write(make_result(0, n_faces=0))  # no face: no row, header not known yet
        assert path.read_text() == ""
        sink.write(make_result(1, n_faces=2))
        rows = _csv_rows(path)
        assert len(rows) == 2
        sink.write(make_result(2, n_faces=0))
        sink.write(make_result(3, n_faces=1))
        rows = _csv_rows(path)
    assert list(rows[0]) == [
        *("frame", "timestamp_ms", "face", "track_id", "x1", "y1", "x2", "y2", "score"),
        *("emotion", "confidence", "valence", "arousal", "p_angry", "p_happy", "p_neutral"),
    ]
    assert [(r["frame"], r["face"], r["track_id"]) for r in rows] == [("1", "0", "0"), ("1", "1", "1"), ("3", "0", "0")]
    first = rows[0]
    assert first["timestamp_ms"] == "40.0" and (first["x1"], first["y2"]) == ("2.0", "30.0")
    assert (first["emotion"], first["confidence"], first["p_happy"], first["valence"]) == (
        "happy",
        "0.7",
        "0.7",
        "0.25",
    )


def test_csv_unclassified_faces_and_fixed_labels(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with CsvSink(path, labels=("happy", "sad")) as sink:
        assert path.read_text().startswith("frame,") and path.read_text().rstrip().endswith("p_happy,p_sad")
        sink.write(make_result(0, n_faces=1))  # labels angry/happy/neutral: matched by name
        sink.write(make_result(1, n_faces=1, classified=False))
    rows = _csv_rows(path)
    assert (rows[0]["p_happy"], rows[0]["p_sad"]) == ("0.7", "")
    assert (rows[1]["emotion"], rows[1]["confidence"], rows[1]["p_happy"], rows[1]["track_id"]) == ("", "", "", "0")


def test_csv_without_any_face_still_has_a_header(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with CsvSink(path) as sink:
        sink.write(make_result(0, n_faces=0))
    assert path.read_text().strip() == ",".join(CsvSink.COLUMNS)


# -- unwritable paths ------------------------------------------------------------------------------------------------
def _sink_for(kind: str, path: Path) -> object:
    if kind == "video":
        return VideoSink(path.with_suffix(".mp4"), 25.0, (64, 48))
    return {"jsonl": JsonlSink, "json": JsonArraySink, "csv": CsvSink, "metrics": MetricsSink}[kind](path)


SINK_KINDS = ["jsonl", "json", "csv", "metrics", "video"]


@pytest.mark.parametrize("kind", SINK_KINDS)
def test_missing_directory_raises_sink_error(tmp_path: Path, kind: str) -> None:
    with pytest.raises(SinkError, match=r"^cannot write .*: no such directory .*nowhere$"):
        _sink_for(kind, tmp_path / "nowhere" / "out")


@pytest.mark.parametrize("kind", SINK_KINDS)
def test_directory_as_output_raises_sink_error(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (tmp_path / "out.mp4").mkdir()
    with pytest.raises(SinkError, match="it is a directory"):
        _sink_for(kind, target)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
@pytest.mark.parametrize("kind", SINK_KINDS)
def test_read_only_directory_raises_sink_error(tmp_path: Path, kind: str) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SinkError, match="permission denied"):
            _sink_for(kind, locked / "out")
    finally:
        locked.chmod(0o700)


def test_write_after_close_is_an_error(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "out.jsonl")
    sink.close()
    sink.close()
    with pytest.raises(SinkError, match="closed"):
        sink.write(make_result(0))


# -- video -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_sink_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    with VideoSink(path, fps=12.5, size=(64, 48)) as sink:
        for i in range(15):
            sink.write(make_result(i * 16, size=(64, 48)))
    capture = cv2.VideoCapture(str(path))
    try:
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 15
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.5)
        size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        assert size == (64, 48)
        decoded = 0
        while capture.read()[0]:
            decoded += 1
        assert decoded == 15
    finally:
        capture.release()


def test_video_sink_resizes_other_sizes_instead_of_dropping(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "out.avi"
    with caplog.at_level(logging.WARNING), VideoSink(path, fps=10, size=(64, 48)) as sink:
        sink.write(make_result(0, size=(32, 24)))
        sink.write(np.zeros((48, 64, 3), np.uint8))
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    capture.release()
    assert "resizing 32x24" in caplog.text


def test_video_sink_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="unknown video extension"):
        VideoSink(tmp_path / "out.xyz", 25, (64, 48))
    with pytest.raises(ValueError, match="fps"):
        VideoSink(tmp_path / "out.mp4", 0, (64, 48))


# -- metrics ---------------------------------------------------------------------------------------------------------
def test_metrics_one_row_per_second_with_final_partial(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    now = [100.0]
    sink = MetricsSink(path, clock=lambda: now[0])
    assert path.read_text().strip() == "second,frames,fps,cpu_percent,rss_mb,faces"
    for t, n_faces in [(0.0, 1), (0.2, 2), (0.5, 0), (1.1, 1), (1.3, 1), (3.2, 3)]:
        now[0] = 100.0 + t
        sink.write(make_result(0, n_faces=n_faces))
    rows = _csv_rows(path)  # valid mid-run: seconds 0..2 are done (2 had no frame)
    assert [(r["second"], r["frames"], r["fps"], r["faces"]) for r in rows] == [
        ("0", "3", "3.0", "3"),
        ("1", "2", "2.0", "2"),
        ("2", "0", "0.0", "0"),
    ]
    now[0] = 103.7
    sink.close()
    rows = _csv_rows(path)
    assert len(rows) == 4 and (rows[3]["second"], rows[3]["frames"], rows[3]["faces"]) == ("3", "1", "3")
    assert float(rows[3]["fps"]) == pytest.approx(1 / 0.7, rel=1e-2)
    assert float(rows[0]["rss_mb"]) > 10 and float(rows[0]["cpu_percent"]) >= 0


# -- fan-out ---------------------------------------------------------------------------------------------------------
def test_sink_set_fans_out_and_closes_all_even_if_one_fails(tmp_path: Path) -> None:
    class Failing:
        def write(self, result: FrameResult) -> None:
            pass

        def close(self) -> None:
            raise SinkError("cannot write x: disk full")

    jsonl = JsonlSink(tmp_path / "a.jsonl")
    json_array = JsonArraySink(tmp_path / "a.json")
    sinks = SinkSet([jsonl, Failing(), json_array])
    sinks.write(make_result(0))
    with pytest.raises(SinkError, match="disk full"):
        sinks.close()
    assert jsonl.closed and json_array.closed
    assert len(read_jsonl(tmp_path / "a.jsonl")) == 1 and len(json.loads((tmp_path / "a.json").read_text())) == 1


def test_open_sink_picks_the_format_from_the_extension(tmp_path: Path) -> None:
    for name, kind in [("a.jsonl", JsonlSink), ("a.json", JsonArraySink), ("a.csv", CsvSink)]:
        with open_sink(tmp_path / name) as sink:
            assert isinstance(sink, kind)
    with open_sink(tmp_path / "a.avi", fps=10, size=(64, 48)) as sink:
        assert isinstance(sink, VideoSink)
    with pytest.raises(SinkError, match="unknown output format"):
        open_sink(tmp_path / "a.parquet")
