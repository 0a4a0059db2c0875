"""Record sinks: JSONL, CSV, JSON array, Parquet dataset folder, annotated video and a per-second metrics log.

    from affectlens.io import CsvSink, JsonlSink, SinkSet

    with SinkSet([JsonlSink("out.jsonl"), CsvSink("faces.csv")]) as sinks:
        for result in results:          # affectlens.core.FrameResult
            sinks.write(result)

Every sink creates its file when it is created, so an unwritable path raises :class:`SinkError` before any work.
It writes under a temporary name beside the output (``out.jsonl`` -> ``out.partial.jsonl``) and renames it into place
when closed, if at least one frame was written (else it removes it): an existing file is replaced only by a finished
one. Record sinks write through to the OS after every ``write()``, so after a crash the ``.partial`` file is valid up
to the last frame written (it survives the process, not a power cut); a failed write (disk full) raises a one-line
:class:`SinkError` and the file is cut back to its last complete frame. :class:`VideoSink` is checked when closed,
see there. :func:`~affectlens.io.output_paths.check_outputs` refuses outputs that are an input or each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from affectlens.core import FrameResult
from affectlens.io.errors import SinkError
from affectlens.io.file_sink import FileSink, Sink
from affectlens.io.image_sink import ImageSink, is_image_path
from affectlens.io.metrics_sink import MetricsSink
from affectlens.io.parquet_sink import ParquetSink
from affectlens.io.record_sinks import CsvSink, JsonArraySink, JsonlSink, read_jsonl, record_json
from affectlens.io.video_sink import VIDEO_FOURCC, VideoSink

__all__ = [
    "VIDEO_FOURCC",
    "CsvSink",
    "FileSink",
    "JsonArraySink",
    "JsonlSink",
    "MetricsSink",
    "ParquetSink",
    "Sink",
    "SinkSet",
    "VideoSink",
    "open_sink",
    "read_jsonl",
    "record_json",
]


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
    """The sink that the extension of ``path`` names: ``.jsonl``/``.ndjson``, ``.json``, ``.csv``, a video, or an
    image (``.jpg``, ``.png``, ``.webp``...: one annotated still, :class:`~affectlens.io.ImageSink`).

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
    if is_image_path(path):
        return ImageSink(path)
    raise SinkError(
        f"cannot write {path}: unknown output format {suffix!r} (use .jsonl, .json, .csv, .mp4, .avi or .jpg, .png)"
    )
