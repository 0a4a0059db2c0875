"""``ParquetSink``: the CSV's rows (one per face per frame) as a Parquet dataset folder that survives a crash.

    from affectlens.io.parquet_sink import ParquetSink

    with ParquetSink("out/records") as sink:       # out/records/part-00000.parquet, part-00001.parquet, ...
        for result in results:                    # affectlens.core.FrameResult
            sink.write(result)

    pandas.read_parquet("out/records"); polars.read_parquet("out/records/*.parquet")
    duckdb.sql("SELECT * FROM read_parquet('out/records/*.parquet')")

The folder is written as ``<folder>.partial/`` (``.partial-2``... if that name is taken) and renamed to ``<folder>``
when the sink is closed, if at least one frame was written (else it is removed). Every ``frames_per_part`` frames
the rows so far become one part, written under a hidden temporary name and renamed, so a crash (even SIGKILL) leaves
every part already written readable in ``<folder>.partial/`` (the frames since the last part are lost). An existing
``<folder>`` is replaced only by a finished one (renamed away, the new one renamed in, the old one removed), and only
if it is a previous output of this sink (it holds :data:`MARKER`) or empty: any other folder is refused.

The columns are :class:`~affectlens.io.CsvSink`'s (:mod:`affectlens.io.table`), fixed at the first frame, and so are
their types (int64, float64, bool, string by name); a field that appears only later is left out with one warning.
Needs pyarrow (``pip install 'affectlens[data]'``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from affectlens import interrupts
from affectlens.core import SCHEMA_VERSION, FrameResult
from affectlens.io.errors import ExtraMissingError, SinkError
from affectlens.io.file_sink import STDOUT, os_reason
from affectlens.io.table import Columns, FaceRows

DATA_EXTRA = "pip install 'affectlens[data]'"
MARKER = "_affectlens.json"
"""Written into a finished dataset folder: what it is (readers skip files starting with ``_``)."""
FORMAT = "affectlens-records"


def require_pyarrow(what: str = "Parquet") -> Any:
    """The ``pyarrow.parquet`` module.

    Raises:
        ExtraMissingError: pyarrow is not installed; the message names ``pip install 'affectlens[data]'``.
    """
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet as pq
    except ImportError:
        raise ExtraMissingError(f"{what} needs pyarrow, which is not installed: {DATA_EXTRA}") from None
    return pq


def part_name(index: int) -> str:
    """The file name of part ``index`` (``part-00000.parquet``)."""
    return f"part-{index:05d}.parquet"


def is_dataset_output(directory: str | Path) -> bool:
    """Whether ``directory`` is a finished dataset folder of :class:`ParquetSink` (it holds :data:`MARKER`)."""
    try:
        marker = json.loads((Path(directory) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("format") == FORMAT


def _is_empty_dir(directory: Path) -> bool:
    try:
        return directory.is_dir() and not any(directory.iterdir())
    except OSError:
        return False


class ParquetSink:
    """Writes the records as a Parquet dataset folder: one row per face per frame, the CSV's columns.

    Args:
        directory: the dataset folder to write (``part-NNNNN.parquet`` files and :data:`MARKER`).
        labels: the emotion labels of the ``p_`` columns (None: those of the first frame).
        empty_frames: a frame without faces gives one row with the frame's fields and empty (null) face columns.
        frames_per_part: frames per part file (a crash loses at most the frames since the last part).

    Raises:
        ExtraMissingError: pyarrow is not installed.
        SinkError: ``directory`` is a file, a folder that is not a previous output of this sink, in a missing or
            unwritable directory, or ``-``.

    Attributes:
        path: the folder as given; ``temp_path``: where it is written until closed.
        frames_written: frames given to :meth:`write` (after a failed write: those in finished parts).
        parts: the part files written so far (in ``temp_path`` until closed).
        rows_written: rows in those parts.
        kept: after :meth:`close`, whether ``path`` now holds this sink's output.
        columns: the column names, None until the first frame.
    """

    def __init__(
        self,
        directory: str | Path,
        labels: Sequence[str] | None = None,
        empty_frames: bool = False,
        frames_per_part: int = 500,
    ) -> None:
        if str(directory) == STDOUT:
            raise SinkError("Parquet cannot be written to standard output ('-'): give a folder")
        if frames_per_part < 1:
            raise ValueError(f"frames_per_part must be >= 1, got {frames_per_part}")
        self._pq = require_pyarrow()
        self.path = Path(directory)
        self.target = Path(os.path.realpath(self.path))
        self.frames_per_part = frames_per_part
        self.closed = False
        self.kept = False
        self.frames_written = 0
        self.rows_written = 0
        self.parts: list[Path] = []
        self._flushed_frames = 0  # frames whose rows are in finished parts
        self._pending_frames = 0  # frames whose rows are buffered in self._columns
        self._error: SinkError | None = None
        self._rows = FaceRows(labels, empty_frames, where=str(self.path), fixed_by="the Parquet schema")
        self._columns: Columns | None = None
        self._check_target()
        self.temp = self._reserve()

    @property
    def temp_path(self) -> Path:
        return self.temp

    @property
    def columns(self) -> tuple[str, ...] | None:
        return self._rows.columns

    def _check_target(self) -> None:
        target, shown = self.target, self.path
        parent = target.parent
        if not parent.is_dir():
            where = shown.parent if str(shown.parent) else Path(".")
            reason = f"{where} is not a directory" if parent.exists() else f"no such directory {where}"
            raise SinkError(f"cannot write {shown}: {reason}")
        if target.exists() and not target.is_dir():
            raise SinkError(f"cannot write {shown}: it is a file; Parquet records are a folder: give a folder name")
        if target.is_dir() and not (is_dataset_output(target) or _is_empty_dir(target)):
            raise SinkError(
                f"cannot write {shown}: the folder exists and holds something other than Parquet records written by "
                "affectlens; give a new or empty folder"
            )

    def _reserve(self) -> Path:
        """Create ``<folder>.partial`` (or ``.partial-N``) exclusively: no existing folder is ever written into."""
        name = self.target.name
        for n in range(1, 1000):
            temp = self.target.with_name(f"{name}.partial" if n == 1 else f"{name}.partial-{n}")
            try:
                os.mkdir(temp)
                return temp
            except FileExistsError:
                continue
            except OSError as exc:
                raise SinkError(f"cannot write {self.path}: {os_reason(temp, exc)}") from None
        raise SinkError(f"cannot write {self.path}: too many {name}.partial-N folders in {self.target.parent}")

    # -- writing -------------------------------------------------------------------------------------------------------
    def write(self, result: FrameResult) -> None:
        """Add the rows of one frame; every ``frames_per_part`` frames they are written as one part.

        Raises:
            SinkError: the sink is closed or failed before, a value does not fit its column's type, or the part
                could not be written (disk full...): the parts already written stay.
        """
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        if self._error is not None:
            raise self._error
        faces = result.faces
        rows = self._rows.rows(result.to_record(), faces.labels, getattr(faces, "head_labels", None))
        if self._columns is None:
            assert self._rows.columns is not None
            self._columns = Columns(self._rows.columns)
        try:
            self._columns.add_rows(rows)
        except ValueError as exc:
            raise SinkError(f"cannot write {self.path}: frame {result.frame.index}: {exc}") from None
        self._pending_frames += 1
        self.frames_written += 1
        if self._pending_frames >= self.frames_per_part:
            self._flush()

    def _flush(self, *, last: bool = False) -> None:
        """Write the buffered rows as the next part (written hidden, then renamed). Frames without rows write no
        part, except ``last`` when no part exists yet: an empty part, so readers see the columns."""
        columns = self._columns
        if columns is None or (columns.rows == 0 and not (last and not self.parts)):
            self._flushed_frames += self._pending_frames
            self._pending_frames = 0
            return
        name = part_name(len(self.parts))
        final, hidden = self.temp / name, self.temp / f".{name}.tmp"
        try:
            table = columns.to_arrow()
            self._pq.write_table(table, hidden)
            os.replace(hidden, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(hidden)
            raise self._fail(exc) from None
        self.parts.append(final)
        self.rows_written += columns.rows
        self._flushed_frames += self._pending_frames
        self._pending_frames = 0
        columns.clear()

    def _fail(self, exc: OSError) -> SinkError:
        """Remember a failed part as this sink's error (the parts written before it stay); returns it."""
        reason = os_reason(self.temp, exc) if exc.errno else (str(exc).strip() or type(exc).__name__)
        after = f" after {self._flushed_frames} frames" if self._flushed_frames else ""
        hint = "; free some space or write elsewhere" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        self._error = SinkError(f"cannot write {self.path}: {reason}{after}{hint}")
        self.frames_written = self._flushed_frames
        self._pending_frames = 0
        if self._columns is not None:
            self._columns.clear()
        return self._error

    def _write_marker(self) -> None:
        marker = {
            "format": FORMAT,
            "schema": SCHEMA_VERSION,
            "frames": self._flushed_frames,
            "rows": self.rows_written,
            "parts": [part.name for part in self.parts],
            "columns": list(self.columns or ()),
        }
        try:
            (self.temp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise self._fail(exc) from None

    # -- closing -------------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Write the last part and rename the folder into place if it holds a frame, else remove it. Idempotent.

        Raises:
            SinkError: writing the last part or renaming failed (the records written stay in :attr:`temp_path`).
        """
        if self.closed:
            return
        with interrupts.deferred():
            self.closed = True
            error: SinkError | None = None
            if self._error is None and self.frames_written:
                try:
                    self._flush(last=True)
                    self._write_marker()
                except SinkError as exc:
                    error = exc
            if self._flushed_frames and self.parts and (error is None or self._error is not None):
                if self._error is not None:
                    with contextlib.suppress(SinkError):
                        self._write_marker()  # a failed run's parts are still ours: a later run may replace them
                self._commit()
                self.kept = True
            else:
                shutil.rmtree(self.temp, ignore_errors=True)
            error = error or self._error
            if error is not None:
                raise error

    def _commit(self) -> None:
        """Rename the temporary folder to the target; an existing target (ours, or empty) is renamed away first and
        removed once the new one is in place, so the target always holds a complete dataset (a crash between the
        renames leaves both folders: the old one as ``.<name>.old``)."""
        target, temp = self.target, self.temp
        try:
            if not target.exists() or _is_empty_dir(target):
                os.rename(temp, target)  # replaces an empty folder in one step (POSIX)
                return
            if not (target.is_dir() and is_dataset_output(target)):
                raise SinkError(
                    f"cannot write {self.path}: it was created by someone else during the run; the records are in "
                    f"{temp}"
                )
            old = self._aside()
            os.rename(target, old)
            try:
                os.rename(temp, target)
            except OSError:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {os_reason(target, exc)}; the records are in {temp}") from None

    def _aside(self) -> Path:
        """A free hidden name beside the target for the folder being replaced."""
        for n in range(1, 1000):
            old = self.target.with_name(f".{self.target.name}.old" if n == 1 else f".{self.target.name}.old-{n}")
            if not old.exists():
                return old
        raise SinkError(f"cannot write {self.path}: too many .{self.target.name}.old-N folders in {self.target.parent}")

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        with interrupts.deferred():
            self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
