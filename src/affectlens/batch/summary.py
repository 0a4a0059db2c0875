"""``summary.parquet``: one row per input video of a batch, rewritten atomically each time a video finishes.

Columns (in order): ``id``, ``path``, ``status`` (``done``: analysed by this run; ``skipped``: finished by an earlier
run with the same settings, its figures read from its marker; ``failed``: see ``error``; ``pending``: not finished
when the table was written), ``error``, ``warning`` (e.g. decoding stopped before the header's frame count),
``duration_s`` (s of video decoded), ``frames`` (decoded), ``frames_analyzed``, ``frames_with_faces``, ``faces``,
``tracks``, ``valence_mean``, ``arousal_mean``, ``engagement_mean`` (means over every face; null when no face had
one), ``seconds`` (wall-clock time of the analysis), ``fps`` (decoded frames per second of wall-clock time),
``worker`` (host:pid), then ``share_<label>`` per shown label (share of all faces; the model's labels, then
``uncertain``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from affectlens.batch.inputs import VideoInput

#: Columns before the emotion shares, with their Arrow types.
COLUMNS: dict[str, str] = {
    "id": "string",
    "path": "string",
    "status": "string",
    "error": "string",
    "warning": "string",
    "duration_s": "float64",
    "frames": "int64",
    "frames_analyzed": "int64",
    "frames_with_faces": "int64",
    "faces": "int64",
    "tracks": "int64",
    "valence_mean": "float64",
    "arousal_mean": "float64",
    "engagement_mean": "float64",
    "seconds": "float64",
    "fps": "float64",
    "worker": "string",
}
SHARE_PREFIX = "share_"


def base_row(video: VideoInput, status: str = "pending") -> dict[str, Any]:
    """A row with every column empty but ``id``, ``path`` and ``status`` (``emotions``: label -> share)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(id=video.id, path=video.path, status=status, emotions={})
    return row


def summary_table(rows: Iterable[dict[str, Any]]) -> Any:
    """The rows as a ``pyarrow.Table`` with the columns of the module docstring (fixed types; nulls where empty).

    Raises:
        ModuleNotFoundError: pyarrow is missing (``pip install 'affectlens[data]'``).
    """
    import pyarrow as pa

    rows = list(rows)
    labels = list(dict.fromkeys(label for row in rows for label in (row.get("emotions") or {})))
    arrays = {name: pa.array([row.get(name) for row in rows], type=kind) for name, kind in COLUMNS.items()}
    for label in labels:
        shares = [row["emotions"].get(label, 0.0) if row.get("emotions") else None for row in rows]
        arrays[SHARE_PREFIX + label] = pa.array(shares, type="float64")
    return pa.table(arrays)


def write_summary(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write ``summary.parquet`` so that ``path`` always holds a complete table (temporary name, then renamed)."""
    import pyarrow.parquet as pq

    from affectlens.io.file_sink import write_file

    buffer = io.BytesIO()
    pq.write_table(summary_table(rows), buffer)
    write_file(path, buffer.getvalue())
