"""Record sinks: JSONL, JSON array and CSV, each valid up to the last frame written; ``read_jsonl`` reads them back."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectlens.core import FrameResult
from affectlens.io.errors import SinkError
from affectlens.io.file_sink import FileSink

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
def _cell(value: Any) -> Any:
    """A record value as a CSV cell: None/NaN/inf empty, booleans and lists as JSON, the rest as it is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(value) else ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return record_json(_finite(value))
    return value


def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON-ready record (or face record) as flat CSV columns -> values, in the record's order.

    The flattening rule of :class:`CsvSink`: nested objects join their keys with ``_`` (``raw.emotion`` ->
    ``raw_emotion``, ``timings_ms.total`` -> ``timings_ms_total``); ``probs`` is written ``p`` (``probs.happy`` ->
    ``p_happy``, ``raw.probs.happy`` -> ``raw_p_happy``) and ``bbox`` as ``x1, y1, x2, y2``; other lists stay one
    cell of JSON text. A face list (``faces``) is not flattened here: it becomes one row per face.
    """
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = prefix + ("p" if key == "probs" else key)
        if key == "bbox" and isinstance(value, (list, tuple)) and len(value) == 4:
            flat.update(zip((prefix + c for c in ("x1", "y1", "x2", "y2")), value, strict=True))
        elif isinstance(value, dict):
            flat.update(flatten_record(value, name + "_"))
        else:
            flat[name] = value
    return flat


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

    FRAME_COLUMNS = ("frame", "timestamp_ms")
    FACE_COLUMNS = (
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
        "engagement",
    )
    RAW_COLUMNS = ("raw_emotion", "raw_valence", "raw_arousal")
    TIMING_STAGES = ("cut", "detect", "track", "emotion", "smooth", "engagement", "total", "latency")
    """The built-in steps' ``timings_ms`` keys (``affectlens.pipeline.RESERVED_NAMES``, which io may not import;
    tests/test_csv_sink.py checks they agree), always in the header whichever the first frame has."""

    def __init__(self, path: str | Path, labels: Sequence[str] | None = None, empty_frames: bool = False) -> None:
        super().__init__(path)
        self._buffer = io.StringIO()  # rows are formatted here, then written and flushed by FileSink._emit
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self.labels: tuple[str, ...] | None = tuple(labels) if labels is not None else None
        self.empty_frames = empty_frames
        self.columns: tuple[str, ...] | None = None
        self._left_out: set[str] = set()

    @classmethod
    def header(
        cls,
        labels: Sequence[str],
        frame_fields: Sequence[str] = (),
        timings: Sequence[str] = (),
        heads: Mapping[str, Sequence[str]] | None = None,
    ) -> tuple[str, ...]:
        """The columns for ``labels``, extra frame-level fields, timing stages and other heads' labels (see the class
        docstring)."""
        head_columns = [
            column
            for name, names in (heads or {}).items()
            for column in (f"heads_{name}_label", *(f"heads_{name}_p_{label}" for label in names))
        ]
        return (
            *cls.FRAME_COLUMNS,
            *frame_fields,
            *cls.FACE_COLUMNS,
            *(f"p_{label}" for label in labels),
            *cls.RAW_COLUMNS,
            *(f"raw_p_{label}" for label in labels),
            *head_columns,
            *(f"timings_ms_{stage}" for stage in timings),
        )

    def _write_header(
        self, frame: dict[str, Any], labels: tuple[str, ...], heads: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        self.labels = labels
        extra = [c for c in frame if c not in self.FRAME_COLUMNS and not c.startswith("timings_ms_")]
        stages = [c.removeprefix("timings_ms_") for c in frame if c.startswith("timings_ms_")]
        timings = list(dict.fromkeys([*self.TIMING_STAGES, *stages]))
        self.columns = self.header(labels, extra, timings, heads)
        self._rows([list(self.columns)])

    def _rows(self, rows: list[list[Any]]) -> None:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)
        self._emit(self._buffer.getvalue())

    def write(self, result: FrameResult) -> None:
        record = result.to_record()
        faces = record.pop("faces")
        frame = flatten_record(record)
        if self.columns is None:
            labels = self.labels if self.labels is not None else result.faces.labels
            self._write_header(frame, labels, getattr(result.faces, "head_labels", None))
        assert self.columns is not None
        flat_faces = [{**frame, "face": i, **flatten_record(face)} for i, face in enumerate(faces)]
        if not flat_faces and self.empty_frames:
            flat_faces = [frame]
        if flat_faces:
            unknown = {key for row in flat_faces for key in row} - set(self.columns) - self._left_out
            if unknown:
                self._left_out |= unknown
                log.warning(
                    "%s: field(s) %s are not in the CSV header (fixed at the first frame) and are left out; the JSONL "
                    "has them",
                    self.path,
                    ", ".join(sorted(unknown)),
                )
            self._rows([[_cell(row.get(column)) for column in self.columns] for row in flat_faces])
        self.frames_written += 1

    def _finish(self) -> None:
        if self.columns is None:
            self._write_header({}, self.labels or ())
