"""The work the pool's threads do: one image, one video job, one live WebSocket session.

Each is a callable ``task(analyzer)`` for :meth:`~affectlens.server.workers.WorkerPool.submit`, run on a worker
thread with that thread's analyzer.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from affectlens.core import Frame, FrameResult
from affectlens.pipeline import Analyzer
from affectlens.server import jobs as J
from affectlens.server.jobs import JobStore
from affectlens.server.metrics import Metrics
from affectlens.stages import RunningMode

PROGRESS_EVERY_S = 0.5
"""How often a running job's ``status.json`` gets its progress (seconds)."""


class JobDeleted(Exception):
    """The job was deleted while it ran: stop."""


def decode_image(data: bytes) -> np.ndarray:
    """JPEG/PNG/... bytes -> (H, W, 3) uint8 BGR.

    Raises:
        ValueError: bytes no codec decodes (corrupt or truncated).
    """
    from affectlens.io.image_source import decode_image as decode

    image = decode(data)
    if image is None:
        raise ValueError("cannot decode the image: corrupt or truncated")
    return image


def analyze_image(data: bytes, metrics: Metrics) -> Callable[[Analyzer], dict[str, Any]]:
    """The task: decode ``data`` and analyse it as a still image; its record."""

    def task(analyzer: Analyzer) -> dict[str, Any]:
        image = decode_image(data)
        frame = Frame(image=image, index=0, timestamp_ms=0.0, source={"kind": "image"})
        record = analyzer.process(frame, RunningMode.IMAGE).to_record()
        metrics.frames_analyzed("image")
        return record

    return task


class _Progress:
    """A record sink that counts frames into the job's status (every :data:`PROGRESS_EVERY_S`); raises
    :class:`JobDeleted` once the job is gone."""

    def __init__(
        self, store: JobStore, job_id: str, total: int | None, metrics: Metrics, max_video_s: float = float("inf")
    ) -> None:
        self.store, self.job_id, self.total, self.metrics = store, job_id, total, metrics
        self.max_ms = max_video_s * 1e3
        self.frames = 0
        self.last = time.monotonic()

    def write(self, result: FrameResult) -> None:
        if result.frame.timestamp_ms > self.max_ms:  # a container that did not say its length at upload
            raise ValueError(f"the video is longer than the limit of {self.max_ms / 1e3:g} s")
        self.frames += 1
        self.metrics.frames_analyzed("job")
        if time.monotonic() - self.last >= PROGRESS_EVERY_S:
            self.last = time.monotonic()
            if self.store.update(self.job_id, progress=self.progress()) is None:
                raise JobDeleted

    def progress(self, done: bool = False) -> dict[str, Any]:
        total = self.total if self.total and self.total > 0 else None
        fraction = 1.0 if done else (min(self.frames / total, 0.99) if total else 0.0)
        return {"frames": self.frames, "total_frames": total, "fraction": round(fraction, 4)}


def run_video_job(
    store: JobStore, job_id: str, input_path: Path, metrics: Metrics, max_video_s: float = float("inf")
) -> Callable[[Analyzer], None]:
    """The task: analyse the job's video into its folder (records JSONL and CSV, report, annotated video when asked);
    the status says ``done`` only once all of them are in place, ``failed`` with ``error`` otherwise (also a video
    that runs past ``max_video_s`` seconds of media time)."""

    def task(analyzer: Analyzer) -> None:
        try:
            status = store.update(job_id, status="running", started_at=_now())
            if status is None:
                return  # deleted while queued
            _analyse(analyzer, store, job_id, input_path, bool(status.get("video")), metrics, max_video_s)
        except JobDeleted:
            return
        except Exception as error:  # the job's failure is its status, never the worker's
            from affectlens.batch.job import describe

            input_path.unlink(missing_ok=True)
            store.update(job_id, status="failed", error=describe(error), finished_at=_now())

    return task


def _analyse(
    analyzer: Analyzer, store: JobStore, job_id: str, input_path: Path, video: bool, metrics: Metrics, max_s: float
) -> None:
    from affectlens.analytics.report import write_report
    from affectlens.io import CsvSink, JsonlSink, SourceError, VideoSink, open_source

    folder = input_path.parent
    with ExitStack() as stack:
        source = stack.enter_context(open_source(input_path, mode="file"))
        progress = _Progress(store, job_id, getattr(source, "frame_count", None), metrics, max_s)
        sinks: list[Any] = [
            progress,
            stack.enter_context(JsonlSink(folder / J.RECORDS_JSONL)),
            stack.enter_context(CsvSink(folder / J.RECORDS_CSV, labels=analyzer.labels)),
        ]
        annotated: list[Any] = []
        if video:
            annotated.append(stack.enter_context(VideoSink(folder / J.ANNOTATED_MP4, source.fps or 25.0, source.size)))
        summary = analyzer.run(source, sinks, annotated=annotated)
        if summary.frames_read == 0:
            raise SourceError("no frame could be decoded from the uploaded video")
    input_path.unlink(missing_ok=True)
    write_report(folder / J.RECORDS_JSONL, folder / J.REPORT_JSON)
    done = store.update(
        job_id,
        status="done",
        finished_at=_now(),
        progress=progress.progress(done=True),
        warning=summary.warning,
        frames_analyzed=summary.frames_analyzed,
    )
    if done is None:
        raise JobDeleted


class StreamSession:
    """A live WebSocket session on one worker: JPEG frames in (:meth:`put`), one record (or error) out per frame, in
    order, through ``emit`` (thread-safe: the app hands it ``loop.call_soon_threadsafe``). Frames are analysed in
    LIVE mode: tracks, smoothing and engagement carry over from frame to frame; timestamps are ms since the session
    started. :meth:`end` (client gone) stops the session after the frame in progress.
    """

    def __init__(self, emit: Callable[[dict[str, Any]], object], metrics: Metrics) -> None:
        self.emit = emit
        self.metrics = metrics
        self.inbox: queue.Queue[bytes | None] = queue.Queue()

    def put(self, data: bytes) -> None:
        self.inbox.put(data)

    def end(self) -> None:
        self.inbox.put(None)

    def __call__(self, analyzer: Analyzer) -> None:
        started = time.monotonic()
        index = 0
        while (data := self.inbox.get()) is not None:
            try:
                image = decode_image(data)
            except ValueError as error:
                self.emit({"error": f"{error}: send one JPEG or PNG image per binary message", "received": len(data)})
                continue
            frame = Frame(image=image, index=index, timestamp_ms=(time.monotonic() - started) * 1e3)
            try:
                record = analyzer.process(frame, RunningMode.LIVE).to_record()
            except Exception as error:  # reported on the socket; the session goes on
                from affectlens.batch.job import describe

                self.emit({"error": f"cannot analyse frame {index}: {describe(error)}", "received": len(data)})
                continue
            self.emit(record)
            self.metrics.frames_analyzed("stream")
            index += 1


def _now() -> float:
    return round(time.time(), 3)
