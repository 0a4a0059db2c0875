"""read_records: the same DataFrame (columns, order, dtypes, values) from the JSONL, CSV and Parquet of one run;
Analyzer.analyze_video(...).to_pandas() equals read_records of that run's JSONL; the video id in records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectlens.core import HEAD_PROBS, FrameResult
from affectlens.io import CsvSink, JsonArraySink, JsonlSink
from affectlens.io.errors import AffectlensIOError, ExtraMissingError, RecordsError
from affectlens.io.parquet_sink import ParquetSink
from affectlens.records import read_records
from helpers import shared_path
from test_csv_sink import LABELS, smoothed_result

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


def varied_results(video: str | None = "clip") -> list[FrameResult]:
    """Frames with what records can hold: no face, several faces, a missing valence (NaN), another model head, a
    stage output, a scene cut."""
    out = []
    for index, n in enumerate((1, 0, 2, 1, 3)):
        result = smoothed_result(index, n)
        faces = result.faces
        heads = {"fer": (("a", "b"), np.tile(np.float32([[0.25, 0.75]]), (n, 1)))}
        valence_arousal = faces.valence_arousal.copy()
        if index == 3:
            valence_arousal[:] = np.nan  # a model without a valence/arousal head: null, not NaN text
        data = dict(faces.data)
        faces = faces.with_emotions(faces.probs, valence_arousal, LABELS, heads=heads)
        faces.data.update({k: v for k, v in data.items() if not k.startswith(HEAD_PROBS)})
        result.faces = faces
        result.scene_cut = index == 2
        result.outputs["gaze"] = {"yaw": 0.5 * index, "points": [1, 2]}
        if video is not None:
            result.frame.source["video"] = video
        out.append(result)
    return out


def write_all(directory: Path, items: list[FrameResult]) -> dict[str, Path]:
    paths = {
        "jsonl": directory / "r.jsonl",
        "csv": directory / "r.csv",
        "json": directory / "r.json",
        "parquet": directory / "ds",
    }
    with (
        JsonlSink(paths["jsonl"]) as jsonl,
        CsvSink(paths["csv"]) as csv_sink,
        JsonArraySink(paths["json"]) as array,
        ParquetSink(paths["parquet"], frames_per_part=2) as parquet,
    ):
        for result in items:
            for sink in (jsonl, csv_sink, array, parquet):
                sink.write(result)
    return paths


def test_the_same_frame_from_jsonl_csv_json_and_parquet(tmp_path):
    paths = write_all(tmp_path, varied_results())
    frames = {name: read_records(path) for name, path in paths.items()}
    expected = frames.pop("jsonl")
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, expected, check_exact=True, obj=name)
    single = tmp_path / "one.parquet"  # a Parquet file, not a folder: frames 2 and 3
    (paths["parquet"] / "part-00001.parquet").rename(single)
    pd.testing.assert_frame_equal(
        read_records(single), expected[expected["frame"].isin([2, 3])].reset_index(drop=True), check_exact=True
    )

    assert len(expected) == 7 and expected["frame"].tolist() == [0, 2, 2, 3, 4, 4, 4]
    dtypes = expected.dtypes.astype(str).to_dict()
    assert {dtypes[c] for c in ("frame", "face", "track_id", "schema")} == {"Int64"}
    assert {dtypes[c] for c in ("timestamp_ms", "x1", "valence", "p_happy", "heads_fer_p_b", "timings_ms_total")} == {
        "float64"
    }
    assert (dtypes["scene_cut"], dtypes["video"], dtypes["emotion"], dtypes["heads_fer_label"]) == (
        "boolean",
        "string",
        "string",
        "string",
    )
    assert list(expected.columns[:6]) == ["frame", "timestamp_ms", "schema", "video", "scene_cut", "outputs_gaze_yaw"]
    row = expected[expected["frame"] == 3].iloc[0]
    assert pd.isna(row["valence"]) and pd.isna(row["arousal"]) and row["raw_valence"] == -0.5
    assert row["outputs_gaze_points"] == "[1,2]" and row["outputs_gaze_yaw"] == "1.5"  # other fields: the CSV's text
    assert expected["scene_cut"].tolist() == [False, True, True, False, False, False, False]
    assert expected["timings_ms_cut"].isna().all()  # a timing the frames do not have: null


def test_polars_gets_the_same_frame(tmp_path):
    pl = pytest.importorskip("polars")
    paths = write_all(tmp_path, varied_results())
    frames = {name: read_records(path, engine="polars") for name, path in paths.items()}
    expected = frames.pop("jsonl")
    assert isinstance(expected, pl.DataFrame)
    for name, frame in frames.items():
        assert frame.equals(expected) and frame.schema == expected.schema, name
    assert expected.schema["frame"] == pl.Int64 and expected.schema["video"] == pl.String
    assert expected.to_pandas()["frame"].tolist() == read_records(paths["csv"])["frame"].tolist()


def test_a_folder_of_datasets_reads_as_one_frame(tmp_path, caplog):
    out = tmp_path / "out"
    records = out / "records"
    records.mkdir(parents=True)
    for video in ("b", "a"):
        with ParquetSink(records / video) as sink:
            for result in varied_results(video):
                sink.write(result)
    (records / "c.partial").mkdir()  # an unfinished video: skipped with a warning
    import shutil

    shutil.copy(records / "a" / "part-00000.parquet", records / "c.partial" / "part-00000.parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"video": ["a"], "frames": [5]}), out / "summary.parquet")  # not records: not read
    table = read_records(out)
    assert table["video"].tolist() == ["a"] * 7 + ["b"] * 7  # in path order
    pd.testing.assert_frame_equal(read_records(records), table)
    assert "c.partial" in caplog.text
    pd.testing.assert_frame_equal(
        table[table["video"] == "a"].reset_index(drop=True), read_records(records / "a"), check_exact=True
    )


def test_bad_inputs_are_one_line_errors(tmp_path):
    def error(path, **kwargs) -> str:
        with pytest.raises(RecordsError) as caught:
            read_records(path, **kwargs)
        assert isinstance(caught.value, (ValueError, AffectlensIOError))
        message = str(caught.value)
        assert len(message.splitlines()) == 1
        return message

    assert "no such file or folder" in error(tmp_path / "missing.jsonl")
    (tmp_path / "notes.txt").write_text("hello")
    assert "unknown records format '.txt'" in error(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    assert "no Parquet records in it" in error(tmp_path / "empty")
    (tmp_path / "metrics.csv").write_text("time_s,fps\n1,30\n")
    assert "not an affectlens records CSV" in error(tmp_path / "metrics.csv")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"video": ["a"]}), tmp_path / "summary.parquet")
    assert "not affectlens records" in error(tmp_path / "summary.parquet")
    (tmp_path / "bad.jsonl").write_text('{"frame": 0}\nnot json\n{"frame": 1}\n')
    assert "bad.jsonl:2: not valid JSON" in error(tmp_path / "bad.jsonl")
    (tmp_path / "r.jsonl").write_text('{"frame": 0, "faces": []}\n')
    assert "engine must be one of pandas, polars" in error(tmp_path / "r.jsonl", engine="spark")
    (tmp_path / "array.json").write_text('{"frame": 0}')
    assert "not a JSON array" in error(tmp_path / "array.json")


def test_a_cut_last_line_is_skipped_like_read_jsonl_does(tmp_path):
    paths = write_all(tmp_path, varied_results())
    whole = read_records(paths["csv"])
    text = paths["csv"].read_text()
    paths["csv"].write_text(text[: text.rindex("\n", 0, len(text) - 1) + 10])  # the last row cut after 9 characters
    assert len(read_records(paths["csv"])) == len(whole) - 1


def test_without_polars_or_pandas_the_error_names_the_extra(tmp_path, monkeypatch):
    paths = write_all(tmp_path, varied_results())
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ExtraMissingError, match=r"needs polars.*pip install 'affectlens\[data\]'"):
        read_records(paths["jsonl"], engine="polars")


def test_the_video_id_follows_schema_in_records():
    (result,) = varied_results(video="lecture-3")[:1]
    assert list(result.to_record())[:4] == ["schema", "video", "frame", "timestamp_ms"]
    assert result.to_record()["video"] == "lecture-3"
    (plain,) = varied_results(video=None)[:1]
    assert "video" not in plain.to_record() and list(plain.to_record())[:2] == ["schema", "frame"]


def test_read_records_is_exported_lazily():
    code = (
        "import sys, affectlens, affectlens.cli\n"
        "loaded = [m for m in ('pandas', 'pyarrow', 'polars') if m in sys.modules]\n"
        "from affectlens import read_records\n"
        "print(loaded, read_records.__module__, 'read_records' in affectlens.__all__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] affectlens.records True"


def test_cli_jsonl_csv_and_parquet_of_a_real_video_give_the_same_frame(tmp_path):
    clip = shared_path("videos", "single_face.mp4")
    out = {"jsonl": tmp_path / "r.jsonl", "csv": tmp_path / "r.csv", "parquet": tmp_path / "ds"}
    args = [f"--{k}={v}" for k, v in out.items()]
    proc = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", str(clip), *args, "--video-id", "single", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out['jsonl']}, {out['csv']}, {out['parquet']}" in proc.stderr
    frames = {name: read_records(path) for name, path in out.items()}
    expected = frames.pop("jsonl")
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, expected, check_exact=True, obj=name)
    records = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
    assert len(expected) == sum(len(r["faces"]) for r in records) > 50
    assert set(expected["video"]) == {"single"} and all(r["video"] == "single" for r in records)
    assert expected["p_happy"].notna().all() and expected["track_id"].notna().all()


def test_analyze_video_to_pandas_equals_read_records_of_its_jsonl(tmp_path):
    clip = shared_path("videos", "single_face.mp4")
    from affectlens.pipeline import Analyzer

    with Analyzer() as analyzer, JsonlSink(tmp_path / "r.jsonl") as jsonl:
        run = analyzer.analyze_video(clip, sinks=[jsonl], video_id="one")
    assert run.summary.frames_analyzed == len(run.records) == 72
    assert all(isinstance(r, dict) and r["video"] == "one" for r in run.records)  # records, no images
    frame = run.to_pandas()
    pd.testing.assert_frame_equal(frame, read_records(tmp_path / "r.jsonl"), check_exact=True)
    assert len(frame) == run.summary.faces
    pl = pytest.importorskip("polars")
    assert run.to_polars().equals(read_records(tmp_path / "r.jsonl", engine="polars"))
    assert isinstance(run.to_polars(), pl.DataFrame)
