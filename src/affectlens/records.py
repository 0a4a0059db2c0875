"""Records as dataframes: :func:`read_records` for JSONL, CSV and Parquet alike, and :class:`VideoRecords`.

    import affectlens
    df = affectlens.read_records("out.jsonl")                 # or out.csv, out.parquet, a --parquet folder,
    df = affectlens.read_records("out/records")               # or a folder of them (batch's out/records/)
    df = affectlens.read_records("out.csv", engine="polars")  # a polars.DataFrame

One row per face per frame, the CSV's columns in its order, each column typed by its name (see
:mod:`affectlens.io.table`): the same DataFrame (columns, order, dtypes, values) from the JSONL, the CSV and the
Parquet of one run. pandas dtypes: ``Int64`` (frame, face, track_id, schema), ``float64`` (NaN: missing),
``boolean`` (scene_cut), ``string`` (video, file, emotion...). polars: Int64, Float64, Boolean, String (null:
missing). Needs the ``data`` extra (pyarrow; pandas or polars): ``pip install 'affectlens[data]'``.

Frames without faces have no row (as in the CSV without ``--csv-empty-frames``). The columns are fixed by the first
frame (JSONL: the first record; the emotion labels from the first face that has some), as the sinks fix them: a run
whose records hold no face at all gives no ``p_<label>`` columns from the JSONL but does from the CSV and Parquet
(which know the model's labels); it has no rows either way.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affectlens.core import FrameResult
from affectlens.io.errors import ExtraMissingError, RecordsError
from affectlens.io.parquet_sink import DATA_EXTRA, require_pyarrow
from affectlens.io.record_sinks import read_jsonl, record_json
from affectlens.io.table import Columns, FaceRows, arrow_schema, frame_header, labels_of

log = logging.getLogger(__name__)

ENGINES = ("pandas", "polars")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read_records(path_or_dir: str | Path, engine: str = "pandas") -> Any:
    """The records of a run as a DataFrame: one row per face per frame, the CSV's columns and types.

    Args:
        path_or_dir: a JSONL (``.jsonl``, ``.ndjson``), JSON array (``.json``), CSV (``.csv``) or Parquet
            (``.parquet``) file written by ``affectlens analyze``; a Parquet dataset folder (``--parquet DIR``, or
            the ``<DIR>.partial`` folder a killed run left); or a folder holding several (e.g. ``batch``'s
            ``out/records/``, or ``out/``), read in the order of their paths.
        engine: ``"pandas"`` (a ``pandas.DataFrame``) or ``"polars"`` (a ``polars.DataFrame``).

    Raises:
        RecordsError: no such path, an unknown format, a folder without records, a file that is not affectlens
            records (one line, saying what to give instead).
        ExtraMissingError: pyarrow, pandas or polars is not installed (the message names the pip command).
    """
    if engine not in ENGINES:
        raise RecordsError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return to_frame(read_table(path_or_dir), engine)


def read_table(path_or_dir: str | Path) -> Any:
    """:func:`read_records` as a ``pyarrow.Table`` (the canonical schema: int64, float64, bool, string)."""
    path = Path(path_or_dir)
    if not path.exists():
        raise RecordsError(f"cannot read {path}: no such file or folder")
    require_pyarrow("reading records as a table")
    if path.is_dir():
        return _folder_table(path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        try:
            return records_table(read_jsonl(path), where=str(path))
        except ValueError as exc:
            raise RecordsError(str(exc)) from None
    if suffix == ".json":
        return records_table(_json_array(path), where=str(path))
    if suffix == ".csv":
        return _csv_table(path)
    if suffix == ".parquet":
        return _parquet_table([path])
    raise RecordsError(
        f"cannot read {path}: unknown records format {suffix or '(no extension)'!r}; give a .jsonl, .csv, .json or "
        ".parquet file, or a Parquet records folder"
    )


def records_table(records: Iterable[Mapping[str, Any]], *, where: str = "records") -> Any:
    """JSON-ready records (JSONL lines, :attr:`VideoRecords.records`) as a ``pyarrow.Table`` of face rows, built as
    the CSV is (:class:`~affectlens.io.table.FaceRows`); the labels are those of the first face that has some."""
    records = list(records)
    labels, heads = labels_of(records)
    builder = FaceRows(where=where, fixed_by="the columns")
    columns: Columns | None = None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise RecordsError(f"{where}: record {number} is a {type(record).__name__}, not a JSON object")
        rows = builder.rows(record, labels, heads)
        if columns is None:
            assert builder.columns is not None
            columns = Columns(builder.columns)
        try:
            columns.add_rows(rows)
        except ValueError as exc:
            raise RecordsError(f"{where}: record {number}: {exc}") from None
    if columns is None:  # no record at all
        columns = Columns(frame_header({}, labels, heads))
    return columns.to_arrow()


def to_frame(table: Any, engine: str = "pandas") -> Any:
    """A canonical ``pyarrow.Table`` as a pandas (nullable ``Int64``/``boolean``/``string``, ``float64`` with NaN)
    or polars DataFrame."""
    if engine == "polars":
        try:
            import polars as pl
        except ImportError:
            raise ExtraMissingError(f"engine='polars' needs polars, which is not installed: {DATA_EXTRA}") from None
        return pl.from_arrow(table)
    try:
        import pandas as pd
    except ImportError:
        raise ExtraMissingError(f"engine='pandas' needs pandas, which is not installed: {DATA_EXTRA}") from None
    import pyarrow as pa

    dtypes = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype()}
    return table.to_pandas(types_mapper=dtypes.get)


# -- formats -----------------------------------------------------------------------------------------------------------
def _json_array(path: Path) -> list[Any]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RecordsError(f"cannot read {path}: not valid JSON ({exc})") from None
    if not isinstance(records, list):
        raise RecordsError(f"cannot read {path}: not a JSON array of records (as `analyze --json` writes)")
    return records


def _csv_table(path: Path) -> Any:
    with path.open(newline="", encoding="utf-8") as file:
        lines = list(csv.reader(file))
    if not lines:
        raise RecordsError(f"cannot read {path}: the file is empty")
    header = lines[0]
    if not {"frame", "face"} <= set(header):
        raise RecordsError(f"cannot read {path}: not an affectlens records CSV (as `analyze --csv` writes)")
    columns = Columns(header)
    for number, cells in enumerate(lines[1:], start=2):
        if len(cells) != len(header):
            if number == len(lines):  # the last row, cut short by a killed run
                log.warning("%s: skipped the incomplete last row %d (the run was interrupted?)", path, number)
                break
            raise RecordsError(f"{path}:{number}: {len(cells)} cells for {len(header)} columns")
        try:
            columns.add_cells(cells)
        except ValueError as exc:
            raise RecordsError(f"{path}:{number}: {exc}") from None
    return columns.to_arrow()


def _parquet_table(files: list[Path]) -> Any:
    """The Parquet files, in order, cast to the canonical schema (one table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for file in files:
        try:
            table = pq.read_table(file)
        except (OSError, pa.ArrowException) as exc:
            raise RecordsError(f"cannot read {file}: {str(exc).strip().splitlines()[0]}") from None
        if not {"frame", "face"} <= set(table.column_names):
            raise RecordsError(
                f"cannot read {file}: not affectlens records (no frame and face columns; e.g. batch's "
                "summary.parquet is one row per video)"
            )
        schema = arrow_schema(table.column_names)
        if table.schema != schema:
            try:
                table = table.cast(schema)
            except (pa.ArrowException, ValueError) as exc:
                raise RecordsError(f"cannot read {file}: {str(exc).strip().splitlines()[0]}") from None
        tables.append(table)
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="default")


def _parts(folder: Path) -> list[Path]:
    """The dataset's part files, in part order."""
    parts = [p for p in folder.glob("part-*.parquet") if p.is_file()]
    return sorted(parts, key=lambda p: (len(p.name), p.name))


def _folder_table(root: Path) -> Any:
    """A Parquet dataset folder, or every dataset folder under ``root`` (hidden and ``.partial`` folders below it
    skipped: read an unfinished run's folder by its own path)."""
    datasets: list[Path] = []
    skipped: list[str] = []
    for folder, subfolders, _ in os.walk(root):
        kept = []
        for name in sorted(subfolders):
            if name.startswith((".", "_")):
                continue
            if ".partial" in name:
                skipped.append(name)
                continue
            kept.append(name)
        subfolders[:] = kept
        if _parts(Path(folder)):
            datasets.append(Path(folder))
    if skipped:
        log.warning("%s: skipped unfinished output folder(s) %s (read one by its own path)", root, ", ".join(skipped))
    if not datasets:
        raise RecordsError(
            f"cannot read {root}: no Parquet records in it or its subfolders (part-*.parquet, as `analyze --parquet` "
            "and `batch` write); give a .jsonl, .csv or .parquet file instead"
        )
    return _parquet_table([part for dataset in datasets for part in _parts(dataset)])


# -- records of one run in memory --------------------------------------------------------------------------------------
class RecordCollector:
    """A sink that keeps every frame's JSONL record, as a JSONL reader would read it back (no images)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, result: FrameResult) -> None:
        self.records.append(json.loads(record_json(result.to_record())))

    def close(self) -> None:
        pass


@dataclass
class VideoRecords:
    """What :meth:`affectlens.pipeline.Analyzer.analyze_video` returns: a run's records, never its images.

    Attributes:
        records: one JSON-ready dict per analysed frame (the JSONL records, as ``json.loads`` reads them).
        summary: the run's :class:`~affectlens.pipeline.RunSummary` (frames, faces, speed, interrupted...).
    """

    records: list[dict[str, Any]]
    summary: Any

    def __len__(self) -> int:
        return len(self.records)

    def to_arrow(self) -> Any:
        """One row per face per frame as a ``pyarrow.Table`` (see :func:`read_records`)."""
        require_pyarrow("VideoRecords.to_arrow()")
        return records_table(self.records)

    def to_pandas(self) -> Any:
        """One row per face per frame: the DataFrame :func:`read_records` gives for this run's JSONL."""
        return to_frame(self.to_arrow(), "pandas")

    def to_polars(self) -> Any:
        """:meth:`to_pandas` as a ``polars.DataFrame``."""
        return to_frame(self.to_arrow(), "polars")
