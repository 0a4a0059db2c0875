"""``BatchWorker``: one analyzer, built once, analysing videos one after another; the same in a local worker process
and in a Ray actor. Single-threaded by design (one worker per core): ONNX Runtime and OpenCV get one thread each."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from affectlens.batch.inputs import VideoInput
from affectlens.batch.job import run_job
from affectlens.batch.layout import BatchLayout
from affectlens.batch.options import BatchOptions

#: Thread-pool variables of native libraries, set to 1 in a worker before they load (one worker per core).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded() -> None:
    """Pin the native libraries of this process to one thread each (call before the analyzer is built)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    import cv2

    cv2.setNumThreads(1)


class BatchWorker:
    """Analyses videos of one batch with an analyzer built once.

    Args:
        options: the batch settings (``config.model_threads`` is forced to 1).
        root: the batch output folder (shared storage when workers run on other machines).
        config_hash: written into each video's marker.
        report: called as ``report(video_id, frames)`` with frames decoded since the last call (progress).
    """

    def __init__(
        self,
        options: BatchOptions,
        root: str | Path,
        config_hash: str,
        report: Callable[[str, int], Any] | None = None,
    ) -> None:
        from affectlens.pipeline import Analyzer

        single_threaded()
        self.options = dataclasses.replace(options, config=dataclasses.replace(options.config, model_threads=1))
        self.layout = BatchLayout(Path(root))
        self.config_hash = config_hash
        self.report = report
        self.analyzer = Analyzer(self.options.config)

    def run(self, video: VideoInput) -> dict[str, Any]:
        """Analyse one video (see :func:`affectlens.batch.job.run_job`); its summary row, never frames."""
        report = self.report
        frames = (lambda n: report(video.id, n)) if report is not None else None
        return run_job(self.analyzer, video, self.layout, self.options, self.config_hash, frames)

    def close(self) -> None:
        self.analyzer.close()


def exit_with_parent(interval_s: float = 1.0) -> None:
    """Start a daemon thread that ends this process when its parent dies (a driver killed with SIGKILL leaves no
    worker behind: the worker is re-parented, which this notices within ``interval_s``)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="affectlens-parent-watch", daemon=True).start()
