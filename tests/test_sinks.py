"""Record sinks: valid output after every write, truncation tolerance, unwritable paths, video round trip."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

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
        partial = sink.temp_path
        assert partial == tmp_path / "out.partial.jsonl" and partial.read_text() == ""  # created at construction
        assert not path.exists()  # renamed into place by close()
        for n, result in enumerate(results, start=1):
            sink.write(result)
            lines = partial.read_text().splitlines()  # read back mid-run: flushed
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


def test_killed_writer_leaves_valid_partial_files_and_the_previous_ones(tmp_path: Path) -> None:
    (tmp_path / "k.jsonl").write_text("previous\n")
    script = f"""
import os, sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_sinks import make_result
from affectlens.io import JsonArraySink, JsonlSink, CsvSink
a, b = JsonlSink({str(tmp_path / "k.jsonl")!r}), JsonArraySink({str(tmp_path / "k.json")!r})
c = CsvSink({str(tmp_path / "k.csv")!r})
for i in range(7):
    a.write(make_result(i)); b.write(make_result(i)); c.write(make_result(i))
os.kill(os.getpid(), 9)  # no close(), no atexit, no buffered flush: like a crash
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert (tmp_path / "k.jsonl").read_text() == "previous\n"  # replaced only by a finished run
    assert not (tmp_path / "k.json").exists() and not (tmp_path / "k.csv").exists()
    assert len(read_jsonl(tmp_path / "k.partial.jsonl")) == 7
    assert [r["frame"] for r in json.loads((tmp_path / "k.partial.json").read_text())] == list(range(7))
    assert [r["frame"] for r in _csv_rows(tmp_path / "k.partial.csv")] == [str(i) for i in range(7)]


def test_nan_and_numpy_values_become_valid_json(tmp_path: Path) -> None:
    result = make_result(0)
    result.faces.valence_arousal[0, 0] = np.nan
    result.outputs["engagement"] = np.float32(0.5)
    result.outputs["pose"] = np.array([1, 2])
    path = tmp_path / "out.jsonl"
    with JsonlSink(path) as sink:
        sink.write(result)
    record = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    assert record["faces"][0]["valence"] is None
    assert record["outputs"] == {"engagement": 0.5, "pose": [1, 2]}  # under "outputs", never merged into the top


# -- JSON array ------------------------------------------------------------------------------------------------------
def test_json_array_is_valid_after_every_write(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    results = [make_result(i, n_faces=i % 2) for i in range(4)]
    with JsonArraySink(path) as sink:
        partial = sink.temp_path
        assert json.loads(partial.read_text()) == []
        for n, result in enumerate(results, start=1):
            sink.write(result)
            assert json.loads(partial.read_text()) == [r.to_record() for r in results[:n]]
    assert json.loads(path.read_text()) == [r.to_record() for r in results]


# -- CSV -------------------------------------------------------------------------------------------------------------
def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_csv_one_row_per_face_valid_after_every_write(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with CsvSink(path) as sink:
        sink.write(make_result(0, n_faces=0))  # no face: no row, only the header
        partial = sink.temp_path
        assert partial.read_text().count("\n") == 1
        sink.write(make_result(1, n_faces=2))
        rows = _csv_rows(partial)
        assert len(rows) == 2
        sink.write(make_result(2, n_faces=0))
        sink.write(make_result(3, n_faces=1))
        rows = _csv_rows(partial)
    assert list(rows[0]) == [
        *("frame", "timestamp_ms", "schema", "scene_cut", "face", "track_id", "x1", "y1", "x2", "y2", "score"),
        *("emotion", "confidence", "valence", "arousal", "engagement", "p_angry", "p_happy", "p_neutral"),
        *("raw_emotion", "raw_valence", "raw_arousal", "raw_p_angry", "raw_p_happy", "raw_p_neutral"),
        *(
            f"timings_ms_{step}"
            for step in ("cut", "detect", "track", "emotion", "smooth", "engagement", "total", "latency")
        ),
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
        sink.write(make_result(0, n_faces=1))  # labels angry/happy/neutral: matched by name
        text = sink.temp_path.read_text()
        assert text.startswith("frame,") and "p_happy,p_sad,raw_emotion" in text
        sink.write(make_result(1, n_faces=1, classified=False))
    rows = _csv_rows(path)
    assert (rows[0]["p_happy"], rows[0]["p_sad"]) == ("0.7", "")
    assert (rows[1]["emotion"], rows[1]["confidence"], rows[1]["p_happy"], rows[1]["track_id"]) == ("", "", "", "0")


def test_csv_without_any_face_still_has_a_header(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with CsvSink(path) as sink:
        sink.write(make_result(0, n_faces=0))
    header = CsvSink.header(LABELS, ("schema", "scene_cut"), timings=CsvSink.TIMING_STAGES)
    assert path.read_text().strip() == ",".join(header)


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
    assert "fitting 32x24" in caplog.text


_VIDEO_WRITER = cv2.VideoWriter  # the real one: the fixture below replaces cv2's


class _GatedWriter:
    """cv2.VideoWriter whose ``write`` waits until the test opens the gate, recording the thread that called it."""

    gate = threading.Event()
    entered = threading.Event()
    threads: ClassVar[list[str]] = []
    fail_at: int | None = None
    fourcc = staticmethod(_VIDEO_WRITER.fourcc)

    def __init__(self, *args: object) -> None:
        self._writer = _VIDEO_WRITER(*args)
        self.written = 0

    def isOpened(self) -> bool:
        return self._writer.isOpened()

    def write(self, image: np.ndarray) -> None:
        type(self).threads.append(threading.current_thread().name)
        type(self).entered.set()
        assert type(self).gate.wait(30)
        if self.written == type(self).fail_at:
            raise cv2.error("encoder exploded")
        self._writer.write(image)
        self.written += 1

    def release(self) -> None:
        self._writer.release()


@pytest.fixture
def gated_writer(monkeypatch: pytest.MonkeyPatch) -> type[_GatedWriter]:
    monkeypatch.setattr(_GatedWriter, "gate", threading.Event())
    monkeypatch.setattr(_GatedWriter, "entered", threading.Event())
    monkeypatch.setattr(_GatedWriter, "threads", [])
    monkeypatch.setattr(_GatedWriter, "fail_at", None)
    monkeypatch.setattr("affectlens.io.video_sink.cv2.VideoWriter", _GatedWriter)
    yield _GatedWriter
    _GatedWriter.gate.set()  # never leave an encoder thread waiting


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_video_is_encoded_on_its_own_thread_with_a_bounded_queue(tmp_path: Path, gated_writer) -> None:
    # issue 8: the writer encoded on the analysis thread (about as long as analysing the frame). Now write() only
    # queues, and a producer faster than the encoder waits once 4 frames are waiting: memory stays bounded.
    path = tmp_path / "out.avi"
    sink = VideoSink(path, fps=25.0, size=(64, 48), queue_frames=4)
    producer = threading.Thread(target=lambda: [sink.write(make_result(i)) for i in range(12)], name="producer")
    producer.start()
    assert _wait_until(lambda: sink.frames_written == 5)  # the encoder holds one frame, 4 wait: the 6th blocks
    time.sleep(0.1)
    assert sink.frames_written == 5 and producer.is_alive() and sink.frames_encoded == 0
    gated_writer.gate.set()
    producer.join(30)
    sink.close()
    assert sink.kept and sink.frames_written == sink.frames_encoded == 12
    assert set(gated_writer.threads) == {"affectlens-video-writer"}  # never the caller's thread
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    capture.release()


@pytest.mark.parametrize("more_writes", [True, False], ids=["next-write", "close"])
def test_an_encoding_failure_reaches_the_caller_and_removes_the_video(
    tmp_path: Path, gated_writer, more_writes: bool
) -> None:
    path = tmp_path / "out.avi"
    path.write_bytes(b"previous video")
    gated_writer.fail_at = 2
    gated_writer.gate.set()
    sink = VideoSink(path, fps=25.0, size=(64, 48))
    for i in range(3):
        sink.write(make_result(i))
    assert _wait_until(lambda: sink._error is not None)
    with pytest.raises(SinkError, match=rf"^cannot write {re.escape(str(path))}: encoding failed: .*encoder exploded"):
        if more_writes:
            sink.write(make_result(3))  # the failure is raised by the next write...
        sink.close()  # ... or, after the last one, by close()
    sink.close()  # reported once: closing again is quiet
    assert path.read_bytes() == b"previous video" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


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
    assert sink.temp_path.read_text().strip() == "second,frames,fps,cpu_percent,rss_mb,faces,latency_ms"
    for t, n_faces in [(0.0, 1), (0.2, 2), (0.5, 0), (1.1, 1), (1.3, 1), (3.2, 3)]:
        now[0] = 100.0 + t
        sink.write(make_result(0, n_faces=n_faces))
    rows = _csv_rows(sink.temp_path)  # valid mid-run: seconds 0..2 are done (2 had no frame)
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


def test_metrics_latency_is_the_mean_capture_to_result_latency_of_each_second(tmp_path: Path) -> None:
    # issue 8: the capture-to-result latency (timings_ms["latency"], set by the pipeline) is reported per second
    path = tmp_path / "metrics.csv"
    now = [0.0]
    sink = MetricsSink(path, clock=lambda: now[0])
    for t, latency in [(0.1, 30.0), (0.5, 50.0), (0.9, None), (1.2, None), (2.4, 12.25), (2.6, float("nan"))]:
        now[0] = t
        result = make_result(0)
        if latency is not None:
            result.timings_ms["latency"] = latency
        sink.write(result)
    now[0] = 2.8
    sink.close()
    rows = _csv_rows(path)
    assert [(r["second"], r["frames"], r["latency_ms"]) for r in rows] == [
        ("0", "3", "40.0"),  # frames without a latency (a source that stamps none) are left out of the mean
        ("1", "1", ""),  # none known: empty, not 0
        ("2", "2", "12.2"),  # the final partial second; NaN is left out
    ]


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


# -- replacing files safely ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "metrics", "video"])
def test_existing_file_is_replaced_only_when_the_sink_closes(tmp_path: Path, kind: str) -> None:
    path = tmp_path / ("out.mp4" if kind == "video" else "out")
    path.write_bytes(b"previous run")
    sink = _sink_for(kind, path)
    sink.write(make_result(0, size=(64, 48)))
    assert path.read_bytes() == b"previous run"  # the previous output survives until this one is complete
    sink.close()
    assert path.read_bytes() != b"previous run" and sink.kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no .partial file left


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "metrics", "video"])
def test_sink_closed_without_frames_leaves_nothing_and_keeps_the_previous_file(tmp_path: Path, kind: str) -> None:
    new = _sink_for(kind, tmp_path / ("new.mp4" if kind == "video" else "new"))  # a run that failed before frame 0
    new.close()
    old_path = tmp_path / ("old.mp4" if kind == "video" else "old")
    old_path.write_bytes(b"previous run")
    with _sink_for(kind, old_path):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [old_path.name]
    assert old_path.read_bytes() == b"previous run"


def test_symlinked_output_replaces_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.jsonl"
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    with JsonlSink(link) as sink:
        sink.write(make_result(0))
    assert link.is_symlink() and len(read_jsonl(target)) == 1


def test_partial_name_never_clobbers_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "out.partial.jsonl").write_text("someone else's\n")
    with JsonlSink(tmp_path / "out.jsonl") as sink:
        assert sink.temp_path == tmp_path / "out.partial-2.jsonl"
        sink.write(make_result(0))
    assert (tmp_path / "out.partial.jsonl").read_text() == "someone else's\n"


def test_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    path.chmod(0o640)
    with CsvSink(path) as sink:
        sink.write(make_result(0))
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("kind", ["jsonl", "video"])
def test_a_directory_that_refuses_new_files_is_named_with_the_real_reason(kind: str) -> None:
    with pytest.raises(SinkError) as error:
        _sink_for(kind, Path("/proc/affectlens-test"))
    assert "cannot create files in /proc" in str(error.value)
    assert "no such directory" not in str(error.value) and "encode" not in str(error.value)


# -- full disk -------------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_fs(tmp_path: Path) -> Path:
    """A real 256 KiB filesystem (tmpfs), so writes fail with ENOSPC as on a full disk."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if sys.platform != "linux":
        pytest.skip("mounting a tiny tmpfs needs Linux")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here (needs root): {proc.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], check=False)  # lazy: even with a file left open


def _noise_result(index: int, size: tuple[int, int] = (320, 240)) -> FrameResult:
    rng = np.random.default_rng(index)
    image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)  # incompressible: fills the disk fast
    return FrameResult(frame=Frame(image, index=index, timestamp_ms=index * 40.0), faces=Faces.empty(LABELS))


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv"])
def test_full_disk_fails_naming_the_file_and_keeps_the_complete_records(tiny_fs: Path, kind: str) -> None:
    path = tiny_fs / f"out.{kind}"
    sink = _sink_for(kind, path)
    padding = "x" * 3000
    with pytest.raises(SinkError) as error:
        for i in range(5000):  # megabytes of records into 256 KiB
            result = make_result(i, n_faces=3)
            result.extras["padding"] = padding
            sink.write(result)
    assert str(error.value).lower().startswith(f"cannot write {path}: no space left on device")
    written = sink.frames_written
    assert 10 < written < 5000
    sink.close()  # keeps what is complete
    if kind == "jsonl":
        text = path.read_text()
        assert text.endswith("\n") and [r["frame"] for r in read_jsonl(path)] == list(range(written))
    elif kind == "json":
        assert [r["frame"] for r in json.loads(path.read_text())] == list(range(written))
    else:
        frames = [int(r["frame"]) for r in _csv_rows(path)]
        assert sorted(set(frames)) == list(range(written)) and len(frames) == 3 * written
    assert sorted(p.name for p in tiny_fs.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_full_disk_while_writing_a_video_is_an_error_and_keeps_the_previous_file(tiny_fs: Path, suffix: str) -> None:
    path = tiny_fs / f"out{suffix}"
    path.write_bytes(b"previous video")  # 14 bytes: almost the whole filesystem stays free for the new one
    sink = VideoSink(path, fps=25.0, size=(320, 240))
    with pytest.raises(SinkError) as error:
        for i in range(200):  # ~200 x 50 KB of noise frames into 256 KiB
            sink.write(_noise_result(i))
        sink.close()
    assert str(error.value).startswith(f"cannot write {path}: No space left on device")
    sink.close()
    assert path.read_bytes() == b"previous video"
    assert sorted(p.name for p in tiny_fs.iterdir()) == [path.name]  # the incomplete video was removed


def test_video_that_fits_the_small_disk_is_kept(tiny_fs: Path) -> None:
    path = tiny_fs / "out.avi"
    with VideoSink(path, fps=25.0, size=(64, 48)) as sink:
        for i in range(10):
            sink.write(make_result(i * 20))
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    capture.release()


# -- video size ------------------------------------------------------------------------------------------------------
def test_odd_sized_video_is_cropped_by_one_pixel_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "odd.avi"
    image = np.zeros((49, 65, 3), np.uint8)
    image[:, :32] = 255  # left half white: a crop keeps the edge at column 32, a resize would move it
    with caplog.at_level(logging.WARNING), VideoSink(path, fps=10, size=(65, 49)) as sink:
        sink.write(image)
    assert "even width and height: writing 64x48" in caplog.text and "65x49" in caplog.text
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (48, 64, 3)
    assert frame[:, 28].mean() > 200 and frame[:, 36].mean() < 50


def test_whole_file_written_on_a_full_disk_leaves_the_previous_file_intact(tiny_fs: Path) -> None:
    from affectlens.cli import _write_text  # what `report --json` and `evaluate --json` write with

    path = tiny_fs / "report.json"
    path.write_text('{"previous": true}\n')
    with pytest.raises(Exception, match=r"cannot write .*report\.json: No space left on device"):
        _write_text(str(path), "x" * 400_000)
    assert path.read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in tiny_fs.iterdir()) == ["report.json"]
    _write_text(str(path), '{"new": true}')
    assert path.read_text() == '{"new": true}\n'
