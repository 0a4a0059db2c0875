"""``FrameSource``: the reader thread and bounded queue behind every source; live sources keep only the newest frame."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from affectlens.core import Frame
from affectlens.io.errors import SourceError

log = logging.getLogger(__name__)

#: Extensions read as still images (with ``cv2.imdecode``); everything else that is a file is tried as a video.
#: GIFs are not here: this OpenCV build has no GIF decoder, so FFmpeg reads them, and a one-frame GIF (like any
#: one-frame video) is then a still image (``kind == "image"``).
IMAGE_EXTENSIONS = frozenset(
    {".bmp", ".dib", ".jpg", ".jpeg", ".jpe", ".jp2", ".png", ".webp", ".avif", ".pbm", ".pgm", ".ppm", ".pxm"}
    | {".pnm", ".pfm", ".sr", ".ras", ".tif", ".tiff", ".exr", ".hdr", ".pic"}
)
#: URL schemes of real-time streams: read in live mode unless ``mode="file"``.
LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt", "rtp", "mms"})
#: URL schemes that serve files as well as streams: file mode when the stream has a known length, else live.
FILE_SCHEMES = frozenset({"http", "https"})
#: URL schemes opened as network streams with FFmpeg.
STREAM_SCHEMES = LIVE_SCHEMES | FILE_SCHEMES
#: How a source is read: ``"file"`` delivers every frame with media timestamps; ``"live"`` keeps only the newest.
MODES = ("file", "live")
#: FFmpeg open and read timeout for stream URLs, in ms (an unreachable host fails after this instead of hanging).
STREAM_TIMEOUT_MS = 10_000
#: How long ``close()`` waits for the reader thread, in s (a stalled stream can block inside FFmpeg).
JOIN_TIMEOUT_S = 5.0

#: Key of ``Frame.source`` holding ``time.perf_counter_ns()`` at the moment the frame was decoded or received (for a
#: file played back in live mode: when it was due). The pipeline measures capture-to-result latency from it.
CAPTURED = "captured_ns"

_END = object()  # end-of-stream marker in the queue


class FrameSource:
    """An iterable, single-pass context manager of :class:`~affectlens.core.Frame` s, decoded by a reader thread.

    Created by :func:`open_source`. Each frame carries ``image`` (H, W, 3) uint8 BGR, ``index`` (0-based),
    ``timestamp_ms`` (ms since the source started) and ``source`` metadata: ``kind``, ``path``, ``name``, ``fps``,
    ``width``, ``height``, ``frame_count``, ``live`` (and ``camera`` / ``folder`` / ``file`` where they apply), and
    ``captured_ns`` (:data:`CAPTURED`): ``time.perf_counter_ns()`` when the frame was decoded or received.

    File mode (``live=False``): the reader decodes up to ``queue_size`` frames ahead and waits for the consumer;
    every frame is delivered. Live mode: the reader never waits and keeps only the newest decoded frame, so the
    consumer always gets the latest picture and ``dropped`` counts the rest: when the consumer takes a frame, the
    reader has finished no newer one (it may be decoding the next), so what is analysed is at most one frame behind
    the decoder.

    Attributes:
        stopped_early: True when decoding ended before the header's frame count (a truncated file) or a camera or
            live stream stopped delivering; set once iteration reached the end. A consumer that breaks does not set it.
        error: the one-line reason when ``stopped_early``, else None. Not raised: what was decoded stays valid.
    """

    def __init__(
        self,
        *,
        kind: str,
        name: str,
        path: str | None,
        live: bool,
        queue_size: int,
        fps: float | None,
        frame_count: int | None,
        size: tuple[int, int],
        extra: dict[str, Any] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self._kind = kind
        self._name = name
        self._live = live
        self._fps = fps
        self._frame_count = frame_count
        self._size = size
        self._meta: dict[str, Any] = {
            "kind": kind,
            "path": path,
            "name": name,
            "fps": fps,
            "width": size[0],
            "height": size[1],
            "frame_count": frame_count,
            "live": live,
            **(extra or {}),
        }
        # live: one slot for the newest frame plus one for the end marker, so the end never displaces a frame
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2 if live else queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._started = False
        self._released = False
        self._exception: BaseException | None = None
        self._produced = 0
        self._dropped = 0
        self.stopped_early = False
        self.error: str | None = None

    # -- what it is --------------------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"video"`` (file), ``"camera"``, ``"stream"`` (URL), ``"image"`` or ``"folder"``."""
        return self._kind

    @property
    def name(self) -> str:
        """Human-readable name for messages: the path, ``camera N``, or the URL without its password."""
        return self._name

    @property
    def live(self) -> bool:
        """True in live mode: only the newest frame is kept, stale ones are dropped to stay current."""
        return self._live

    @property
    def mode(self) -> str:
        """``"live"`` or ``"file"`` (see :data:`MODES`)."""
        return "live" if self._live else "file"

    @property
    def fps(self) -> float | None:
        """Frames per second the source declares; None for images and folders, or when unknown."""
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Frame count from the container header (files), number of images (folders), else None."""
        return self._frame_count

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels of the first frame (images of a folder may differ)."""
        return self._size

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the ``source`` dict that every frame carries."""
        return dict(self._meta)

    @property
    def frames_read(self) -> int:
        """Frames decoded so far by the reader (delivered or dropped)."""
        return self._produced

    @property
    def dropped(self) -> int:
        """Frames decoded but dropped because the consumer fell behind (live mode only; else 0)."""
        return self._dropped

    # -- subclass hooks (called from the reader thread once it started) ----------------------------------------------
    def _next_frame(self) -> Frame | None:
        """The next frame, or None at the end of the source."""
        raise NotImplementedError

    def _at_end(self) -> None:
        """Called once when ``_next_frame`` returned None (not after ``close``): set ``stopped_early``/``error``."""

    def _release_handle(self) -> None:
        """Free the decoder (VideoCapture); called once, by the thread that last used it."""

    # -- iteration ---------------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            raise SourceError(f"source {self._name} is closed: open it again to read it")
        if self._started:
            raise SourceError(f"source {self._name} can be iterated once: open it again to read it again")
        self._started = True
        self._thread = threading.Thread(target=self._run, name=f"affectlens-reader-{self._kind}", daemon=True)
        self._thread.start()
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.5)
                except queue.Empty:
                    if self._thread is not None and not self._thread.is_alive() and self._queue.empty():
                        break  # cannot happen (the reader always ends with _END); never hang if it does
                    continue
                if item is _END:
                    break
                yield item
            if self._exception is not None:
                exc = self._exception
                raise SourceError(f"reading {self._name} failed after {self._produced} frames: {exc}") from exc
        finally:
            self.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._next_frame()
                if frame is None:
                    if not self._stop.is_set():
                        self._at_end()
                    break
                frame.source.setdefault(CAPTURED, time.perf_counter_ns())  # for sources that do not stamp it
                self._produced += 1
                self._put(frame)
        except BaseException as exc:  # handed to the consumer, raised there as a SourceError
            self._exception = exc
        finally:
            self._release_once()
            self._put(_END)

    def _put(self, item: Any) -> None:
        if self._live:  # the reader is the only producer: after the drain, the queue has room for item
            if item is not _END:
                while True:  # replace the frame the consumer has not taken yet: it should see the newest
                    try:
                        self._queue.get_nowait()
                    except queue.Empty:
                        break
                    self._dropped += 1
            self._queue.put_nowait(item)
        else:
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)  # wakes up to notice close()
                    return
                except queue.Full:
                    continue

    def _release_once(self) -> None:
        if not self._released:
            self._released = True
            self._release_handle()

    # -- lifetime ----------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the reader thread and free the decoder. Idempotent; also called by ``with`` and by ``break``."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is None:
            self._release_once()
            return
        if thread is threading.current_thread():
            return
        while True:  # free a reader blocked on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        thread.join(JOIN_TIMEOUT_S)
        if thread.is_alive():  # stuck inside a decoder call; it is a daemon and releases the handle when it returns
            log.warning("reader of %s did not stop within %.0f s (stalled stream?)", self._name, JOIN_TIMEOUT_S)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self._size
        kind, name = self._kind, self._name
        return f"{type(self).__name__}({kind=}, {name=}, size={w}x{h}, fps={self._fps}, live={self._live})"
