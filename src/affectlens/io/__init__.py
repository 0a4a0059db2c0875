"""Frame sources (files, cameras, streams, images, folders) and record sinks (JSONL, CSV, JSON, Parquet, video,
metrics).

from affectlens.io import JsonlSink, open_source

with open_source("video.mp4") as source, JsonlSink("out.jsonl") as sink:
    for frame in source:
        sink.write(analyze(frame))
"""

from affectlens.io.errors import AffectlensIOError, ExtraMissingError, RecordsError, SinkError, SourceError
from affectlens.io.image_sink import ImageSink
from affectlens.io.image_source import read_image
from affectlens.io.sinks import (
    CsvSink,
    JsonArraySink,
    JsonlSink,
    MetricsSink,
    ParquetSink,
    Sink,
    SinkSet,
    VideoSink,
    open_sink,
    read_jsonl,
)
from affectlens.io.sources import CaptureSource, FrameSource, ImageSource, open_source

__all__ = [
    "AffectlensIOError",
    "CaptureSource",
    "CsvSink",
    "ExtraMissingError",
    "FrameSource",
    "ImageSink",
    "ImageSource",
    "JsonArraySink",
    "JsonlSink",
    "MetricsSink",
    "ParquetSink",
    "RecordsError",
    "Sink",
    "SinkError",
    "SinkSet",
    "SourceError",
    "VideoSink",
    "open_sink",
    "open_source",
    "read_image",
    "read_jsonl",
]
