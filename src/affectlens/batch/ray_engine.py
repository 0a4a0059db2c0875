"""``--engine ray``: one actor per CPU of a Ray cluster, each holding an analyzer built once; one task per video.

Each actor opens its video itself (OpenCV/FFmpeg on the node, not Ray Data's video reader) and writes the outputs to
``--out``, which must therefore be storage that every node sees at the same path (NFS, a mounted bucket...). Only
summary rows travel back to the driver, and decoded-frame counts through a ``ray.util.queue.Queue`` for the progress
bar. Without ``--address`` a local Ray instance is started (and stopped at the end); a Ray already initialised in the
calling process (a notebook, a test) is used as it is.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from affectlens import interrupts
from affectlens.batch.engines import ATTEMPTS, POLL_S, default_workers
from affectlens.batch.inputs import VideoInput
from affectlens.batch.job import describe
from affectlens.batch.options import BatchOptions
from affectlens.batch.summary import base_row
from affectlens.native_logs import native_stderr_silenced

INSTALL = "pip install 'affectlens[scale]'"
#: Seconds to wait for a TCP connection to ``--address`` before saying the cluster is unreachable.
CONNECT_TIMEOUT_S = 5.0
#: Environment variable: seconds to wait for ``ray.init`` (default :data:`RAY_INIT_TIMEOUT_S`).
CONNECT_TIMEOUT_VARIABLE = "AFFECTLENS_RAY_INIT_TIMEOUT_S"
#: Seconds to wait for ``ray.init`` to join a cluster (3-8 s when it works).
RAY_INIT_TIMEOUT_S = 60.0


class RayVideoWorker:
    """The actor: a :class:`~affectlens.batch.worker.BatchWorker` whose progress goes to a Ray queue."""

    def __init__(self, options: BatchOptions, root: str, config_hash: str, frames: Any) -> None:
        from affectlens.batch.worker import BatchWorker

        self.frames = frames
        self.worker = BatchWorker(options, root, config_hash, report=self._report)

    def _report(self, video_id: str, count: int) -> None:
        with contextlib.suppress(Exception):  # progress is best effort, never a video's failure
            self.frames.put_nowait(count)

    def run(self, video: VideoInput) -> dict[str, Any]:
        return self.worker.run(video)


def import_ray() -> Any:
    """The ``ray`` module. Raises RuntimeError naming the install command when it is missing."""
    try:
        import ray
    except ModuleNotFoundError:
        raise RuntimeError(f"--engine ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


def check_reachable(address: str) -> None:
    """Fail fast (one line) when ``address`` (``host:port`` or ``ray://host:port``) takes no TCP connection; Ray's
    own connect retries for minutes. ``auto`` and addresses without a port are left to Ray.

    Raises:
        RuntimeError: the cluster cannot be reached.
    """
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RuntimeError(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}): start it with `ray start --head` "
            "there, or check the address and port"
        ) from None


def connect_timeout_s() -> float:
    """Seconds to wait for ``ray.init`` to join a cluster: ``$AFFECTLENS_RAY_INIT_TIMEOUT_S`` when set to a positive
    number, else :data:`RAY_INIT_TIMEOUT_S`."""
    text = os.environ.get(CONNECT_TIMEOUT_VARIABLE, "")
    try:
        value = float(text)
    except ValueError:
        return RAY_INIT_TIMEOUT_S
    return value if value > 0 else RAY_INIT_TIMEOUT_S


_PROBE = (
    "import sys, ray; ray.init(address=sys.argv[1], include_dashboard=False, logging_level='ERROR', "
    "log_to_driver=False); ray.shutdown()"
)


def probe_cluster(address: str) -> None:
    """Join the cluster at ``address`` once from a child process, within :func:`connect_timeout_s`.

    On an address whose port answers but is not Ray's, ``ray.init`` retries for minutes (it hung for over 4 here)
    while its C++ client logs a line per retry; in a child process the wait can be bounded and the lines dropped.

    Raises:
        RuntimeError: no answer within the time, or Ray refused (one line).
    """
    timeout = connect_timeout_s()
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, address], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"cannot reach the Ray cluster at {address}: no answer from Ray within {timeout:g} s (is it the address "
            f"of a Ray head, port 6379 by default? ${CONNECT_TIMEOUT_VARIABLE} sets the wait)"
        ) from None
    if probe.returncode != 0:
        errors = [line for line in probe.stderr.splitlines() if line.strip() and not line.startswith((" ", "["))]
        reason = errors[-1].split(": ", 1)[-1] if errors else f"exit code {probe.returncode}"
        raise RuntimeError(f"cannot reach the Ray cluster at {address}: {reason}")


def connect(address: str | None, workers: int | None) -> tuple[Any, bool]:
    """``(ray, started)``: Ray initialised for this batch; ``started`` when this call started it (then the engine
    shuts it down at the end).

    Raises:
        RuntimeError: Ray missing, or the cluster unreachable (one line each).
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = workers or default_workers()
    where = f"the Ray cluster at {address}" if address else "a local Ray instance"
    if address:
        probe_cluster(address)
    try:
        with native_stderr_silenced():  # Ray's C++ client logs every retry on stderr
            ray.init(**kwargs)
    except (ConnectionError, TimeoutError) as error:
        raise RuntimeError(f"cannot reach {where}: {str(error).strip().splitlines()[0]}") from None
    return ray, True


class RayEngine:
    """See the module docstring. ``workers``: actors to start (default: one per CPU of the cluster)."""

    def __init__(
        self,
        options: BatchOptions,
        root: Path,
        config_hash: str,
        workers: int | None = None,
        address: str | None = None,
    ) -> None:
        self.options = options
        self.root = Path(os.path.abspath(root))
        self.config_hash = config_hash
        self.workers = workers
        self.address = address
        ray = import_ray()  # a missing Ray, or an address that takes no connection, fails here, before any work
        if address and not ray.is_initialized():
            check_reachable(address)

    def run(
        self, videos: Sequence[VideoInput], on_frames: Callable[[int], Any], on_row: Callable[[dict[str, Any]], Any]
    ) -> None:
        ray, started = connect(self.address, self.workers)
        from ray.util.queue import Queue

        actors: list[Any] = []
        frames = None
        try:
            frames = Queue()
            remote = ray.remote(num_cpus=1)(RayVideoWorker)
            count = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

            def new_actor() -> Any:
                actor = remote.remote(self.options, str(self.root), self.config_hash, frames)
                actors.append(actor)
                return actor

            idle = [new_actor() for _ in range(min(count, len(videos)))]
            todo = deque(videos)
            attempts = dict.fromkeys((v.id for v in videos), 0)
            running: dict[Any, tuple[VideoInput, Any]] = {}
            while todo or running:
                while idle and todo:
                    video, actor = todo.popleft(), idle.pop()
                    running[actor.run.remote(video)] = (video, actor)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                _drain(frames, on_frames)
                interrupts.check()
                for ref in ready:
                    video, actor = running.pop(ref)
                    try:
                        row = ray.get(ref)
                        idle.append(actor)
                    except ray.exceptions.RayActorError as error:  # the actor's process died (or never started)
                        idle.append(new_actor())
                        attempts[video.id] += 1
                        if attempts[video.id] < ATTEMPTS:
                            todo.append(video)
                            continue
                        row = {**base_row(video), "status": "failed", "error": f"the Ray actor died: {describe(error)}"}
                    except ray.exceptions.RayTaskError as error:
                        idle.append(actor)
                        cause = getattr(error, "cause", None) or error
                        row = {**base_row(video), "status": "failed", "error": describe(cause)}
                    on_row(row)
            _drain(frames, on_frames)
        finally:
            with interrupts.deferred(raise_pending=False):
                for actor in actors:
                    ray.kill(actor)
                if frames is not None:
                    frames.shutdown(force=True)
                if started:
                    ray.shutdown()


def _drain(frames: Any, on_frames: Callable[[int], Any]) -> None:
    with contextlib.suppress(Exception):  # progress is best effort
        size = frames.qsize()
        if size:
            on_frames(sum(frames.get_nowait_batch(size)))
