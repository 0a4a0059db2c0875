"""Where a batch writes (``out/``), the per-video completion marker, and the lock that keeps one run per ``out/``.

out/summary.parquet             one row per input video of the run
out/records/<id>/part-*.parquet the Parquet dataset of one video (``pd.read_parquet("out/records")``)
out/videos/<id>/                records.jsonl, report.json, timeline.png, annotated.mp4, done.json (written last)
out/.work/<id>/                 a video in progress; renamed into records/ and videos/ when complete
out/.lock                       held (flock) by the running batch
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from affectlens.io.file_sink import os_reason, write_file

MARKER = "done.json"


class OutputDirError(ValueError):
    """``--out`` cannot be used: not writable, or another batch is running on it (one line)."""


@dataclass(frozen=True)
class BatchLayout:
    """The paths of a batch output folder ``root``."""

    root: Path

    @property
    def records_root(self) -> Path:
        return self.root / "records"

    @property
    def videos_root(self) -> Path:
        return self.root / "videos"

    @property
    def work_root(self) -> Path:
        return self.root / ".work"

    @property
    def summary(self) -> Path:
        return self.root / "summary.parquet"

    def records(self, video_id: str) -> Path:
        return self.records_root / video_id

    def videos(self, video_id: str) -> Path:
        return self.videos_root / video_id

    def marker(self, video_id: str) -> Path:
        return self.videos(video_id) / MARKER

    def work(self, video_id: str) -> Path:
        return self.work_root / video_id

    def prepare(self) -> None:
        """Create ``root`` and its folders.

        Raises:
            OutputDirError: ``root`` cannot be created or written (one line naming it and the reason).
        """
        try:
            for folder in (self.root, self.records_root, self.videos_root, self.work_root):
                folder.mkdir(parents=True, exist_ok=True)
            probe = self.work_root / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OutputDirError(f"cannot write --out {self.root}: {os_reason(self.root / 'x', exc)}") from None

    def read_marker(self, video_id: str) -> dict[str, Any] | None:
        """The completion marker of ``video_id`` (None: absent or unreadable, i.e. not finished)."""
        try:
            marker = json.loads(self.marker(video_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return marker if isinstance(marker, dict) else None

    def write_marker(self, video_id: str, marker: dict[str, Any]) -> None:
        """Write the marker atomically (temporary name, then renamed): the last file of a finished video."""
        write_file(self.marker(video_id), json.dumps(marker, indent=2) + "\n")

    def clear(self, video_id: str) -> None:
        """Remove what an earlier run left of ``video_id``: its marker first (so it never claims a half-removed
        video), then its records, its files and its work folder."""
        with contextlib.suppress(FileNotFoundError):
            self.marker(video_id).unlink()
        for folder in (self.records(video_id), self.videos(video_id), self.work(video_id)):
            shutil.rmtree(folder, ignore_errors=True)


class BatchLock:
    """An exclusive lock on ``out/.lock`` for the run's lifetime (``flock``: released by the OS if the driver dies).

    Raises (on enter):
        OutputDirError: another batch holds it (its pid is named).
    """

    def __init__(self, root: Path) -> None:
        self.path = root / ".lock"
        self._file: IO[str] | None = None

    def __enter__(self) -> BatchLock:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; one run per folder is then up to the user
            return self
        file = open(self.path, "a+", encoding="utf-8")  # held until __exit__
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise OutputDirError(
                f"another batch (pid {holder}) is writing {self.path.parent}: wait for it, or give another --out"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self._file = file
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the flock
            self._file = None
