"""Engines run the videos of a batch and hand each summary row to the driver as it finishes.

``local``: a pool of worker processes on this machine (spawned, one :class:`~affectlens.batch.worker.BatchWorker`
each, built once). ``ray``: one Ray actor per CPU of the cluster (:mod:`affectlens.batch.ray_engine`). Workers write
the outputs themselves (under ``out/``) and report decoded frames through a queue; only rows reach the driver.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

from affectlens import interrupts
from affectlens.batch.inputs import VideoInput
from affectlens.batch.options import BatchOptions
from affectlens.batch.summary import base_row

ENGINES = ("local", "ray")
#: How often the driver looks at the progress queue and for Ctrl-C while waiting for videos, in s.
POLL_S = 0.2
#: Attempts at a video whose worker process died (a crash in a native decoder), before it is recorded as failed.
ATTEMPTS = 3


class Engine(Protocol):
    def run(
        self, videos: Sequence[VideoInput], on_frames: Callable[[int], Any], on_row: Callable[[dict[str, Any]], Any]
    ) -> None:
        """Analyse ``videos``; ``on_frames(n)`` as frames are decoded, ``on_row(row)`` as each video ends.

        Raises:
            KeyboardInterrupt: stopped (Ctrl-C, SIGTERM); the workers are stopped before it propagates.
        """
        ...


def default_workers() -> int:
    """The cores this process may use (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


# -- local: a process pool ---------------------------------------------------------------------------------------------
_worker: Any = None  # the BatchWorker of this worker process
_parent: int | None = None  # the driver's pid


def _init_worker(options: BatchOptions, root: str, config_hash: str, frames: Any) -> None:
    """Process-pool initializer: ignore Ctrl-C (the driver stops the pool), die with the driver, build the analyzer."""
    global _worker, _parent
    from affectlens.batch.worker import BatchWorker, exit_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _parent = os.getppid()
    exit_with_parent()
    _worker = BatchWorker(options, root, config_hash, report=lambda video_id, n: frames.put(n))


def _run_video(video: VideoInput) -> dict[str, Any]:
    assert _worker is not None, "the worker process was not initialised"
    if os.getppid() != _parent:  # the driver is gone (killed): start no new video, nobody would collect it
        os._exit(1)
    return _worker.run(video)


class LocalEngine:
    """A pool of ``workers`` spawned processes, each with one analyzer built once (see the module docstring)."""

    def __init__(self, options: BatchOptions, root: Path, config_hash: str, workers: int | None = None) -> None:
        self.options = options
        self.root = root
        self.config_hash = config_hash
        self.workers = workers or default_workers()

    def run(
        self, videos: Sequence[VideoInput], on_frames: Callable[[int], Any], on_row: Callable[[dict[str, Any]], Any]
    ) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a driver with threads (tqdm, the queue feeder)
        frames = context.Queue()
        attempts = dict.fromkeys((v.id for v in videos), 0)
        todo = list(videos)
        try:
            while todo:
                todo = self._round(todo, context, frames, attempts, on_frames, on_row)
        finally:
            _drain(frames, on_frames)
            frames.close()
            frames.join_thread()

    def _round(
        self,
        videos: list[VideoInput],
        context: Any,
        frames: Any,
        attempts: dict[str, int],
        on_frames: Callable[[int], Any],
        on_row: Callable[[dict[str, Any]], Any],
    ) -> list[VideoInput]:
        """Run ``videos`` on a fresh pool; the videos to retry when a worker process died (the pool is then broken)."""
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(videos)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.options, str(self.root), self.config_hash, frames),
        )
        retry: list[VideoInput] = []
        try:
            pending: dict[Future[dict[str, Any]], VideoInput] = {pool.submit(_run_video, v): v for v in videos}
            while pending:
                done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                _drain(frames, on_frames)
                interrupts.check()
                for future in done:
                    video = pending.pop(future)
                    try:
                        row = future.result()
                    except BrokenProcessPool:
                        attempts[video.id] += 1
                        if attempts[video.id] < ATTEMPTS:
                            retry.append(video)
                            continue
                        row = {**base_row(video), "status": "failed", "error": "the worker process died analysing it"}
                    on_row(row)
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True)
        return retry


def _drain(frames: Any, on_frames: Callable[[int], Any]) -> None:
    count = 0
    while True:
        try:
            count += frames.get_nowait()
        except (queue.Empty, OSError, ValueError):
            break
    on_frames(count)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the pool now: queued videos cancelled, running ones killed (their work folders are redone next run)."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public way to end running tasks
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def create_engine(
    name: str,
    options: BatchOptions,
    root: Path,
    config_hash: str,
    workers: int | None = None,
    address: str | None = None,
) -> Engine:
    """The engine ``name`` (``local`` or ``ray``).

    Raises:
        ValueError: an unknown name, or ``address`` with the local engine. RuntimeError: Ray is missing or its
            cluster cannot be reached (see :func:`affectlens.batch.ray_engine.connect`).
    """
    if name == "local":
        if address:
            raise ValueError("--address joins a Ray cluster: use it with --engine ray")
        return LocalEngine(options, root, config_hash, workers)
    if name == "ray":
        from affectlens.batch.ray_engine import RayEngine

        return RayEngine(options, root, config_hash, workers, address)
    raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
