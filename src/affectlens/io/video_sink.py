"""``VideoSink``: the annotated video, at the source's fps and size."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from affectlens.core import FrameResult
from affectlens.io.errors import SinkError

log = logging.getLogger(__name__)

#: Video container extension -> FourCC that OpenCV's FFmpeg backend encodes without extra codecs.
VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


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
