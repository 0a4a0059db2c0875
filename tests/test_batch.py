"""``affectlens batch`` (issue 13): every output per video, summary.parquet, resume (skip finished, redo partial and
changed), a corrupt file recorded without stopping the others, a SIGKILLed batch finished by a rerun with the same
records as an uninterrupted run, and the bad-input lines. Clips are 1 s cuts of ../shared/data/videos."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.batch.ids import assign_ids
from affectlens.batch.inputs import InputError, find_videos
from affectlens.batch.layout import BatchLayout, BatchLock
from affectlens.batch.options import BatchOptions, config_hash
from affectlens.batch.plan import make_plan
from affectlens.cli import main
from affectlens.pipeline import AnalyzerConfig

# (source clip, frames cut from its start)
CLIPS = {"single_face.mp4": 30, "WolfgangLanger_Pexels.mp4": 24, "no_face.mp4": 20}


def cut_clip(source: Path, target: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``source`` as an mp4 at ``target`` (same fps and size)."""
    capture = cv2.VideoCapture(str(source))
    fps, size = capture.get(cv2.CAP_PROP_FPS), (int(capture.get(3)), int(capture.get(4)))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(frames):
        ok, image = capture.read()
        assert ok, f"{source} has fewer than {frames} frames"
        writer.write(image)
    writer.release()
    capture.release()
    return target


@pytest.fixture(scope="module")
def clips(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for name, frames in CLIPS.items():
        cut_clip(shared_data / "videos" / name, folder / Path(name).with_suffix(".mp4").name, frames)
    return folder


def summary(out: Path) -> dict[str, dict]:
    import pandas as pd

    table = pd.read_parquet(out / "summary.parquet")
    return {row["id"]: row for row in table.to_dict("records")}


def records(out: Path, video_id: str) -> list[dict]:
    """The JSONL records of one video without their timings (which differ from run to run)."""
    lines = (out / "videos" / video_id / "records.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "timings_ms"} for line in lines]


def batch(*args: str) -> int:
    return main(["batch", *args, "--no-progress"])


# -- inputs, ids, plan (fast) ------------------------------------------------------------------------------------------
def test_ids_are_stems_made_unique_by_their_folders():
    assert assign_ids(["/a/talk.mp4", "/b/talk.mp4", "/b/intro.mov"]) == ["a__talk", "b__talk", "intro"]
    ids = assign_ids(["/x/Talk.mp4", "/x/talk.avi", "/y/x y?.mp4"])
    assert len({i.lower() for i in ids}) == 3 and ids[2] == "x_y_"


def test_inputs_folders_recursive_lists_and_out_excluded(tmp_path: Path):
    (tmp_path / "in" / "sub" / ".hidden").mkdir(parents=True)
    for name in ("in/a.mp4", "in/sub/b.MOV", "in/sub/.hidden/c.mp4", "in/notes.txt.bak", "in/sub/d.avi"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "in" / "out" / "videos").mkdir(parents=True)
    (tmp_path / "in" / "out" / "videos" / "annotated.mp4").write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("# videos\nin/a.mp4\n\nhttp://host/cam/e.mp4\nmissing.mp4\n")
    videos = find_videos([str(tmp_path / "in"), str(listing)], exclude=tmp_path / "in" / "out")
    paths = [v.path for v in videos]
    assert paths[:3] == [str(tmp_path / "in" / "a.mp4"), str(tmp_path / "in/sub/b.MOV"), str(tmp_path / "in/sub/d.avi")]
    assert paths[3:] == ["http://host/cam/e.mp4", str(tmp_path / "missing.mp4")]  # a.mp4 once; missing: its error
    assert [v.id for v in videos] == ["a", "b", "d", "e", "missing"]
    with pytest.raises(InputError, match="no such file or folder"):
        find_videos([str(tmp_path / "nope")])


def test_plan_skips_finished_and_redoes_partial_changed_forced(tmp_path: Path):
    layout = BatchLayout(tmp_path)
    videos = find_videos_stub(tmp_path, ["done", "partial", "changed", "new"])
    for video in videos[:3]:
        layout.videos(video.id).mkdir(parents=True)
    for video, digest in ((videos[0], "h1"), (videos[2], "h0")):
        layout.write_marker(video.id, {"config_hash": digest, "path": video.path, "outputs": [], "summary": {}})
    plan = make_plan(videos, layout, "h1")
    assert [v.id for v in plan.todo] == ["partial", "changed", "new"]
    assert plan.reasons == {"partial": "partial", "changed": "changed", "new": "new"}
    assert plan.finished["done"]["status"] == "skipped"
    assert len(make_plan(videos, layout, "h1", force=True).todo) == 4


def find_videos_stub(tmp_path: Path, names: list[str]) -> list:
    for name in names:
        (tmp_path / f"{name}.mp4").write_bytes(b"x")
    return find_videos([str(tmp_path / f"{name}.mp4") for name in names])


def test_videos_are_handed_out_longest_first(tmp_path: Path):
    """Frames x pixels from the headers, largest first, so that a long video never starts last; unknown ones last."""
    from affectlens.batch.progress import longest_first, video_headers

    def clip(name: str, frames: int, size: tuple[int, int]) -> None:
        writer = cv2.VideoWriter(str(tmp_path / name), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
        for _ in range(frames):
            writer.write(np.zeros((size[1], size[0], 3), np.uint8))
        writer.release()

    clip("short_small.avi", 5, (64, 48))
    clip("long_small.avi", 40, (64, 48))
    clip("short_large.avi", 10, (320, 240))  # 10 x 76,800 pixels > 40 x 3,072
    (tmp_path / "broken.avi").write_bytes(b"not a video")
    videos = find_videos(
        [str(tmp_path / n) for n in ("broken.avi", "short_small.avi", "long_small.avi", "short_large.avi")]
    )
    headers = video_headers([v.path for v in videos])
    assert [v.id for v in longest_first(videos, headers)] == ["short_large", "long_small", "short_small", "broken"]


def test_config_hash_follows_settings_not_speed():
    base = config_hash(BatchOptions())
    assert config_hash(BatchOptions(config=AnalyzerConfig(overlap=False, model_threads=4))) == base
    assert config_hash(BatchOptions(config=AnalyzerConfig(every=2))) != base
    assert config_hash(BatchOptions(video=True)) != base
    assert config_hash(BatchOptions(config=AnalyzerConfig(model="float32"))) != base


# -- bad input (one line, exit 2, before any work) ---------------------------------------------------------------------
def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("affectlens: error: "), err
    return err[0]


def test_folder_without_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "empty").mkdir()
    assert batch(str(tmp_path / "empty"), "--out", str(tmp_path / "out")) == 2
    assert "no videos in" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_out_not_writable(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "file").write_text("x")
    assert batch(str(clips), "--out", str(tmp_path / "file" / "out")) == 2
    assert "cannot write --out" in one_error_line(capsys)


def test_ray_missing(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when it is not installed
    assert batch(str(clips), "--out", str(tmp_path / "out"), "--engine", "ray") == 2
    assert "pip install 'affectlens[scale]'" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_ray_cluster_unreachable(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pytest.importorskip("ray")
    assert batch(str(clips), "--out", str(tmp_path / "out"), "--engine", "ray", "--address", "127.0.0.1:1") == 2
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in one_error_line(capsys)


def test_address_needs_ray_engine(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert batch(str(clips), "--out", str(tmp_path / "out"), "--address", "host:6379") == 2
    assert "--engine ray" in one_error_line(capsys)


def test_two_batches_on_one_out(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    layout = BatchLayout(tmp_path / "out")
    layout.prepare()
    with BatchLock(layout.root):
        assert batch(str(clips), "--out", str(layout.root)) == 2
    assert "another batch" in one_error_line(capsys)


def clips_and_a_corrupt_file(clips: Path, folder: Path) -> Path:
    """``folder`` with links to the clips and ``corrupt.mp4`` (bytes that are no video)."""
    folder.mkdir()
    for clip in clips.iterdir():
        os.symlink(clip, folder / clip.name)
    (folder / "corrupt.mp4").write_bytes(b"not a video " * 100)
    return folder


# -- whole batches (slow) ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_batch_writes_everything_skips_finished_redoes_changed(
    clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    import pandas as pd

    inputs = clips_and_a_corrupt_file(clips, tmp_path / "in")
    out = tmp_path / "out"
    assert batch(str(inputs), "--out", str(out), "--workers", "2", "--video") == 1
    err = capsys.readouterr().err
    assert "1 of 4 videos failed: corrupt (cannot decode video" in err.strip().splitlines()[-1]
    rows = summary(out)
    assert rows["corrupt"]["status"] == "failed" and "cannot decode video" in rows["corrupt"]["error"]
    for name, frames in CLIPS.items():
        video_id = Path(name).stem
        row = rows[video_id]
        assert (row["status"], row["frames"], row["frames_analyzed"]) == ("done", frames, frames)
        files = {p.name for p in (out / "videos" / video_id).iterdir()}
        assert files == {"records.jsonl", "report.json", "timeline.png", "annotated.mp4", "done.json"}
        assert len(records(out, video_id)) == frames
        assert json.loads((out / "videos" / video_id / "report.json").read_text())["frames"] == frames
    assert rows["single_face"]["faces"] > 0 and rows["no_face"]["faces"] == 0
    assert rows["single_face"]["share_neutral"] + rows["single_face"]["share_uncertain"] > 0
    faces = pd.read_parquet(out / "records")  # the per-video datasets read as one table
    assert set(faces["video"]) == {"single_face", "WolfgangLanger_Pexels"}  # no_face has no face rows
    assert len(faces) == rows["single_face"]["faces"] + rows["WolfgangLanger_Pexels"]["faces"]
    assert not any((out / ".work").iterdir())

    # again: the finished videos are skipped (no frame analysed), the corrupt one fails again
    assert batch(str(inputs), "--out", str(out), "--workers", "2", "--video") == 1
    rows = summary(out)
    assert {rows[Path(n).stem]["status"] for n in CLIPS} == {"skipped"}
    assert "0 frames analysed" in capsys.readouterr().err

    # a changed setting redoes every video; --no-jsonl removes that output
    os.unlink(inputs / "corrupt.mp4")
    assert batch(str(inputs), "--out", str(out), "--workers", "2", "--every", "2", "--no-jsonl") == 0
    rows = summary(out)
    for name, frames in CLIPS.items():
        row = rows[Path(name).stem]
        assert (row["status"], row["frames"], row["frames_analyzed"]) == ("done", frames, (frames + 1) // 2)
        assert not (out / "videos" / Path(name).stem / "records.jsonl").exists()
        assert not (out / "videos" / Path(name).stem / "annotated.mp4").exists()


def children_of(pid: int, name: str = "") -> list[int]:
    """The descendants of ``pid`` whose command line contains ``name``."""
    psutil = pytest.importorskip("psutil")
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if name in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def alive(pid: int) -> bool:
    psutil = pytest.importorskip("psutil")
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def batch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "affectlens.cli", "batch", *args, "--no-progress"]


def run_killed_then_rerun(clips: Path, tmp_path: Path, *extra: str, workers_named: str = "") -> None:
    """SIGKILL a batch (driver first: its workers, the processes named ``workers_named``, must not outlive it; then
    its whole process group) once the first video is finished; a rerun redoes only the unfinished videos, and the
    records equal an uninterrupted run's."""
    out, reference = tmp_path / "out", tmp_path / "reference"
    markers = [out / "videos" / Path(name).stem / "done.json" for name in CLIPS]
    driver = subprocess.Popen(
        batch_command(str(clips), "--out", str(out), "--workers", "1", *extra),
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any(m.exists() for m in markers) or driver.poll() is not None, 120, "a finished video")
        workers = children_of(driver.pid, workers_named)
        assert workers
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        wait_for(lambda: not any(alive(p) for p in workers), 15, "the workers of the killed driver to exit")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    finished = {m.parent.name for m in markers if m.exists()}
    assert 0 < len(finished) < len(CLIPS), f"killed too late or too early: {finished}"

    assert subprocess.run(batch_command(str(clips), "--out", str(out), "--workers", "2", *extra)).returncode == 0
    rows = summary(out)
    assert {i for i, r in rows.items() if r["status"] == "skipped"} == finished
    assert {i for i, r in rows.items() if r["status"] == "done"} == {Path(n).stem for n in CLIPS} - finished
    assert not any((out / ".work").iterdir())

    assert subprocess.run(batch_command(str(clips), "--out", str(reference), "--workers", "2", *extra)).returncode == 0
    import pandas as pd

    for name in CLIPS:
        video_id = Path(name).stem
        assert records(out, video_id) == records(reference, video_id)
    timing = [c for c in pd.read_parquet(out / "records").columns if c.startswith("timings_ms")]
    ours = pd.read_parquet(out / "records").drop(columns=timing).sort_values(["video", "frame", "face"])
    theirs = pd.read_parquet(reference / "records").drop(columns=timing).sort_values(["video", "frame", "face"])
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), theirs.reset_index(drop=True))


@pytest.mark.slow
def test_sigkill_then_rerun_redoes_only_unfinished_videos(clips: Path, tmp_path: Path):
    run_killed_then_rerun(clips, tmp_path)
