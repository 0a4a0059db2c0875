"""Record sinks: JSONL, CSV, JSON array, annotated video and a per-second metrics log.

    from affectlens.io import CsvSink, JsonlSink, SinkSet

    with SinkSet([JsonlSink("out.jsonl"), CsvSink("faces.csv")]) as sinks:
        for result in results:          # affectlens.core.FrameResult
            sinks.write(result)

Every sink opens its file when it is created, so an unwritable path raises :class:`SinkError` before any work, and
flushes after every ``write()``, so a crash or Ctrl-C leaves a valid file up to the last frame written (flushed to
the OS, not fsync'ed: it survives the process, not a power cut). The exception is :class:`VideoSink`, see there.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import cv2
import numpy as np
import psutil

from affectlens.core import Faces, FrameResult
from affectlens.io.errors import SinkError

log = logging.getLogger(__name__)

#: Video container extension -> FourCC that OpenCV's FFmpeg backend encodes without extra codecs.
VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


@runtime_checkable
class Sink(Protocol):
    """Anything that consumes :class:`~affectlens.core.FrameResult` s and can be closed."""

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


def _reason(path: Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"no such directory {path.parent}" if str(path.parent) not in ("", ".") else "no such file or directory"
    if isinstance(exc, NotADirectoryError):
        return f"{path.parent} is not a directory"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return exc.strerror or str(exc)


def _sink_error(path: Path, exc: OSError) -> SinkError:
    return SinkError(f"cannot write {path}: {_reason(path, exc)}")


class FileSink:
    """Base of the file sinks: opens ``path`` at construction, maps OS errors to one-line :class:`SinkError` s."""

    def __init__(self, path: str | Path, *, binary: bool = False) -> None:
        self.path = Path(path)
        try:
            if binary:
                self._file: IO[Any] = open(self.path, "wb")  # noqa: SIM115 - closed by close()
            else:
                self._file = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise _sink_error(self.path, exc) from None
        self.closed = False
        self.frames_written = 0

    def write(self, result: FrameResult) -> None:
        raise NotImplementedError

    def _emit(self, data: str | bytes) -> None:
        """Write and flush ``data``; an OS error (disk full...) becomes a SinkError."""
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        try:
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            raise _sink_error(self.path, exc) from None

    def close(self) -> None:
        """Flush and close the file. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._file.close()
        except OSError as exc:
            raise _sink_error(self.path, exc) from None

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


# -- JSON ------------------------------------------------------------------------------------------------------------
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
            raise _sink_error(self.path, exc) from None
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
        self._writer = csv.writer(self._file, lineterminator="\n")
        self.labels: tuple[str, ...] | None = None
        if labels is not None:
            self._write_header(tuple(labels))

    def _write_header(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self._rows([[*self.COLUMNS, *(f"p_{label}" for label in labels)]])

    def _rows(self, rows: list[list[Any]]) -> None:
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        try:
            self._writer.writerows(rows)
            self._file.flush()
        except OSError as exc:
            raise _sink_error(self.path, exc) from None

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


# -- video -----------------------------------------------------------------------------------------------------------
class VideoSink:
    """An annotated video: ``write(result)`` appends ``result.frame.image`` (or a BGR array) as one frame.

    Args:
        path: ``.mp4``/``.m4v``/``.mov`` (MPEG-4 Part 2, ``mp4v``) or ``.avi``/``.mkv`` (Motion JPEG, ``MJPG``).
        fps: frames per second to store, > 0 (keep the source's, so durations match).
        size: (width, height) in pixels; frames of another size are resized (with a warning, once), because
            OpenCV's writer would silently drop them.
        fourcc: override the FourCC chosen from the extension.

    Unlike the record sinks, a video cannot be flushed: an ``.mp4`` whose writer was never closed (process killed)
    lacks its index and may not play; ``.avi`` (MJPG) is more forgiving. ``with`` and Ctrl-C handlers close it.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], *, fourcc: str | None = None) -> None:
        self.path = Path(path)
        if fps is None or not fps > 0:
            raise ValueError(f"VideoSink fps must be > 0, got {fps}")
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0:
            raise ValueError(f"VideoSink size must be (width, height) > 0, got {size}")
        suffix = self.path.suffix.lower()
        if fourcc is None:
            if suffix not in VIDEO_FOURCC:
                known = ", ".join(VIDEO_FOURCC)
                raise SinkError(f"cannot write {self.path}: unknown video extension {suffix!r} (use {known})")
            fourcc = VIDEO_FOURCC[suffix]
        parent = self.path.parent
        if self.path.is_dir():
            raise SinkError(f"cannot write {self.path}: it is a directory")
        if not parent.is_dir():
            raise SinkError(f"cannot write {self.path}: no such directory {parent}")
        if not os.access(parent, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            raise SinkError(f"cannot write {self.path}: permission denied")
        self.fps = float(fps)
        self.size = (width, height)
        self.fourcc = fourcc
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*fourcc), self.fps, self.size)
        if not self._writer.isOpened():
            self._writer.release()
            raise SinkError(f"cannot write {self.path}: OpenCV cannot encode {fourcc} into {suffix} here; try .avi")
        self.closed = False
        self.frames_written = 0
        self._warned_resize = False

    def write(self, result: FrameResult | np.ndarray) -> None:
        """Append one frame: ``result.frame.image`` or an (H, W, 3) uint8 BGR array."""
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        image = result if isinstance(result, np.ndarray) else result.frame.image
        if (image.shape[1], image.shape[0]) != self.size:
            if not self._warned_resize:
                log.warning("%s: resizing %dx%d frames to %dx%d", self.path, image.shape[1], image.shape[0], *self.size)
                self._warned_resize = True
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (writes the container index). Idempotent."""
        if not self.closed:
            self.closed = True
            self._writer.release()

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoSink({str(self.path)!r}, fps={self.fps}, size={self.size})"


# -- metrics ---------------------------------------------------------------------------------------------------------
class MetricsSink(FileSink):
    """A CSV row per wall-clock second of processing: ``second, frames, fps, cpu_percent, rss_mb, faces``.

    ``second`` counts from the first ``write()`` (0-based); ``fps`` is frames per second of that row's span (1 s, or
    less for the final partial second written by ``close()``); ``cpu_percent`` is this process's CPU use since the
    previous row (100 = one core busy, so up to 100 x cores); ``rss_mb`` is resident memory in MiB; ``faces`` counts
    faces in the frames of that second. Seconds without any frame (a stall) get rows with ``frames = 0``.

    Args:
        path: the CSV to write.
        clock: monotonic time in seconds (tests pass a fake one).
    """

    COLUMNS = ("second", "frames", "fps", "cpu_percent", "rss_mb", "faces")

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(path)
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._clock = clock
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts psutil's measurement interval
        self._t0: float | None = None
        self._second = 0
        self._frames = 0
        self._faces = 0
        self.rows_written = 0
        self._emit_rows([list(self.COLUMNS)])

    def _emit_rows(self, rows: list[list[Any]]) -> None:
        try:
            self._writer.writerows(rows)
            self._file.flush()
        except OSError as exc:
            raise _sink_error(self.path, exc) from None

    def _finish_seconds(self, upto: int) -> None:
        """Write rows for seconds ``self._second`` .. ``upto - 1`` (the current one, then any empty ones)."""
        cpu = round(self._process.cpu_percent(None), 1)
        rss = round(self._process.memory_info().rss / 2**20, 1)
        rows = []
        while self._second < upto:
            rows.append([self._second, self._frames, round(self._frames / 1.0, 2), cpu, rss, self._faces])
            self._second += 1
            self._frames = self._faces = 0
        self._emit_rows(rows)
        self.rows_written += len(rows)

    def write(self, result: FrameResult) -> None:
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        second = int(now - self._t0)
        if second > self._second:
            self._finish_seconds(second)
        self._frames += 1
        self._faces += len(result.faces)
        self.frames_written += 1

    def close(self) -> None:
        """Write the final partial second (its fps over the time it lasted), then close."""
        if not self.closed and self._t0 is not None and self._frames > 0:
            span = max(self._clock() - self._t0 - self._second, 1e-3)
            cpu = round(self._process.cpu_percent(None), 1)
            rss = round(self._process.memory_info().rss / 2**20, 1)
            fps = round(self._frames / min(span, 1.0), 2)
            self._emit_rows([[self._second, self._frames, fps, cpu, rss, self._faces]])
            self.rows_written += 1
        super().close()


# -- several at once -------------------------------------------------------------------------------------------------
class SinkSet:
    """Fans ``write()`` out to several sinks and closes them all (even if one fails; the first error is raised)."""

    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self.sinks: list[Sink] = list(sinks)

    def add(self, sink: Sink) -> Sink:
        """Add a sink; returns it."""
        self.sinks.append(sink)
        return sink

    def write(self, result: FrameResult) -> None:
        for sink in self.sinks:
            sink.write(result)

    def close(self) -> None:
        error: BaseException | None = None
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # close the others first
                error = error or exc
        if error is not None:
            raise error

    def __len__(self) -> int:
        return len(self.sinks)

    def __iter__(self) -> Iterator[Sink]:
        return iter(self.sinks)

    def __enter__(self) -> SinkSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sink(
    path: str | Path,
    *,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    labels: Sequence[str] | None = None,
) -> Sink:
    """The sink that the extension of ``path`` names: ``.jsonl``/``.ndjson``, ``.json``, ``.csv``, or a video.

    ``fps`` and ``size`` (width, height) are needed for videos; ``labels`` fixes the CSV's ``p_`` columns.
    A metrics log is also a ``.csv``: create :class:`MetricsSink` explicitly.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return JsonlSink(path)
    if suffix == ".json":
        return JsonArraySink(path)
    if suffix == ".csv":
        return CsvSink(path, labels=labels)
    if suffix in VIDEO_FOURCC:
        if fps is None or size is None:
            raise ValueError(f"a video sink ({path}) needs fps and size")
        return VideoSink(path, fps, size)
    raise SinkError(f"cannot write {path}: unknown output format {suffix!r} (use .jsonl, .json, .csv, .mp4 or .avi)")
