"""``affectlens batch --engine ray --address ...`` joining a running Ray cluster (``ray start --head`` on this machine,
offline), as a user of a real cluster does: the address is probed from a child process, then joined; the actors
write the outputs and only summary rows come back."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_batch import CLIPS, clips, summary

pytest.importorskip("ray")
__all__ = ["clips"]  # the module-scoped fixture of test_batch: 1-s cuts of 3 shared clips


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[None]:
    """A one-node Ray cluster started with the `ray` command (stopped at the end, also when the test fails)."""
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray_cli is None:
        pytest.skip("the `ray` command is not installed beside this Python")
    start = [ray_cli, "start", "--head", f"--port={free_port()}", "--num-cpus=2", "--include-dashboard=false"]
    started = subprocess.run(
        [*start, "--disable-usage-stats"], capture_output=True, text=True, timeout=120, check=False
    )
    try:
        assert started.returncode == 0, started.stderr[-2000:]
        yield
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120, check=False)


@pytest.mark.slow
def test_batch_joins_a_running_cluster(ray_head: None, clips: Path, tmp_path: Path):
    out = tmp_path / "out"
    # `auto`: the cluster that `ray start` recorded on this machine (this sandbox cannot dial its own external IP)
    command = [sys.executable, "-m", "affectlens.cli", "batch", str(clips), "--out", str(out), "--engine", "ray"]
    proc = subprocess.run(
        [*command, "--address", "auto", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "AFFECTLENS_RAY_INIT_TIMEOUT_S": "60"},
    )
    assert proc.returncode == 0, proc.stderr
    rows = summary(out)
    assert {row["status"] for row in rows.values()} == {"done"}
    assert sum(row["frames"] for row in rows.values()) == sum(CLIPS.values())
    assert all(str(row["worker"]).split(":")[-1] != str(os.getpid()) for row in rows.values())
