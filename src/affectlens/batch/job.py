"""One video of a batch: analysed into ``out/.work/<id>/``, then renamed into ``out/records/<id>/`` and
``out/videos/<id>/``, with the completion marker ``done.json`` written last.

A failure of the video (missing, unreadable, not a video, no decodable frame, an output that cannot be written)
becomes its summary row's ``error``; it never raises, except for an interruption (``KeyboardInterrupt``), after which
the video's work folder is left for the next run to clear.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from affectlens.batch.inputs import VideoInput
from affectlens.batch.layout import BatchLayout
from affectlens.batch.options import BatchOptions
from affectlens.batch.stats import FrameCounter, VideoStats
from affectlens.batch.summary import base_row

#: File names inside ``out/videos/<id>/``.
RECORDS_JSONL = "records.jsonl"
REPORT_JSON = "report.json"
TIMELINE_PNG = "timeline.png"
ANNOTATED_MP4 = "annotated.mp4"


def run_job(
    analyzer: Any,
    video: VideoInput,
    layout: BatchLayout,
    options: BatchOptions,
    config_hash: str,
    report_frames: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Analyse ``video`` with ``analyzer`` and publish its outputs; returns its summary row (``status`` ``done`` or
    ``failed`` with ``error``).

    Args:
        analyzer: a :class:`~affectlens.pipeline.Analyzer` built from ``options.config`` (reused across videos).
        report_frames: called with the number of decoded frames done since the last call (progress).

    Raises:
        KeyboardInterrupt: the run was interrupted; nothing of this video is published.
    """
    started = time.perf_counter()
    row = base_row(video)
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    try:
        layout.clear(video.id)
        work = layout.work(video.id)
        (work / "videos").mkdir(parents=True)
        row.update(_analyse(analyzer, video, work, options, report_frames))
        outputs = _publish(work, layout, video.id)
        marker: dict[str, Any] = {"id": video.id, "path": video.path, "config_hash": config_hash, "outputs": outputs}
        row["status"] = "done"
        row["seconds"] = round(time.perf_counter() - started, 3)
        row["fps"] = round(row["frames"] / row["seconds"], 2) if row["seconds"] > 0 else None
        marker["summary"] = row
        layout.write_marker(video.id, marker)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # one video's failure never stops the batch: it is its row's error
        shutil.rmtree(layout.work(video.id), ignore_errors=True)
        row.update(status="failed", error=describe(error), seconds=round(time.perf_counter() - started, 3))
    return row


def describe(error: BaseException) -> str:
    """One line for a video's ``error`` column: the message of affectlens's own errors and of OS errors, the
    exception type in front of anything else."""
    from affectlens.io.errors import AffectlensIOError

    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, (AffectlensIOError, OSError)) and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _analyse(
    analyzer: Any, video: VideoInput, work: Path, options: BatchOptions, report_frames: Callable[[int], Any] | None
) -> dict[str, Any]:
    """Run the analyzer on ``video`` into ``work``; the row fields it measured."""
    from affectlens.analytics.report import write_report
    from affectlens.io import JsonlSink, SourceError, VideoSink, open_source

    files = work / "videos"
    jsonl_path = files / RECORDS_JSONL
    stats = VideoStats()
    counter = FrameCounter(report_frames or (lambda n: None))
    with ExitStack() as stack:
        source = stack.enter_context(open_source(video.path, mode="file"))
        if source.kind not in ("video", "stream"):
            raise SourceError(
                f"{video.path} is not a video (it is read as {'an' if source.kind == 'image' else 'a'} {source.kind})"
            )
        sinks: list[Any] = [stats, counter, stack.enter_context(JsonlSink(jsonl_path))]  # JSONL: the report reads it
        if options.parquet:
            from affectlens.io.parquet_sink import ParquetSink

            sinks.append(stack.enter_context(ParquetSink(work / "records", labels=analyzer.labels)))
        annotated: list[Any] = []
        if options.video:
            annotated.append(stack.enter_context(VideoSink(files / ANNOTATED_MP4, source.fps or 25.0, source.size)))
        summary = analyzer.run(source, sinks, annotated=annotated, video_id=video.id)
        if summary.interrupted:
            raise KeyboardInterrupt
        if summary.frames_read == 0:
            raise SourceError(f"no frame could be decoded from {video.path}")
        fps = source.fps
    counter.flush(summary.frames_read)
    write_report(jsonl_path, files / REPORT_JSON, files / TIMELINE_PNG)
    if not options.jsonl:
        jsonl_path.unlink()
    duration = summary.frames_read / fps if fps else stats.last_ms / 1e3
    return {
        "warning": summary.warning,
        "duration_s": round(duration, 3),
        "frames": summary.frames_read,
        "frames_analyzed": summary.frames_analyzed,
        "frames_with_faces": summary.frames_with_faces,
        "faces": summary.faces,
        "tracks": len(stats.tracks),
        "emotions": stats.shares(tuple(analyzer.labels)),
        "valence_mean": stats.mean("valence"),
        "arousal_mean": stats.mean("arousal"),
        "engagement_mean": stats.mean("engagement"),
    }


def _publish(work: Path, layout: BatchLayout, video_id: str) -> list[str]:
    """Rename the finished outputs out of ``work`` (records first, files second); their paths relative to ``out``."""
    written: list[str] = []
    if (work / "records").is_dir():
        os.replace(work / "records", layout.records(video_id))
        written.append(layout.records(video_id).relative_to(layout.root).as_posix())
    os.replace(work / "videos", layout.videos(video_id))
    written += sorted(p.relative_to(layout.root).as_posix() for p in layout.videos(video_id).iterdir())
    shutil.rmtree(work, ignore_errors=True)
    return written
