"""``run_batch``: the driver of ``affectlens batch``: find the videos, plan, run them on an engine, keep
``summary.parquet`` current, and say how it went."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectlens.batch.inputs import VideoInput, find_videos
from affectlens.batch.layout import BatchLayout, BatchLock
from affectlens.batch.options import BatchOptions, config_hash
from affectlens.batch.plan import make_plan
from affectlens.batch.progress import BatchProgress, header_frames, longest_first, video_headers
from affectlens.batch.summary import base_row, write_summary


@dataclass
class BatchResult:
    """What a batch did: ``rows`` (one per input video, in input order, as in ``summary.parquet``), the counts by
    status, frames analysed by this run and its wall-clock ``seconds``."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary_path: Path | None = None
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.get("status") == status)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row.get("status") == "failed"]

    @property
    def frames_analyzed(self) -> int:
        return sum(row.get("frames_analyzed") or 0 for row in self.rows if row.get("status") == "done")

    @property
    def frames(self) -> int:
        return sum(row.get("frames") or 0 for row in self.rows if row.get("status") == "done")


def run_batch(
    inputs: Sequence[str | Path],
    out: str | Path,
    options: BatchOptions | None = None,
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Analyse every video of ``inputs`` into ``out`` (see :mod:`affectlens.batch`).

    Everything that can be checked is checked before any video is analysed: the inputs (at least one video), ``out``
    (writable, not used by another batch), the settings (the analyzer is built once here), the engine (Ray installed,
    its cluster reachable when it starts).

    Raises:
        InputError, OutputDirError, ValueError, RuntimeError: one line each (bad input); KeyboardInterrupt: stopped,
        with ``summary.parquet`` written (unfinished videos ``pending``).
    """
    from affectlens.batch.engines import create_engine
    from affectlens.io.parquet_sink import require_pyarrow

    options = options or BatchOptions()
    started = time.perf_counter()
    layout = BatchLayout(Path(os.path.abspath(out)))
    videos = find_videos(inputs, exclude=layout.root)
    require_pyarrow("batch (summary.parquet)")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    digest = config_hash(options)
    run_engine = create_engine(engine, options, layout.root, digest, workers, address)
    layout.prepare()
    with BatchLock(layout.root):
        _check_settings(options)
        plan = make_plan(videos, layout, digest, force=force)
        rows: dict[str, dict[str, Any]] = {v.id: plan.finished.get(v.id) or base_row(v) for v in videos}
        result = BatchResult(summary_path=layout.summary)
        write_summary(layout.summary, rows.values())
        headers = video_headers([v.path for v in plan.todo])  # each header opened once: the ETA and the order
        bar = BatchProgress(len(plan.todo), header_frames(headers), enabled=progress)
        if plan.finished:
            bar.note(f"skipped {len(plan.finished)} of {len(videos)} videos: finished by an earlier run, same settings")

        def on_row(row: dict[str, Any]) -> None:
            rows[row["id"]] = row
            write_summary(layout.summary, rows.values())
            bar.video(row)

        try:
            if plan.todo:
                run_engine.run(longest_first(plan.todo, headers), bar.frames, on_row)  # rows stay in input order
        finally:
            bar.close()
            result.rows = list(rows.values())
            result.seconds = time.perf_counter() - started
            write_summary(layout.summary, result.rows)
    return result


def _check_settings(options: BatchOptions) -> None:
    """Build the analyzer once (a bad detector, model or stage fails here, in one line, not in every worker)."""
    from affectlens.pipeline import Analyzer

    with Analyzer(options.config):
        pass


__all__ = ["BatchOptions", "BatchResult", "VideoInput", "run_batch"]
