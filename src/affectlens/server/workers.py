"""``WorkerPool``: a bounded pool of analyzer threads, one :class:`~affectlens.pipeline.Analyzer` per thread, built
once when the thread starts (the analyzer is not thread-safe: no two threads ever share one).

Tasks are callables ``task(analyzer) -> value``, queued in a bounded queue; :meth:`WorkerPool.submit` raises
:class:`QueueFull` instead of waiting when it is full (the API answers 429). The event loop awaits a task's
``concurrent.futures.Future`` (``asyncio.wrap_future``); no CPU work runs on it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from affectlens.pipeline import Analyzer, AnalyzerConfig

log = logging.getLogger(__name__)

Task = Callable[[Analyzer], Any]


class QueueFull(Exception):
    """Every worker is busy and the queue is full: try again later."""


class WorkerPool:
    """``workers`` threads, each with its own analyzer built from ``config``, fed from a queue of ``queue_size``.

    Args:
        config: the analyzers' settings (one ONNX Runtime thread each: one worker per core).
        workers: number of threads (>= 1).
        queue_size: tasks waiting beyond the running ones (>= 1).
    """

    def __init__(self, config: AnalyzerConfig, workers: int, queue_size: int) -> None:
        if workers < 1 or queue_size < 1:
            raise ValueError(f"--workers and --queue-size must be >= 1, got {workers} and {queue_size}")
        self.config = config
        self.queue: queue.Queue[tuple[Task, Future[Any]] | None] = queue.Queue(maxsize=queue_size)
        self.busy = 0
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._started = 0
        self._errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._work, name=f"affectlens-worker-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self.threads:
            thread.start()

    @property
    def depth(self) -> int:
        """Tasks waiting in the queue (not counting running ones)."""
        return self.queue.qsize()

    def wait_ready(self) -> None:
        """Block until every analyzer is built. Raises the first error that stopped one from being built."""
        self.ready.wait()
        if self._errors:
            raise self._errors[0]

    def submit(self, task: Task) -> Future[Any]:
        """Queue ``task``; its future.

        Raises:
            QueueFull: the queue is full.
        """
        future: Future[Any] = Future()
        try:
            self.queue.put_nowait((task, future))
        except queue.Full:
            raise QueueFull from None
        return future

    def close(self) -> None:
        """Stop the threads after the tasks they are running (queued tasks are cancelled)."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[1].cancel()
        for _ in self.threads:
            self.queue.put(None)

    def _work(self) -> None:
        try:
            analyzer = Analyzer(self.config)
        except BaseException as error:  # a model that cannot load: reported by wait_ready
            self._errors.append(error)
            self.ready.set()
            return
        with self._lock:
            self._started += 1
            if self._started == len(self.threads):
                self.ready.set()
        with analyzer:
            while (item := self.queue.get()) is not None:
                task, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                with self._lock:
                    self.busy += 1
                try:
                    future.set_result(task(analyzer))
                except BaseException as error:  # the task's failure is its future's, never the worker's
                    future.set_exception(error)
                finally:
                    analyzer.reset()  # the next task starts from a clean state
                    with self._lock:
                        self.busy -= 1
