"""ParquetSink: the CSV's rows as a Parquet dataset folder that pandas, polars and DuckDB read, that survives SIGKILL
(every part already written stays readable) and that replaces an existing output only with a finished one."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from affectlens.core import HEAD_PROBS, FrameResult
from affectlens.io.errors import ExtraMissingError, SinkError
from affectlens.io.parquet_sink import MARKER, ParquetSink
from affectlens.records import read_records
from helpers import REPO
from test_csv_sink import LABELS, smoothed_result

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

FACES = (0, 2, 1, 0, 3, 1, 1)  # faces per frame: 8 rows over 7 frames


def results(video: str = "clip", faces: tuple[int, ...] = FACES) -> list[FrameResult]:
    out = []
    for index, n in enumerate(faces):
        result = smoothed_result(index, n)
        result.frame.source["video"] = video
        out.append(result)
    return out


def write(directory: Path, items: list[FrameResult], **kwargs) -> ParquetSink:
    with ParquetSink(directory, **kwargs) as sink:
        for result in items:
            sink.write(result)
    return sink


def test_the_dataset_is_parts_that_pandas_polars_and_duckdb_read(tmp_path):
    sink = write(tmp_path / "ds", results(), frames_per_part=2)
    assert sink.kept and sink.frames_written == 7 and sink.rows_written == 8
    names = sorted(os.listdir(tmp_path / "ds"))
    # frames 0-1, 2-3, 4-5, 6: one part each (every pair has a face)
    assert names == [MARKER, "part-00000.parquet", "part-00001.parquet", "part-00002.parquet", "part-00003.parquet"]
    assert not (tmp_path / "ds.partial").exists()
    marker = json.loads((tmp_path / "ds" / MARKER).read_text())
    assert (marker["frames"], marker["rows"], len(marker["parts"])) == (7, 8, 4)

    expected = read_records(tmp_path / "ds")
    assert list(expected["frame"]) == [1, 1, 2, 4, 4, 4, 5, 6]  # parts in order
    assert list(expected["face"]) == [0, 1, 0, 0, 1, 2, 0, 0]
    by_pandas = pd.read_parquet(tmp_path / "ds")
    assert list(by_pandas.columns) == list(expected.columns)
    assert by_pandas["p_happy"].tolist() == expected["p_happy"].tolist()
    assert by_pandas["video"].tolist() == ["clip"] * 8

    pl = pytest.importorskip("polars")
    by_polars = pl.read_parquet(f"{tmp_path / 'ds'}/*.parquet")
    assert by_polars.columns == list(expected.columns)
    assert by_polars["frame"].to_list() == expected["frame"].tolist()

    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(
        f"SELECT frame, face, emotion, engagement FROM read_parquet('{tmp_path / 'ds'}/*.parquet') ORDER BY frame, face"
    ).fetchall()
    assert rows == [
        (int(f), int(i), e, g) for f, i, e, g in expected[["frame", "face", "emotion", "engagement"]].itertuples(False)
    ]


def test_frames_without_faces_write_no_part_but_the_columns_are_always_there(tmp_path):
    write(tmp_path / "none", results(faces=(0, 0, 0)), frames_per_part=1, labels=LABELS)
    assert sorted(p.name for p in (tmp_path / "none").glob("*.parquet")) == ["part-00000.parquet"]  # one, empty
    table = pd.read_parquet(tmp_path / "none")
    assert len(table) == 0 and {"frame", "video", "p_happy", "raw_p_sad", "timings_ms_total"} <= set(table.columns)

    write(tmp_path / "empty_rows", results(faces=(0, 1, 0)), empty_frames=True)
    table = read_records(tmp_path / "empty_rows")
    assert list(table["frame"]) == [0, 1, 2] and table["face"].isna().tolist() == [True, False, True]


def test_the_column_types_are_fixed_by_name(tmp_path):
    import pyarrow.parquet as pq

    write(tmp_path / "ds", results())
    schema = pq.read_schema(next((tmp_path / "ds").glob("part-*.parquet")))
    types = {field.name: str(field.type) for field in schema}
    assert {types[c] for c in ("frame", "face", "track_id", "schema")} == {"int64"}
    assert {types[c] for c in ("timestamp_ms", "x1", "score", "valence", "p_happy", "raw_p_sad")} == {"double"}
    assert {types[c] for c in ("timings_ms_total", "engagement")} == {"double"}
    assert (types["scene_cut"], types["video"], types["emotion"], types["raw_emotion"]) == ("bool",) + ("string",) * 3


def test_a_field_that_appears_after_the_first_frame_is_left_out_with_one_warning(tmp_path, caplog):
    items = results()
    for result in items[3:]:
        result.faces = result.faces.with_emotions(
            result.faces.probs,
            result.faces.valence_arousal,
            LABELS,
            heads={"fer": (("a", "b"), np.tile(np.float32([[0.25, 0.75]]), (len(result.faces), 1)))},
        )
        result.faces.data[HEAD_PROBS + "fer"] = np.tile(np.float32([[0.25, 0.75]]), (len(result.faces), 1))
    with caplog.at_level(logging.WARNING):
        write(tmp_path / "ds", items)
    warnings = [r.getMessage() for r in caplog.records if "not in the Parquet schema" in r.getMessage()]
    assert len(warnings) == 1 and "heads_fer_label" in warnings[0]
    assert not any(c.startswith("heads_") for c in read_records(tmp_path / "ds").columns)


CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_parquet import results
    from affectlens.io.parquet_sink import ParquetSink

    sink = ParquetSink({target!r}, frames_per_part=2)
    items = results()
    for result in items[:5]:  # frames 0-1 and 2-3 are parts; frame 4 stays in memory
        sink.write(result)
    print(len(sink.parts), flush=True)
    time.sleep(60)
    """
)


def test_a_writer_killed_with_sigkill_leaves_its_parts_readable(tmp_path):
    target = tmp_path / "ds"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(tests=str(REPO / "tests"), target=str(target))],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "2"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    partial = tmp_path / "ds.partial"
    assert not target.exists() and sorted(p.name for p in partial.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    table = pd.read_parquet(partial)
    assert sorted(table["frame"].tolist()) == [1, 1, 2]  # frames 0-3; frame 4 was not flushed
    assert read_records(partial)["frame"].tolist() == [1, 1, 2]
    # the next run does not touch the killed run's folder: it writes beside it and replaces nothing of it
    write(target, results(faces=(1,)))
    assert partial.is_dir() and len(read_records(target)) == 1


def test_an_existing_output_is_replaced_only_by_a_finished_one(tmp_path):
    target = tmp_path / "ds"
    write(target, results())
    sink = ParquetSink(target, frames_per_part=1)
    for result in results(video="new", faces=(1, 1)):
        sink.write(result)
    assert read_records(target)["video"].unique().tolist() == ["clip"]  # the old one is still whole
    sink.close()
    assert read_records(target)["video"].tolist() == ["new", "new"]
    assert sorted(os.listdir(tmp_path)) == ["ds"]  # no .partial, no old copy left

    unfinished = ParquetSink(target)  # a run that fails before its first frame
    unfinished.close()
    assert not unfinished.kept and read_records(target)["video"].tolist() == ["new", "new"]
    assert sorted(os.listdir(tmp_path)) == ["ds"]

    (tmp_path / "empty").mkdir()  # an empty folder is fine to fill
    write(tmp_path / "empty", results(faces=(1,)))
    assert len(read_records(tmp_path / "empty")) == 1


def test_bad_output_paths_are_one_line_errors(tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SinkError, match="holds something other than Parquet records"):
        ParquetSink(other)
    assert os.listdir(other) == ["notes.txt"] and not (tmp_path / "mine.partial").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SinkError, match="it is a file"):
        ParquetSink(tmp_path / "file")
    with pytest.raises(SinkError, match="no such directory"):
        ParquetSink(tmp_path / "missing" / "ds")
    with pytest.raises(SinkError, match="standard output"):
        ParquetSink("-")


def test_a_failed_part_keeps_the_parts_before_it(tmp_path):
    sink = ParquetSink(tmp_path / "ds", frames_per_part=2)
    real = sink._pq

    class FullDisk:
        calls = 0

        def write_table(self, table, where):
            FullDisk.calls += 1
            if FullDisk.calls == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real.write_table(table, where)

    sink._pq = FullDisk()
    items = results()
    sink.write(items[0])
    sink.write(items[1])  # part 0
    sink.write(items[2])
    with pytest.raises(SinkError, match="free some space"):
        sink.write(items[3])  # part 1 fails
    with pytest.raises(SinkError, match="free some space"):
        sink.write(items[4])
    with pytest.raises(SinkError, match="after 2 frames"):
        sink.close()
    assert sink.kept and read_records(tmp_path / "ds")["frame"].tolist() == [1, 1]
    assert not list(tmp_path.glob("ds/.*"))  # no hidden temporary part left


def test_without_pyarrow_the_error_names_the_extra(tmp_path, monkeypatch, tiny_video, capsys):
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")] + ["pyarrow"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import pyarrow` raises ImportError
    with pytest.raises(ExtraMissingError, match=r"pip install 'affectlens\[data\]'"):
        ParquetSink(tmp_path / "ds")
    assert not list(tmp_path.iterdir())
    with pytest.raises(ExtraMissingError, match=r"pip install 'affectlens\[data\]'"):
        read_records(tmp_path)
    from affectlens.cli import main

    video = tiny_video(frames=3)
    assert main(["analyze", str(video), "--parquet", str(tmp_path / "ds"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("affectlens: error: --parquet needs pyarrow") and err.endswith("'affectlens[data]'")
    assert len(err.splitlines()) == 1 and not (tmp_path / "ds").exists()


def test_cli_parquet_never_replaces_the_input_folder(tmp_path, capsys):
    import cv2

    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((32, 32, 3), np.uint8))
    from affectlens.cli import main

    assert main(["analyze", str(images), "--parquet", str(images), "--no-progress"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert os.listdir(images) == ["a.png"]
