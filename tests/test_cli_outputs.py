"""`affectlens analyze` outputs: never overwrite an input or a previous result early, stdout, Ctrl-C and SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from affectlens.cli import main
from affectlens.io import read_jsonl
from helpers import REPO, sigint_as_default

SAMPLE = REPO / "samples" / "single_face.mp4"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("affectlens: error: "), err
    return lines[0]


# -- outputs that would destroy an input or each other --------------------------------------------------------------
@pytest.mark.parametrize("option", ["--output", "--jsonl", "--csv", "--json", "--metrics"])
def test_an_output_that_is_the_input_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    video = tmp_path / "in.mp4"
    video.write_bytes(SAMPLE.read_bytes())
    before = _digest(video)
    assert main(["analyze", str(video), option, str(video), "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "is the input" in line and "another name" in line
    assert _digest(video) == before and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.parametrize("link", ["symlink", "hardlink", "dotted"])
def test_an_output_that_reaches_the_input_by_another_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], link: str
) -> None:
    video = tmp_path / "in.mp4"
    video.write_bytes(SAMPLE.read_bytes())
    other = tmp_path / "other.mp4"
    if link == "symlink":
        other.symlink_to(video)
    elif link == "hardlink":
        os.link(video, other)
    else:
        other = tmp_path / "sub" / ".." / "in.mp4"
        (tmp_path / "sub").mkdir()
    before = _digest(video)
    assert main(["analyze", str(video), "--output", str(other), "--no-progress"]) == 2
    assert "is the input" in _one_error_line(capsys.readouterr().err)
    assert _digest(video) == before


def test_two_outputs_with_one_path_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a.jsonl"
    assert main(["analyze", str(SAMPLE), "--jsonl", str(out), "--json", str(tmp_path / "." / "a.jsonl")]) == 2
    assert "--jsonl and --json both write" in _one_error_line(capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.slow
def test_a_bad_later_output_leaves_an_earlier_file_untouched(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    previous = tmp_path / "previous.jsonl"
    previous.write_text('{"frame": 0}\n')
    code = main(["analyze", str(SAMPLE), "--jsonl", str(previous), "--csv", "/nonexistent-dir/x.csv", "--no-progress"])
    assert code == 2
    assert "no such directory /nonexistent-dir" in _one_error_line(capsys.readouterr().err)
    assert previous.read_text() == '{"frame": 0}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["previous.jsonl"]  # no empty or .partial file left


# -- standard output -------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("option", ["--jsonl", "--csv"])
def test_dash_writes_records_to_standard_output(tmp_path: Path, option: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", str(SAMPLE), option, "-", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []  # no file named "-"
    lines = proc.stdout.splitlines()
    if option == "--jsonl":
        assert [json.loads(line)["frame"] for line in lines] == list(range(72))
    else:
        assert lines[0].startswith("frame,timestamp_ms,") and len(lines) >= 1 + 0.95 * 72
    assert "wrote" not in proc.stderr


def test_only_jsonl_and_csv_go_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(SAMPLE), "--json", "-"]) == 2
    assert "--json cannot write to standard output" in _one_error_line(capsys.readouterr().err)
    assert main(["analyze", str(SAMPLE), "--jsonl", "-", "--csv", "-"]) == 2
    assert "both write to standard output" in _one_error_line(capsys.readouterr().err)


# -- full disk -------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_full_disk_is_an_error_naming_the_file(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    if sys.platform != "linux":
        pytest.skip("mounting a tiny tmpfs needs Linux")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        (tmp_path / "out.jsonl").write_text("")
        outputs = ["--output", str(small / "out.avi"), "--jsonl", str(tmp_path / "out.jsonl")]
        proc = subprocess.run(
            [sys.executable, "-m", "affectlens.cli", "analyze", str(SAMPLE), "--no-progress", *outputs],
            capture_output=True,
            text=True,
            timeout=300,
        )
        leftovers = sorted(p.name for p in small.iterdir())
    finally:
        subprocess.run(["umount", "--lazy", str(small)], check=False)
    assert proc.returncode != 0 and "wrote" not in proc.stderr
    line = _one_error_line(proc.stderr)
    assert f"cannot write {small / 'out.avi'}: No space left on device" in line
    assert leftovers == []  # the incomplete video was removed
    records = read_jsonl(tmp_path / "out.jsonl")  # the other output is kept, complete up to the failing frame
    assert 0 < len(records) < 72 and [r["frame"] for r in records] == list(range(len(records)))


# -- Ctrl-C and SIGTERM ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample clip 8 times over (576 frames, 19 s at 30 fps): long enough to interrupt mid-run."""
    capture = cv2.VideoCapture(str(SAMPLE))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    path = tmp_path_factory.mktemp("clip") / "long.avi"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (width, height))
    for _ in range(8):
        for image in frames:
            writer.write(image)
    writer.release()
    return path


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "affectlens.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        preexec_fn=sigint_as_default,
    )


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


def _records_started(tmp_path: Path) -> Callable[[], bool]:
    def started() -> bool:
        return any(p.name.endswith(".jsonl") and p.stat().st_size > 0 for p in tmp_path.iterdir())

    return started


def _decoded_frames(path: Path) -> tuple[int, int]:
    capture = cv2.VideoCapture(str(path))
    count, decoded = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0
    while capture.read()[0]:
        decoded += 1
    capture.release()
    return count, decoded


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signals", "code"),
    [([signal.SIGINT], 130), ([signal.SIGTERM], 143), ([signal.SIGINT, signal.SIGINT], 130)],
    ids=["sigint", "sigterm", "two-sigints"],
)
def test_stop_signal_finalises_every_output_with_the_same_frames(
    tmp_path: Path, long_clip: Path, signals: list[int], code: int
) -> None:
    args = ["analyze", str(long_clip), "--jsonl", "out.jsonl", "--csv", "out.csv", "--json", "out.json"]
    proc = _start([*args, "--output", "out.mp4", "--no-progress"], tmp_path)
    _wait_for(_records_started(tmp_path), proc)
    time.sleep(0.3)  # some frames in
    for signum in signals:
        proc.send_signal(signum)
        time.sleep(0.01)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert re.search(r"^analysed \d+ of \d+ frames", err, re.M), err  # the summary is printed
    stop = re.search(r"^affectlens: interrupted after (?:frame )?(\d+)", err, re.M)
    assert stop, err
    frames = int(stop[1])
    records = read_jsonl(tmp_path / "out.jsonl")
    assert len(records) == frames, err  # the numbers agree: frames said = records = video frames
    assert f"the outputs are complete up to frame {records[-1]['frame']}" in err
    assert [r["frame"] for r in json.loads((tmp_path / "out.json").read_text())] == list(range(frames))
    assert _decoded_frames(tmp_path / "out.mp4") == (frames, frames)  # playable, one frame per record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.json", "out.jsonl", "out.mp4"]


def _numpy_loading(pid: int) -> Callable[[], bool]:
    """True once the process has started to load numpy (its C extension is mapped): imports and model loading follow."""

    def loading() -> bool:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()

    return loading


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps to see the start-up advance")
@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4, 0.8])
def test_ctrl_c_while_starting_is_a_clean_exit_130(tmp_path: Path, delay: float) -> None:
    proc = _start(["analyze", str(SAMPLE), "--jsonl", "out.jsonl", "--output", "out.mp4", "--no-progress"], tmp_path)
    _wait_for(_numpy_loading(proc.pid), proc, timeout=60)
    time.sleep(delay)  # imports, then model loading: about 1.5 s in all
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal (a very fast machine)")
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("affectlens: interrupted"), err
    assert "Traceback" not in err and "error" not in err, err
    if len(lines) == 1:  # stopped before the run started: nothing may be left behind
        assert list(tmp_path.iterdir()) == []


# -- what the annotated video shows ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_one_frame_video_shows_no_made_up_frame_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from affectlens.core import Frame
    from affectlens.io import VideoSink
    from affectlens.pipeline import Analyzer
    from affectlens.render import Overlay

    shown: list[str] = []
    original = Overlay.annotate

    def annotate(self: Overlay, image: np.ndarray, result: object, fps: float | None = None, **kw: object) -> object:
        shown.append(self.hud.text(result, fps) if hasattr(self, "hud") else f"{fps} fps")
        return original(self, image, result, fps=fps, **kw)

    monkeypatch.setattr(Overlay, "annotate", annotate)
    frame = Frame(np.full((48, 64, 3), 128, np.uint8), index=0, timestamp_ms=0.0)
    with Analyzer() as analyzer, VideoSink(tmp_path / "one.mp4", 25.0, (64, 48)) as video:
        analyzer.run([frame], annotated=[video])
    assert len(shown) == 1 and "0.0 fps" not in shown[0], shown  # no interval measured yet: no rate to show
