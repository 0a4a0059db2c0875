"""Record sinks: JSONL, JSON array and CSV, each valid up to the last frame written; ``read_jsonl`` reads them back."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectlens.core import Faces, FrameResult
from affectlens.io.errors import SinkError
from affectlens.io.file_sink import FileSink, sink_error

log = logging.getLogger(__name__)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"a record field of type {type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    """``value`` with NaN/inf replaced by None, recursively (JSON has no NaN)."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    return value


def record_json(record: dict[str, Any]) -> str:
    """One record as compact, strictly valid JSON (numpy values converted, NaN/inf written as null)."""
    options: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":"), "default": _json_default}
    try:
        return json.dumps(record, allow_nan=False, **options)
    except ValueError:  # a NaN somewhere (e.g. valence of a model without a VA head): rare, so fix it up only then
        return json.dumps(_finite(record), allow_nan=False, **options)


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

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, binary=True)
        self._emit(b"[\n]\n")
        self._end = 1  # byte offset just after "[" or the last record: where the next record goes

    def write(self, result: FrameResult) -> None:
        data = record_json(result.to_record()).encode("utf-8")
        chunk = (b",\n" if self.frames_written else b"\n") + data
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        try:
            self._file.seek(self._end)
            self._file.write(chunk + b"\n]\n")  # longer than the tail it overwrites: the file only grows
            self._file.flush()
        except OSError as exc:
            raise sink_error(self.path, exc) from None
        self._end += len(chunk)
        self.frames_written += 1


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
def _num(value: float, digits: int) -> str:
    value = float(value)
    return repr(round(value, digits)) if math.isfinite(value) else ""


class CsvSink(FileSink):
    """One row per face per frame; frames without faces write no row.

    Columns: ``frame, timestamp_ms, face`` (index in the frame), ``track_id`` (-1: untracked), ``x1, y1, x2, y2``
    (pixels), ``score``, ``emotion, confidence, valence, arousal`` (empty before classification), then ``p_<label>``
    per label. Labels are ``labels`` if given (the header is written at once), else those of the first frame with
    faces (the header is written then; a file closed before any face gets the header without ``p_`` columns).
    Faces whose labels differ from the header's are matched by name; a missing label is left empty.
    """

    COLUMNS = (
        "frame",
        "timestamp_ms",
        "face",
        "track_id",
        "x1",
        "y1",
        "x2",
        "y2",
        "score",
        "emotion",
        "confidence",
        "valence",
        "arousal",
    )

    def __init__(self, path: str | Path, labels: Sequence[str] | None = None) -> None:
        super().__init__(path)
        self._buffer = io.StringIO()  # rows are formatted here, then written and flushed by FileSink._emit
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self.labels: tuple[str, ...] | None = None
        if labels is not None:
            self._write_header(tuple(labels))

    def _write_header(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self._rows([[*self.COLUMNS, *(f"p_{label}" for label in labels)]])

    def _rows(self, rows: list[list[Any]]) -> None:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)
        self._emit(self._buffer.getvalue())

    def _prob_columns(self, faces: Faces) -> list[int | None]:
        assert self.labels is not None
        if faces.labels == self.labels:
            return list(range(len(self.labels)))
        where = {label: i for i, label in enumerate(faces.labels)}
        return [where.get(label) for label in self.labels]

    def write(self, result: FrameResult) -> None:
        faces = result.faces
        if len(faces) == 0:
            self.frames_written += 1
            return
        if self.labels is None:
            self._write_header(faces.labels)
        frame, ts = result.frame.index, _num(result.frame.timestamp_ms, 3)
        columns = self._prob_columns(faces)
        emotions, confidence = faces.emotion, faces.confidence
        rows = []
        for i in range(len(faces)):
            x1, y1, x2, y2 = (_num(v, 1) for v in faces.xyxy[i])
            row: list[Any] = [frame, ts, i, int(faces.track_id[i]), x1, y1, x2, y2, _num(faces.score[i], 4)]
            if faces.classified:
                va = faces.valence_arousal[i]
                row += [emotions[i], _num(confidence[i], 4), _num(va[0], 4), _num(va[1], 4)]
                row += ["" if c is None else _num(faces.probs[i, c], 4) for c in columns]
            else:
                row += ["", "", "", ""] + [""] * len(columns)
            rows.append(row)
        self._rows(rows)
        self.frames_written += 1

    def close(self) -> None:
        if not self.closed and self.labels is None:
            self._write_header(())
        super().close()
