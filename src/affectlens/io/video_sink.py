"""``VideoSink``: the annotated video, at the source's fps and size, encoded on its own thread and checked before it
is put in place."""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
from pathlib import Path

import cv2
import numpy as np

from affectlens import interrupts
from affectlens.core import FrameResult
from affectlens.io.errors import SinkError
from affectlens.io.file_sink import OutputFile, free_bytes

log = logging.getLogger(__name__)

#: Video container extension -> FourCC that OpenCV's FFmpeg backend encodes without extra codecs.
VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}

#: FFmpeg writes a file in chunks of its 32 KiB I/O buffer: a file that stopped growing on a filesystem with less
#: free space than this cannot take the next chunk.
_LOW_SPACE = 64 * 1024

#: Frames waiting for the encoder thread: ``write()`` blocks while they are all taken, so memory stays bounded at
#: about ``QUEUE_FRAMES * width * height * 3`` bytes, and encoding overlaps the analysis of the next frames.
QUEUE_FRAMES = 4

_END = None  # end-of-video marker in the encoder's queue


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W, 3) scaled to fit ``size`` (width, height) without changing its aspect ratio, centred on
    black: a new (height, width, 3) uint8 array.

    >>> out = letterbox(np.full((100, 200, 3), 255, np.uint8), (100, 100))  # 2:1 into a square: bars above, below
    >>> out.shape, out[[0, 24, 25, 74, 75, 99], 50, 0].tolist()
    ((100, 100, 3), [0, 0, 255, 255, 0, 0])
    """
    width, height = size
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((height, width, 3), np.uint8)
    left, top = (width - new_w) // 2, (height - new_h) // 2
    canvas[top : top + new_h, left : left + new_w] = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    return canvas


class VideoSink:
    """An annotated video: ``write(result)`` appends ``result.frame.image`` (or a BGR array) as one frame.

    Args:
        path: ``.mp4``/``.m4v``/``.mov`` (MPEG-4 Part 2, ``mp4v``) or ``.avi``/``.mkv`` (Motion JPEG, ``MJPG``).
        fps: frames per second to store, > 0 (keep the source's, so durations match).
        size: (width, height) in pixels. Both codecs need even dimensions: an odd width or height loses its last
            pixel column or row (cropped, with a warning), never scaled. Frames of another size (the images of a
            folder) are scaled to fit, their aspect ratio kept, with black borders (:func:`letterbox`; a warning,
            once), because OpenCV's writer would silently drop them.
        fourcc: override the FourCC chosen from the extension.
        queue_frames: frames that may wait for the encoder thread (>= 1; see :data:`QUEUE_FRAMES`).

    Frames are encoded on a thread of the sink's own (OpenCV's encoder releases the GIL), so encoding overlaps the
    analysis of the next frames: ``write()`` only queues the frame, and waits while ``queue_frames`` frames are
    already waiting. The array is encoded later: do not modify it after ``write()`` (the pipeline never does: each
    frame is a new array, and the overlay draws on a copy). :meth:`close` waits until every queued frame is encoded.

    Like the record sinks, the video is written as ``<stem>.partial<suffix>`` beside ``path`` and renamed into
    place by :meth:`close`, after reading it back: it must open and hold every frame written, the last one
    decodable. OpenCV's writer reports no errors, so a full disk is also watched while writing (the file stops
    growing while the filesystem has no room left). Either failure is a one-line :class:`SinkError` naming the file
    and the reason, raised by the next ``write()`` or by :meth:`close`, and the incomplete video is removed (an
    existing ``path`` is left as it was). A video cannot be flushed: if the process is killed, the ``.partial`` file
    may not play (``.avi`` is more forgiving than ``.mp4``).

    Attributes:
        frames_written: frames accepted by ``write()`` (all of them are encoded by the time :meth:`close` returns,
            unless it raises). ``frames_encoded``: frames the encoder thread has handed to OpenCV's writer so far.
            ``kept``: after close, whether ``path`` holds the video.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        size: tuple[int, int],
        *,
        fourcc: str | None = None,
        queue_frames: int = QUEUE_FRAMES,
    ) -> None:
        self.path = Path(path)
        if fps is None or not fps > 0:
            raise ValueError(f"VideoSink fps must be > 0, got {fps}")
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0:
            raise ValueError(f"VideoSink size must be (width, height) > 0, got {size}")
        if queue_frames < 1:
            raise ValueError(f"VideoSink queue_frames must be >= 1, got {queue_frames}")
        if str(path) == "-":
            raise SinkError("a video cannot be written to standard output: give a file name")
        suffix = self.path.suffix.lower()
        if fourcc is None:
            if suffix not in VIDEO_FOURCC:
                known = ", ".join(VIDEO_FOURCC)
                raise SinkError(f"cannot write {self.path}: unknown video extension {suffix!r} (use {known})")
            fourcc = VIDEO_FOURCC[suffix]
        self.source_size = (width, height)
        self.size = (max(width - width % 2, 2), max(height - height % 2, 2))
        if self.size != self.source_size:
            log.warning(
                "%s: the video codecs need an even width and height: writing %dx%d, the last pixel %s of the %dx%d "
                "frames cropped",
                self.path,
                *self.size,
                "column and row" if width % 2 and height % 2 else ("column" if width % 2 else "row"),
                width,
                height,
            )
        self.fps = float(fps)
        self.fourcc = fourcc
        self._output = OutputFile(self.path)  # checks the directory and creates the temporary file
        os.close(self._output.fd)  # OpenCV writes it by name
        self._writer = cv2.VideoWriter(str(self._output.temp), cv2.VideoWriter.fourcc(*fourcc), self.fps, self.size)
        if not self._writer.isOpened():
            self._writer.release()
            self._output.discard()
            raise SinkError(f"cannot write {self.path}: OpenCV cannot encode {fourcc} into {suffix} here; try .avi")
        self.closed = False
        self.kept = False
        self.frames_written = 0
        self.frames_encoded = 0
        self._error: SinkError | None = None  # set by the encoder thread, raised by the next write() or close()
        self._reported = False  # the caller got self._error already
        self._warned_resize = False
        self._file_size = 0
        self._stalled = 0
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queue_frames)
        self._thread = threading.Thread(target=self._encode, name="affectlens-video-writer", daemon=True)
        self._thread.start()

    @property
    def temp_path(self) -> Path:
        return self._output.temp

    def write(self, result: FrameResult | np.ndarray) -> None:
        """Queue one frame for encoding: ``result.frame.image`` or an (H, W, 3) uint8 BGR array (not copied: leave
        it unchanged). Waits while :data:`QUEUE_FRAMES` frames are already waiting.

        Raises:
            SinkError: the sink is closed, or encoding failed (the disk is full...).
        """
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        if self._error is not None:
            self._reported = True
            raise self._error
        image = result if isinstance(result, np.ndarray) else result.frame.image
        with interrupts.deferred():  # queued and counted as a unit: frames_written always matches the queue
            self._put(image)
            self.frames_written += 1

    def _put(self, item: np.ndarray | None) -> None:
        """Queue ``item`` for the encoder thread, waiting for room (the thread always drains its queue)."""
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self._thread.is_alive():  # cannot happen (the thread catches everything); never hang if it does
                    raise SinkError(f"cannot write {self.path}: the video encoder stopped") from None

    def _encode(self) -> None:
        """The encoder thread: fit and encode queued frames until the end marker; after a failure, only drain."""
        while True:
            image = self._queue.get()
            if image is _END:
                return
            if self._error is not None:
                continue  # a failed video is discarded: drain the queue so that write() never waits forever
            try:
                self._writer.write(self._fit(image))
                self.frames_encoded += 1
                self._watch_space()
            except SinkError as error:
                self._error = error
            except BaseException as error:  # any failure is this video's error, raised in the caller's thread
                self._error = SinkError(f"cannot write {self.path}: encoding failed: {error}")

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """``image`` as a contiguous (height, width, 3) array of :attr:`size`: cropped by the odd pixel, or
        letterboxed when it has another size (a warning, once)."""
        if (image.shape[1], image.shape[0]) == self.source_size and self.size != self.source_size:
            image = image[: self.size[1], : self.size[0]]
        elif (image.shape[1], image.shape[0]) != self.size:
            if not self._warned_resize:
                log.warning(
                    "%s: fitting %dx%d frames into %dx%d (aspect ratio kept, black borders)",
                    self.path,
                    image.shape[1],
                    image.shape[0],
                    *self.size,
                )
                self._warned_resize = True
            image = letterbox(image, self.size)
        return np.ascontiguousarray(image)

    def _watch_space(self) -> None:
        """Fail once the file stopped growing on a full filesystem (OpenCV's writer drops what it cannot write)."""
        try:
            size = os.stat(self._output.temp).st_size
        except OSError:
            return
        if size > self._file_size:
            self._file_size, self._stalled = size, 0
            return
        self._stalled += 1
        free = free_bytes(self._output.temp.parent)
        if self._stalled >= 2 and free is not None and free < _LOW_SPACE:
            raise SinkError(
                f"cannot write {self.path}: {os.strerror(errno.ENOSPC)} after {self.frames_encoded - 2} frames; "
                "free some space or write elsewhere"
            )

    def _check_written(self) -> str | None:
        """Why the finished temporary file is not a complete video (None: it is)."""
        capture = cv2.VideoCapture(str(self._output.temp))
        try:
            if not capture.isOpened():
                count, last_ok = 0, False
            else:
                count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
                capture.set(cv2.CAP_PROP_POS_FRAMES, max(self.frames_encoded - 1, 0))
                last_ok = capture.read()[0]
        finally:
            capture.release()
        if count == self.frames_written == self.frames_encoded and last_ok:
            return None
        free = free_bytes(self._output.temp.parent)
        if free is not None and free < _LOW_SPACE:
            return f"{os.strerror(errno.ENOSPC)}; free some space or write elsewhere"
        return f"the video written is unreadable (read back {count} of {self.frames_written} frames)"

    def close(self) -> None:
        """Wait for the queued frames to be encoded, finish the file (writes the container index), check it and
        rename it into place. Idempotent.

        Raises:
            SinkError: encoding failed, or the finished video is incomplete (disk full...); it was removed.
        """
        if self.closed:
            return
        with interrupts.deferred():
            self.closed = True
            try:
                self._put(_END)
            except SinkError as error:
                self._error = self._error or error
            self._thread.join()
            self._writer.release()
            if self._error is not None or self.frames_written == 0:
                self._output.discard()
                if self._error is not None and not self._reported:  # failed after the last write()
                    self._reported = True
                    raise self._error
                return
            problem = self._check_written()
            if problem is not None:
                self._output.discard()
                self._error = SinkError(f"cannot write {self.path}: {problem}")
                raise self._error
            self._output.commit()
            self.kept = True

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        with interrupts.deferred():
            self.close()

    def __repr__(self) -> str:
        return f"VideoSink({str(self.path)!r}, fps={self.fps}, size={self.size})"
