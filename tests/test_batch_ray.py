"""``affectlens batch --engine ray`` (issue 13) on a local Ray instance (``ray.init(num_cpus=2)``, offline): the same
outputs, resume and failure handling as the local engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_batch import CLIPS, batch, clips, clips_and_a_corrupt_file, records, run_killed_then_rerun, summary

ray = pytest.importorskip("ray")
__all__ = ["clips"]  # the module-scoped fixture of test_batch: 1-s cuts of 3 shared clips


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_batch_writes_everything_and_skips_finished(
    local_ray: None, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    inputs = clips_and_a_corrupt_file(clips, tmp_path / "in")
    out = tmp_path / "out"
    assert batch(str(inputs), "--out", str(out), "--engine", "ray") == 1
    assert "1 of 4 videos failed: corrupt" in capsys.readouterr().err
    rows = summary(out)
    assert rows["corrupt"]["status"] == "failed"
    workers = set()
    for name, frames in CLIPS.items():
        row = rows[Path(name).stem]
        assert (row["status"], row["frames"], row["frames_analyzed"]) == ("done", frames, frames)
        assert len(records(out, row["id"])) == frames
        assert (out / "videos" / row["id"] / "timeline.png").is_file()
        workers.add(row["worker"])
    assert str(os.getpid()) not in {w.rsplit(":", 1)[1] for w in workers}  # analysed in actors, not the driver
    assert ray.is_initialized()  # a Ray the caller started is left running

    os.unlink(inputs / "corrupt.mp4")
    assert batch(str(inputs), "--out", str(out), "--engine", "ray") == 0
    assert {r["status"] for r in summary(out).values()} == {"skipped"}
    assert "0 frames analysed" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_batch_killed_then_rerun(clips: Path, tmp_path: Path):
    """The CLI starts (and ends) its own local Ray instance here. The actors die with the driver; two agents of Ray
    itself (DashboardAgent, RuntimeEnvAgent) outlive a SIGKILLed driver, which the process-group kill ends."""
    run_killed_then_rerun(clips, tmp_path, "--engine", "ray", workers_named="RayVideoWorker")


@pytest.mark.slow
def test_an_address_that_answers_but_is_not_ray_gives_one_line(clips: Path, tmp_path: Path):
    """A port that takes connections but speaks no Ray (here: closes them at once): ray.init retries for minutes (it
    hung for over 4 here) and its C++ client logs a line per retry; the wait is bounded and the user sees one line."""
    import socket
    import subprocess
    import sys
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                connection.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        command = [sys.executable, "-m", "affectlens.cli", "batch", str(clips), "--out", str(tmp_path / "out")]
        command += ["--engine", "ray", "--address", f"127.0.0.1:{port}", "--no-progress"]
        env = {**os.environ, "AFFECTLENS_RAY_INIT_TIMEOUT_S": "10"}
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    finally:
        stop.set()
        thread.join()
        server.close()
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"affectlens: error: cannot reach the Ray cluster at 127.0.0.1:{port}"), lines[0]
    assert "no answer from Ray within 10 s" in lines[0]
