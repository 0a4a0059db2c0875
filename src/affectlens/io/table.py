"""Records as a table: ONE row builder (one row per face per frame) for the CSV, the Parquet and the dataframes.

A JSONL record (``FrameResult.to_record()``) becomes rows by :func:`flatten_record` (nested keys joined by ``_``,
``probs`` -> ``p``, ``bbox`` -> ``x1, y1, x2, y2``); the columns are :func:`header`'s, fixed at the first frame
(:class:`FaceRows`); each column's type follows from its name alone (:func:`column_kind`), so the CSV, the Parquet
and ``affectlens.read_records`` of one run give the same table whatever the format:

=======  ==========================================================================================================
int      ``frame``, ``face``, ``track_id``, ``schema`` (nullable: empty where a row has none)
float    ``timestamp_ms`` (ms), ``x1, y1, x2, y2`` (pixels), ``score``, ``confidence``, ``valence``, ``arousal``,
         ``engagement``, ``p_<label>``, ``raw_valence``, ``raw_arousal``, ``raw_p_<label>``,
         ``heads_<head>_p_<label>``, ``timings_ms_<step>`` (ms)
bool     ``scene_cut`` (and ``uncertain``, a flag a record may carry)
string   everything else: ``video``, ``file``, ``emotion``, ``raw_emotion``, ``heads_<head>_label``, and any other
         field (a stage's ``outputs_*``, a list such as ``persons``) as the CSV writes it (lists as JSON text)
=======  ==========================================================================================================

Missing values (a field a row does not have, NaN or inf) are nulls; an empty string is a null too (the CSV cannot
tell them apart). This module imports neither pyarrow nor pandas: :func:`arrow_schema` and the readers import
pyarrow when called.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

Kind = Literal["int", "float", "bool", "str"]

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

INT_COLUMNS = frozenset({"frame", "face", "track_id", "schema"})
FLOAT_COLUMNS = frozenset(
    {"timestamp_ms", "x1", "y1", "x2", "y2", "score", "confidence", "valence", "arousal", "engagement"}
    | {"raw_valence", "raw_arousal"}
)
FLOAT_PREFIXES = ("p_", "raw_p_", "timings_ms_")
BOOL_COLUMNS = frozenset({"scene_cut", "uncertain"})


# -- JSON and CSV cells ----------------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"a record field of type {type(value).__name__} is not JSON serializable")


def finite(value: Any) -> Any:
    """``value`` with NaN/inf replaced by None, recursively (JSON has no NaN)."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    return value


def record_json(record: dict[str, Any]) -> str:
    """One record as compact, strictly valid JSON (numpy values converted, NaN/inf written as null)."""
    options: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":"), "default": _json_default}
    try:
        return json.dumps(record, allow_nan=False, **options)
    except ValueError:  # a NaN somewhere (e.g. valence of a model without a VA head): rare, so fix it up only then
        return json.dumps(finite(record), allow_nan=False, **options)


def csv_cell(value: Any) -> Any:
    """A record value as a CSV cell: None/NaN/inf empty, booleans and lists as JSON, the rest as it is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(value) else ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return record_json(finite(value))
    return value


# -- columns ---------------------------------------------------------------------------------------------------------
def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON-ready record (or face record) as flat columns -> values, in the record's order.

    Nested objects join their keys with ``_`` (``raw.emotion`` -> ``raw_emotion``, ``timings_ms.total`` ->
    ``timings_ms_total``); ``probs`` is written ``p`` (``probs.happy`` -> ``p_happy``, ``raw.probs.happy`` ->
    ``raw_p_happy``) and ``bbox`` as ``x1, y1, x2, y2``; other lists stay one value (one cell of JSON text in the
    CSV). A face list (``faces``) is not flattened here: it becomes one row per face.
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


def header(
    labels: Sequence[str],
    frame_fields: Sequence[str] = (),
    timings: Sequence[str] = (),
    heads: Mapping[str, Sequence[str]] | None = None,
) -> tuple[str, ...]:
    """The columns, in order: ``frame, timestamp_ms``, the other frame fields, the face columns, ``p_<label>`` per
    label, the raw (unsmoothed) columns, ``heads_<head>_label`` and ``heads_<head>_p_<label>`` per other model head,
    then ``timings_ms_<stage>`` per stage."""
    head_columns = [
        column
        for name, names in (heads or {}).items()
        for column in (f"heads_{name}_label", *(f"heads_{name}_p_{label}" for label in names))
    ]
    return (
        *FRAME_COLUMNS,
        *frame_fields,
        *FACE_COLUMNS,
        *(f"p_{label}" for label in labels),
        *RAW_COLUMNS,
        *(f"raw_p_{label}" for label in labels),
        *head_columns,
        *(f"timings_ms_{stage}" for stage in timings),
    )


def frame_header(
    frame: Mapping[str, Any], labels: Sequence[str], heads: Mapping[str, Sequence[str]] | None = None
) -> tuple[str, ...]:
    """The columns for a first frame's flattened frame-level fields ``frame`` (its ``faces`` removed): its extra
    fields (``schema``, ``video``, ``file``, ``scene_cut``...) after ``frame, timestamp_ms``, and the timing stages
    :data:`TIMING_STAGES` plus any other stage it has."""
    extra = [c for c in frame if c not in FRAME_COLUMNS and not c.startswith("timings_ms_")]
    stages = [c.removeprefix("timings_ms_") for c in frame if c.startswith("timings_ms_")]
    timings = list(dict.fromkeys([*TIMING_STAGES, *stages]))
    return header(labels, extra, timings, heads)


def column_kind(name: str) -> Kind:
    """The type of column ``name``, from its name alone (see the module docstring)."""
    if name in INT_COLUMNS:
        return "int"
    if name in BOOL_COLUMNS:
        return "bool"
    if name in FLOAT_COLUMNS or name.startswith(FLOAT_PREFIXES):
        return "float"
    if name.startswith("heads_") and "_p_" in name and not name.endswith("_label"):
        return "float"
    return "str"


def typed(kind: Kind, value: Any) -> Any:
    """A record value (JSON-ready, from a record or a JSONL line) as a value of a ``kind`` column; None for missing.

    Strings are the CSV's cell text (:func:`csv_cell`: lists as JSON text, booleans ``true``/``false``); an empty
    string, NaN and inf are None.

    Raises:
        ValueError: a value that is not of the column's type (e.g. text in a float column).
    """
    if value is None:
        return None
    if kind == "str":
        text = csv_cell(value)
        return str(text) if text != "" else None
    if kind == "float":
        if isinstance(value, (str, bool)):
            raise ValueError(f"not a number: {value!r}")
        number = float(value)
        return number if math.isfinite(number) else None
    if kind == "int":
        if isinstance(value, (str, bool)) or int(value) != value:
            raise ValueError(f"not an integer: {value!r}")
        return int(value)
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"not true or false: {value!r}")
    return bool(value)


def parse_cell(kind: Kind, text: str) -> Any:
    """A CSV cell's text as a value of a ``kind`` column (the inverse of :func:`csv_cell`); None for an empty cell.

    Raises:
        ValueError: text that is not of the column's type.
    """
    if text == "":
        return None
    if kind == "str":
        return text
    if kind == "float":
        number = float(text)
        return number if math.isfinite(number) else None
    if kind == "int":
        return int(text)
    if text not in ("true", "false"):
        raise ValueError(f"not true or false: {text!r}")
    return text == "true"


def arrow_schema(columns: Sequence[str]) -> Any:
    """The ``pyarrow.Schema`` of ``columns`` (int64, float64, bool, string by :func:`column_kind`); needs pyarrow."""
    import pyarrow as pa

    types = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
    return pa.schema([pa.field(name, types[column_kind(name)]) for name in columns])


# -- rows --------------------------------------------------------------------------------------------------------------
def labels_of(records: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """(emotion labels, other heads' labels) as the records show them: those of the first face that has ``probs``
    (and ``heads``); empty when no face has any (e.g. records of a run that found no face)."""
    labels: tuple[str, ...] | None = None
    heads: dict[str, tuple[str, ...]] | None = None
    for record in records:
        for face in record.get("faces") or ():
            if labels is None and isinstance(face.get("probs"), dict):
                labels = tuple(face["probs"])
            if heads is None and isinstance(face.get("heads"), dict):
                heads = {name: tuple(head.get("probs") or ()) for name, head in face["heads"].items()}
            if labels is not None and heads is not None:
                return labels, heads
    return labels or (), heads or {}


class FaceRows:
    """Records -> flat rows, one per face per frame (or one per faceless frame with ``empty_frames``), with the
    columns fixed at the first frame (:func:`frame_header`), as :class:`~affectlens.io.CsvSink` writes them.

    Args:
        labels: the emotion labels of the ``p_`` / ``raw_p_`` columns (None: those given with the first frame).
        empty_frames: a frame without faces gives one row with the frame's fields and empty face columns.
        where: the output, for the warning about fields left out (e.g. the CSV's path).
        fixed_by: what fixed the columns, for that warning (e.g. ``"the CSV header"``).

    Attributes:
        columns: the column names, None until the first frame.
    """

    def __init__(
        self,
        labels: Sequence[str] | None = None,
        empty_frames: bool = False,
        *,
        where: str = "records",
        fixed_by: str = "the columns",
    ) -> None:
        self.labels: tuple[str, ...] | None = tuple(labels) if labels is not None else None
        self.empty_frames = empty_frames
        self.columns: tuple[str, ...] | None = None
        self.where = where
        self.fixed_by = fixed_by
        self._left_out: set[str] = set()

    def fix(
        self,
        frame: Mapping[str, Any],
        labels: Sequence[str] = (),
        heads: Mapping[str, Sequence[str]] | None = None,
    ) -> tuple[str, ...]:
        """Fix the columns from a first frame's flattened fields (``self.labels`` if set, else ``labels``)."""
        self.labels = self.labels if self.labels is not None else tuple(labels)
        self.columns = frame_header(frame, self.labels, heads)
        return self.columns

    def rows(
        self,
        record: Mapping[str, Any],
        labels: Sequence[str] = (),
        heads: Mapping[str, Sequence[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """The flat rows (column -> record value) of one record; the first call fixes the columns (with ``labels``
        and ``heads`` unless given to the constructor). A field that is not a column is left out, with one warning
        per field (its values stay in the JSONL)."""
        frame = flatten_record({k: v for k, v in record.items() if k != "faces"})
        if self.columns is None:
            self.fix(frame, labels, heads)
        assert self.columns is not None
        rows = [{**frame, "face": i, **flatten_record(face)} for i, face in enumerate(record.get("faces") or ())]
        if not rows and self.empty_frames:
            rows = [frame]
        if rows:
            unknown = {key for row in rows for key in row} - set(self.columns) - self._left_out
            if unknown:
                self._left_out |= unknown
                log.warning(
                    "%s: field(s) %s are not in %s (fixed at the first frame) and are left out; the JSONL has them",
                    self.where,
                    ", ".join(sorted(unknown)),
                    self.fixed_by,
                )
        return rows


class Columns:
    """Typed column lists being filled row by row (for a ``pyarrow.Table``): ``columns`` -> list of values.

    Raises (from :meth:`add`):
        ValueError: a value that is not of its column's type, naming the column.
    """

    def __init__(self, columns: Sequence[str]) -> None:
        self.names = tuple(columns)
        self.kinds: tuple[Kind, ...] = tuple(column_kind(name) for name in self.names)
        self.values: list[list[Any]] = [[] for _ in self.names]
        self.rows = 0

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append flat rows of record values (missing columns are null): all of them, or none if one fails."""
        typed_columns = list(zip(self.names, self.kinds, strict=True))
        converted = [[self._typed(name, kind, row.get(name)) for name, kind in typed_columns] for row in rows]
        for row in converted:
            for column, value in zip(self.values, row, strict=True):
                column.append(value)
        self.rows += len(converted)

    @staticmethod
    def _typed(name: str, kind: Kind, value: Any) -> Any:
        try:
            return typed(kind, value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"column {name} ({kind}): {exc}") from None

    def add_cells(self, cells: Sequence[str]) -> None:
        """Append one row of CSV cell texts, in column order."""
        converted = []
        for name, kind, text in zip(self.names, self.kinds, cells, strict=True):
            try:
                converted.append(parse_cell(kind, text))
            except ValueError as exc:
                raise ValueError(f"column {name} ({kind}): {exc}") from None
        for column, value in zip(self.values, converted, strict=True):
            column.append(value)
        self.rows += 1

    def to_arrow(self) -> Any:
        """The rows as a ``pyarrow.Table`` with :func:`arrow_schema` (needs pyarrow)."""
        import pyarrow as pa

        schema = arrow_schema(self.names)
        return pa.Table.from_arrays(
            [pa.array(values, type=field.type) for values, field in zip(self.values, schema, strict=True)],
            schema=schema,
        )

    def clear(self) -> None:
        for column in self.values:
            column.clear()
        self.rows = 0
