"""Record sinks: JSONL, JSON array and CSV, each valid up to the last frame written; ``read_jsonl`` reads them back."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from affectlens.core import FrameResult
from affectlens.io import table
from affectlens.io.errors import SinkError
from affectlens.io.file_sink import FileSink
from affectlens.io.table import csv_cell, flatten_record, record_json

__all__ = ["CsvSink", "JsonArraySink", "JsonlSink", "flatten_record", "read_jsonl", "record_json"]

log = logging.getLogger(__name__)


class JsonlSink(FileSink):
    """One JSON object per line per frame: ``result.to_record()`` (see README, "Records").

    Every line is complete and flushed when ``write()`` returns; read a possibly cut file with :func:`read_jsonl`.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)

    def write(self, result: FrameResult) -> None:
        self._emit(record_json(result.to_record()) + "\n")
        self.frames_written += 1


class JsonArraySink(FileSink):
    """A JSON array of the JSONL records, valid JSON after every ``write()``.

    The file always ends with ``\\n]\\n``; each write seeks back over that tail and writes ``,\\n<record>\\n]\\n`` in
    one call, so a reader (or a crash) never sees an unterminated array.
    """

    TAIL = b"\n]\n"

    def __init__(self, path: str | Path) -> None:
        if str(path) == "-":
            raise SinkError("a JSON array cannot be written to standard output (it is rewritten in place): use JSONL")
        super().__init__(path)
        self._emit(b"[" + self.TAIL)
        self._end = 1  # byte offset just after "[" or the last record: where the next record goes

    def write(self, result: FrameResult) -> None:
        data = record_json(result.to_record()).encode("utf-8")
        chunk = (b",\n" if self.frames_written else b"\n") + data
        self._emit(chunk + self.TAIL, offset=self._end)  # longer than the tail it overwrites: the file only grows
        self._end += len(chunk)
        self.frames_written += 1

    def _restore(self) -> None:
        self._file.truncate(self._end)
        self._file.seek(self._end)
        self._file.write(self.TAIL)
        self._good = self._end + len(self.TAIL)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSONL file, tolerating a cut last line (a run killed mid-write): it is skipped with a warning.

    Raises:
        ValueError: a line other than the last is not valid JSON (the file is corrupt, not just cut).
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):  # last line without "\n": cut short
                log.warning("%s: skipped the incomplete last line %d (the run was interrupted?)", path, number)
                break
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return records


# -- CSV -------------------------------------------------------------------------------------------------------------
class CsvSink(FileSink):
    """The JSONL records as CSV: one row per face per frame, the same fields flattened (see :func:`flatten_record`).

    Columns, fixed by the header: ``frame, timestamp_ms``, then the frame's other fields (e.g. a folder's ``file``;
    those of the first frame written), ``face`` (index in the frame), ``track_id`` (empty: untracked), ``x1, y1, x2,
    y2`` (pixels), ``score``, ``emotion, confidence, valence, arousal, engagement``, ``p_<label>`` per label,
    ``raw_emotion, raw_valence, raw_arousal``, ``raw_p_<label>`` per label (the unsmoothed values),
    ``heads_<head>_label`` and ``heads_<head>_p_<label>`` per other model head (e.g. ``fer2013``), then
    ``timings_ms_<stage>`` (:attr:`TIMING_STAGES` and any other stage of the first frame).

    A field a record does not have is an empty cell (e.g. ``engagement`` and ``raw_*`` of still images, ``emotion``
    before classification, a valence of a model without a trained valence/arousal head), so the header never depends
    on whether the first frame had a face. Labels are ``labels`` if given, else those of the first frame's faces
    (classified frames carry them even without a face; so do the other heads). Frames without faces write no row, or,
    with ``empty_frames=True``, one row with the frame's fields and empty face columns. The header is written with the
    first frame (or on close, if none came); a field missing from it (a record key that appears only later) is left
    out with one warning: the JSONL has it.
    """

    FRAME_COLUMNS = table.FRAME_COLUMNS
    FACE_COLUMNS = table.FACE_COLUMNS
    RAW_COLUMNS = table.RAW_COLUMNS
    TIMING_STAGES = table.TIMING_STAGES
    """The built-in steps' ``timings_ms`` keys (``affectlens.pipeline.RESERVED_NAMES``, which io may not import;
    tests/test_csv_sink.py checks they agree), always in the header whichever the first frame has."""

    def __init__(self, path: str | Path, labels: Sequence[str] | None = None, empty_frames: bool = False) -> None:
        super().__init__(path)
        self._buffer = io.StringIO()  # rows are formatted here, then written and flushed by FileSink._emit
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self._table = table.FaceRows(labels, empty_frames, where=str(self.path), fixed_by="the CSV header")

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The labels of the ``p_`` columns (None until the first frame, unless given)."""
        return self._table.labels

    @property
    def empty_frames(self) -> bool:
        return self._table.empty_frames

    @property
    def columns(self) -> tuple[str, ...] | None:
        """The header's columns (None until the first frame)."""
        return self._table.columns

    @classmethod
    def header(
        cls,
        labels: Sequence[str],
        frame_fields: Sequence[str] = (),
        timings: Sequence[str] = (),
        heads: Mapping[str, Sequence[str]] | None = None,
    ) -> tuple[str, ...]:
        """The columns for ``labels``, extra frame-level fields, timing stages and other heads' labels (see the class
        docstring and :func:`affectlens.io.table.header`)."""
        return table.header(labels, frame_fields, timings, heads)

    def _rows(self, rows: list[list[Any]]) -> None:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)
        self._emit(self._buffer.getvalue())

    def write(self, result: FrameResult) -> None:
        fresh = self._table.columns is None
        rows = self._table.rows(result.to_record(), result.faces.labels, getattr(result.faces, "head_labels", None))
        columns = self._table.columns
        assert columns is not None
        lines = [[csv_cell(row.get(column)) for column in columns] for row in rows]
        if fresh or lines:
            self._rows([list(columns), *lines] if fresh else lines)
        self.frames_written += 1

    def _finish(self) -> None:
        if self._table.columns is None:
            self._rows([list(self._table.fix({}))])
