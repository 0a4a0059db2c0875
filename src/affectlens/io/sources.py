"""Frame sources: video files, cameras, stream URLs, single images and folders of images.

    from affectlens.io import open_source

    with open_source("video.mp4") as source:      # or 0 (camera), "rtsp://...", "photo.jpg", "frames/"
        print(source.kind, source.fps, source.frame_count, source.size)
        for frame in source:                       # affectlens.core.Frame, BGR uint8 (H, W, 3)
            ...
    if source.stopped_early:
        print(source.error)                        # e.g. "decoding stopped at frame 95 of 98 (header): ..."

A reader thread decodes ahead into a bounded queue, so decoding overlaps with analysis. Live sources (cameras and
URLs by default) drop the OLDEST queued frame when the consumer falls behind, so what it gets stays current; other
sources never drop: the reader waits for the consumer. A source opens (and decodes its first frame) when it is
created, so a bad spec fails before any work or output, and it is read once: iterating runs it to its end or until
``close()``/``break``, after which the reader thread is gone.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from affectlens.core import Frame
from affectlens.io.errors import SourceError

log = logging.getLogger(__name__)

#: Extensions read as still images (with ``cv2.imdecode``); everything else that is a file is tried as a video.
IMAGE_EXTENSIONS = frozenset(
    {".bmp", ".dib", ".jpg", ".jpeg", ".jpe", ".jp2", ".png", ".webp", ".avif", ".pbm", ".pgm", ".ppm", ".pxm"}
    | {".pnm", ".pfm", ".sr", ".ras", ".tif", ".tiff", ".exr", ".hdr", ".pic"}
)
#: URL schemes opened as network streams with FFmpeg.
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp", "mms"})
#: FFmpeg open and read timeout for stream URLs, in ms (an unreachable host fails after this instead of hanging).
STREAM_TIMEOUT_MS = 10_000
#: How long ``close()`` waits for the reader thread, in s (a stalled stream can block inside FFmpeg).
JOIN_TIMEOUT_S = 5.0

_END = object()  # end-of-stream marker in the queue


class FrameSource:
    """An iterable, single-pass context manager of :class:`~affectlens.core.Frame` s, decoded by a reader thread.

    Created by :func:`open_source`. Each frame carries ``image`` (H, W, 3) uint8 BGR, ``index`` (0-based),
    ``timestamp_ms`` (ms since the source started) and ``source`` metadata: ``kind``, ``path``, ``name``, ``fps``,
    ``width``, ``height``, ``frame_count``, ``live`` (and ``camera`` / ``folder`` where they apply).

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
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
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
        """True when stale frames are dropped to stay current."""
        return self._live

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
                self._produced += 1
                self._put(frame)
        except BaseException as exc:  # handed to the consumer, raised there as a SourceError
            self._exception = exc
        finally:
            self._release_once()
            self._put(_END)

    def _put(self, item: Any) -> None:
        if self._live:
            while not self._stop.is_set():
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self._queue.get_nowait()  # drop the oldest: the consumer should see the newest
                        self._dropped += 1
                    except queue.Empty:
                        pass
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


class CaptureSource(FrameSource):
    """Video file, camera or stream, decoded with ``cv2.VideoCapture.read()``.

    Timestamps: files use ``index * 1000 / fps`` (exact for constant frame rate, immune to container quirks), or
    FFmpeg's ``CAP_PROP_POS_MSEC`` when the fps is unknown; cameras and live streams use monotonic wall-clock ms
    since the source was opened (when the frame was read); a stream opened with ``live=False`` (say a file over
    HTTP) uses media time like a file. A file opened with ``live=True`` is played back at its own fps (a simulated
    camera): the reader paces itself and the consumer gets the newest frame, dropping what it cannot keep up with.
    """

    def __init__(
        self,
        capture: cv2.VideoCapture,
        *,
        kind: str,
        name: str,
        path: str | None,
        live: bool,
        queue_size: int,
        camera: int | None = None,
    ) -> None:
        self._capture = capture
        self._camera = camera
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if kind != "camera" else 0
        self._wall_clock = kind == "camera" or (kind == "stream" and live)  # else media time
        self._t0 = time.monotonic()
        ok, image = capture.read()  # decode one frame now: a file that opens but cannot decode fails here
        if not ok or image is None:
            capture.release()
            raise SourceError(_undecodable_message(kind, name, camera))
        if self._wall_clock:
            first_ms = (time.monotonic() - self._t0) * 1e3
        else:
            first_ms = 0.0 if 0.0 < fps <= 1000.0 else float(capture.get(cv2.CAP_PROP_POS_MSEC))
        super().__init__(
            kind=kind,
            name=name,
            path=path,
            live=live,
            queue_size=queue_size,
            fps=fps if 0.0 < fps <= 1000.0 else None,
            frame_count=frame_count if frame_count > 0 else None,
            size=(int(image.shape[1]), int(image.shape[0])),
            extra={"camera": camera} if camera is not None else None,
        )
        self._pending: tuple[np.ndarray, float] | None = (image, first_ms)
        self._index = 0
        self._pace_t0: float | None = None

    def _timestamp_ms(self, index: int) -> float:
        if self._wall_clock:
            return (time.monotonic() - self._t0) * 1e3
        if self._fps is not None:
            return index * 1000.0 / self._fps
        return float(self._capture.get(cv2.CAP_PROP_POS_MSEC))

    def _next_frame(self) -> Frame | None:
        index = self._index
        if self._kind == "video" and self._live and self._fps is not None:  # real-time playback of a file
            now = time.monotonic()
            if self._pace_t0 is None:
                self._pace_t0 = now
            delay = self._pace_t0 + index / self._fps - now
            if delay > 0 and self._stop.wait(delay):
                return None
        if self._pending is not None:
            image, timestamp_ms = self._pending
            self._pending = None
        else:
            ok, image = self._capture.read()  # a fresh array per call: frames in the queue never alias
            if not ok or image is None:
                return None
            timestamp_ms = self._timestamp_ms(index)
        self._index = index + 1
        return Frame(image=image, index=index, timestamp_ms=timestamp_ms, source=dict(self._meta))

    def _at_end(self) -> None:
        decoded = self._index
        if self._frame_count is not None and decoded < self._frame_count:
            self.stopped_early = True
            self.error = f"decoding stopped at frame {decoded} of {self._frame_count} (header): file may be truncated"
        elif self._kind == "camera":
            self.stopped_early = True
            self.error = f"camera {self._camera} stopped delivering frames after {decoded}: was it disconnected?"
        elif self._kind == "stream" and self._live and self._frame_count is None:
            self.stopped_early = True
            self.error = f"stream {self._name} ended after {decoded} frames: connection lost?"
        if self.error:
            log.warning("%s: %s", self._name, self.error)

    def _release_handle(self) -> None:
        self._capture.release()


class ImageSource(FrameSource):
    """One image file, or the images of a folder in natural name order (``2.png`` before ``10.png``).

    Images are decoded with ``cv2.imdecode`` (any bit depth or channel count becomes 3-channel uint8 BGR). A file
    that fails to decode is skipped with a warning, and its index is not reused: ``frame.index`` is the position in
    the listing. Stills have no time base: ``timestamp_ms = index * 1000`` (a nominal 1 frame per second, so
    timestamps increase and time-based smoothing treats consecutive images as one second apart); ``fps`` is None.
    """

    def __init__(self, paths: list[Path], *, kind: str, name: str, live: bool, queue_size: int) -> None:
        self._paths = paths
        self._position = 0
        first = self._decode_next()
        if first is None:
            where = f"folder {name}" if kind == "folder" else name
            raise SourceError(f"cannot read image {where}: no file in it is an image OpenCV can decode")
        _, image = first
        extra = {"folder": name} if kind == "folder" else None
        super().__init__(
            kind=kind,
            name=name,
            path=str(paths[0]) if kind == "image" else name,
            live=live,
            queue_size=queue_size,
            fps=None,
            frame_count=len(paths),
            size=(int(image.shape[1]), int(image.shape[0])),
            extra=extra,
        )
        self._pending: tuple[int, np.ndarray] | None = first

    def _decode_next(self) -> tuple[int, np.ndarray] | None:
        while self._position < len(self._paths):
            index, path = self._position, self._paths[self._position]
            self._position += 1
            try:  # imdecode(fromfile) rather than imread: works with non-ASCII paths on every OS
                image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
            except (OSError, cv2.error) as exc:
                log.warning("skipped %s: cannot read it (%s)", path, exc)
                continue
            if image is None:
                log.warning("skipped %s: not an image OpenCV can decode", path)
                continue
            return index, image
        return None

    def _next_frame(self) -> Frame | None:
        if self._pending is not None:
            decoded, self._pending = self._pending, None
        else:
            decoded = self._decode_next()
        if decoded is None:
            return None
        index, image = decoded
        source = dict(self._meta)
        source["path"] = str(self._paths[index])
        return Frame(image=image, index=index, timestamp_ms=index * 1000.0, source=source)


def open_source(spec: str | Path | int, *, live: bool | None = None, queue_size: int = 8) -> FrameSource:
    """Open a video file, camera, stream URL, image or folder of images as a :class:`FrameSource`.

    Args:
        spec: a camera index (``int``, or a string of digits that is not an existing file), a stream URL
            (``rtsp://``, ``http(s)://``, ``udp://``, ...), a folder (its images, sorted by name; other files are
            skipped with a warning), an image file (by extension), or any video file OpenCV/FFmpeg decodes.
        live: drop the oldest queued frame when the consumer falls behind (stay current) instead of waiting for
            it. Default: True for cameras and URLs, False for files, images and folders. ``live=True`` on a video
            file plays it back at its own fps, like a camera.
        queue_size: frames decoded ahead of the consumer (>= 1); memory is ``queue_size * H * W * 3`` bytes.

    Returns:
        The opened source; its first frame is already decoded, so ``size`` is exact.

    Raises:
        SourceError: one line saying what is wrong and what to try (missing file, undecodable video, camera that
            cannot be opened, folder without images, unsupported spec).
    """
    if isinstance(spec, bool) or not isinstance(spec, (str, Path, int)):
        raise SourceError(f"unsupported source {spec!r}: give a video file, image, folder, camera index or stream URL")
    if isinstance(spec, str) and not spec.strip():
        raise SourceError("unsupported source '': give a video file, image, folder, camera index or stream URL")
    if isinstance(spec, str) and "://" in spec:
        return _open_url(spec, live=True if live is None else live, queue_size=queue_size)
    if isinstance(spec, str) and spec.strip().isdigit() and not Path(spec).exists():
        spec = int(spec.strip())
    if isinstance(spec, int):
        return _open_camera(spec, live=True if live is None else live, queue_size=queue_size)
    return _open_path(Path(spec), live=False if live is None else live, queue_size=queue_size)


def _open_camera(index: int, *, live: bool, queue_size: int) -> FrameSource:
    if index < 0:
        raise SourceError(f"unsupported camera index {index}: cameras are numbered from 0")
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        capture.release()
        hint = "try --camera 0" if index != 0 else "or try --camera 1"
        raise SourceError(f"cannot open camera {index}: is it connected and free? {hint}")
    return CaptureSource(
        capture, kind="camera", name=f"camera {index}", path=None, live=live, queue_size=queue_size, camera=index
    )


def _open_url(url: str, *, live: bool, queue_size: int) -> FrameSource:
    scheme = url.split("://", 1)[0].lower()
    if scheme == "file":
        return _open_path(Path(urlsplit(url).path), live=live, queue_size=queue_size)
    name = redact_url(url)
    if scheme not in STREAM_SCHEMES:
        raise SourceError(
            f"unsupported source {name}: stream URLs start with {', '.join(s + '://' for s in sorted(STREAM_SCHEMES))}"
        )
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open stream {name}: unreachable, wrong URL, or a format OpenCV/FFmpeg cannot read")
    return CaptureSource(capture, kind="stream", name=name, path=name, live=live, queue_size=queue_size)


def _open_path(path: Path, *, live: bool, queue_size: int) -> FrameSource:
    if not path.exists():
        raise SourceError(f"no such file: {path}")
    if path.is_dir():
        return _open_folder(path, live=live, queue_size=queue_size)
    if not os.access(path, os.R_OK):
        raise SourceError(f"cannot read {path}: permission denied")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSource([path], kind="image", name=str(path), live=live, queue_size=queue_size)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot decode video {path}: not a video OpenCV/FFmpeg can read")
    return CaptureSource(capture, kind="video", name=str(path), path=str(path), live=live, queue_size=queue_size)


def _open_folder(folder: Path, *, live: bool, queue_size: int) -> FrameSource:
    try:
        entries = sorted(folder.iterdir(), key=lambda p: _natural_key(p.name))
    except PermissionError:
        raise SourceError(f"cannot read folder {folder}: permission denied") from None
    images = []
    for entry in entries:
        if entry.name.startswith(".") or entry.is_dir():
            continue  # hidden files (.DS_Store) and subfolders are not frames
        if entry.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(entry)
        else:
            log.warning("skipped %s: not an image file", entry)
    if not images:
        raise SourceError(f"no images in folder {folder}: expected .jpg, .png, .bmp, .tif or .webp files")
    return ImageSource(images, kind="folder", name=str(folder), live=live, queue_size=queue_size)


def _natural_key(name: str) -> tuple[Any, ...]:
    # "frame2.png" < "frame10.png"; split() alternates text and digits, so the parts always compare like with like
    parts = re.split(r"(\d+)", name.lower())
    return (*[int(p) if i % 2 else p for i, p in enumerate(parts)], name)


def redact_url(url: str) -> str:
    """``url`` without its password (``rtsp://user:***@host/...``), for messages and metadata."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _undecodable_message(kind: str, name: str, camera: int | None) -> str:
    if kind == "camera":
        return f"cannot read camera {camera}: it opened but gave no frame; is another program using it?"
    if kind == "stream":
        return f"cannot decode stream {name}: it opened but gave no frame within {STREAM_TIMEOUT_MS / 1000:.0f} s"
    return f"cannot decode video {name}: not a video OpenCV/FFmpeg can read (it opened but no frame decodes)"
