"""``MetricsSink``: one CSV row per second of processing: fps, CPU %, RSS MB, faces and capture-to-result latency."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from affectlens.core import FrameResult
from affectlens.io.errors import SinkError
from affectlens.io.file_sink import FileSink


class MetricsSink(FileSink):
    """A CSV row per wall-clock second of processing: ``second, frames, fps, cpu_percent, rss_mb, faces, latency_ms``.

    ``second`` counts from the first ``write()`` (0-based); ``fps`` is frames per second of that row's span (1 s, or
    less for the final partial second written by ``close()``); ``cpu_percent`` is this process's CPU use since the
    previous row (100 = one core busy, so up to 100 x cores); ``rss_mb`` is resident memory in MiB; ``faces`` counts
    faces in the frames of that second; ``latency_ms`` is the mean capture-to-result latency of those frames
    (``result.timings_ms["latency"]``: from the moment the source decoded or received the frame to the moment its
    result was ready), empty when no frame of that second carries one. Seconds without any frame (a stall) get rows
    with ``frames = 0``.

    Args:
        path: the CSV to write.
        clock: monotonic time in seconds (tests pass a fake one).
    """

    COLUMNS = ("second", "frames", "fps", "cpu_percent", "rss_mb", "faces", "latency_ms")

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(path)
        self._buffer = io.StringIO()  # rows are formatted here, then written by FileSink._emit
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self._clock = clock
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts psutil's measurement interval
        self._t0: float | None = None
        self._second = 0
        self._frames = 0
        self._faces = 0
        self._latency_sum = 0.0  # ms, over the frames of the current second that carry a latency
        self._latency_frames = 0
        self.rows_written = 0
        self._emit_rows([list(self.COLUMNS)])

    def _emit_rows(self, rows: list[list[Any]]) -> None:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)
        self._emit(self._buffer.getvalue())

    def _finish_seconds(self, upto: int) -> None:
        """Write rows for seconds ``self._second`` .. ``upto - 1`` (the current one, then any empty ones)."""
        cpu = round(self._process.cpu_percent(None), 1)
        rss = round(self._process.memory_info().rss / 2**20, 1)
        rows = []
        while self._second < upto:
            rows.append(
                [self._second, self._frames, round(self._frames / 1.0, 2), cpu, rss, self._faces, self._latency()]
            )
            self._second += 1
            self._frames = self._faces = self._latency_frames = 0
            self._latency_sum = 0.0
        self._emit_rows(rows)
        self.rows_written += len(rows)

    def write(self, result: FrameResult) -> None:
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        second = int(now - self._t0)
        if second > self._second:
            self._finish_seconds(second)
        self._frames += 1
        self._faces += len(result.faces)
        latency = result.timings_ms.get("latency")
        if latency is not None and math.isfinite(latency):
            self._latency_sum += float(latency)
            self._latency_frames += 1
        self.frames_written += 1

    def _latency(self) -> float | str:
        """Mean latency in ms of the current second's frames, rounded to 0.1 ms; "" when none had one."""
        return round(self._latency_sum / self._latency_frames, 1) if self._latency_frames else ""

    def _finish(self) -> None:
        """Write the final partial second (its fps over the time it lasted)."""
        if self._t0 is not None and self._frames > 0:
            span = max(self._clock() - self._t0 - self._second, 1e-3)
            cpu = round(self._process.cpu_percent(None), 1)
            rss = round(self._process.memory_info().rss / 2**20, 1)
            fps = round(self._frames / min(span, 1.0), 2)
            self._emit_rows([[self._second, self._frames, fps, cpu, rss, self._faces, self._latency()]])
            self.rows_written += 1
