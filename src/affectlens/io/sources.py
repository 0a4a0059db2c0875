"""Frame sources: video files, cameras, stream URLs, single images and folders of images.

    from affectlens.io import open_source

    with open_source("video.mp4") as source:      # or 0 (camera), "rtsp://...", "photo.jpg", "frames/"
        print(source.kind, source.mode, source.fps, source.frame_count, source.size)
        for frame in source:                       # affectlens.core.Frame, BGR uint8 (H, W, 3)
            ...
    if source.stopped_early:
        print(source.error)                        # e.g. "decoding stopped at frame 95 of 98 (header): ..."

A reader thread decodes ahead into a bounded queue, so decoding overlaps with analysis. Two modes: in file mode
(files, images, folders, and http(s) URLs of files) every frame is delivered, with the container's timestamps,
and the reader waits for the consumer; in live mode (cameras, rtsp/rtmp/udp/... streams, and http(s) streams of
unknown length) the reader never waits and keeps only the newest frame, so what the consumer gets stays current.
A source opens (and decodes its first frame) when it is created, so a bad spec fails before any work or output,
and it is read once: iterating runs it to its end or until ``close()``/``break``, after which the reader thread
is gone.

Folders: their images are read in natural order of their path relative to the folder (``2.png`` before
``10.png``; other characters by code point, so ``B.png`` before ``a.png``, the same on every OS and locale);
subfolders are read only with ``recursive=True`` (each folder's files sorted with their path, so a subfolder's
images come together), else they are skipped with a warning that counts them. Hidden files and folders (``.x``)
are ignored; other files that are not images are skipped with one warning.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2

from affectlens.io.capture_source import CaptureSource
from affectlens.io.errors import SourceError
from affectlens.io.frame_source import (
    FILE_SCHEMES,
    IMAGE_EXTENSIONS,
    MODES,
    STREAM_SCHEMES,
    STREAM_TIMEOUT_MS,
    FrameSource,
)
from affectlens.io.image_source import ImageSource

log = logging.getLogger(__name__)

__all__ = ["CaptureSource", "FrameSource", "ImageSource", "list_images", "open_source", "redact_url"]

#: Names of skipped files that one warning lists before it says "and N more".
_LISTED_SKIPS = 5


def open_source(
    spec: str | Path | int, *, mode: str | None = None, recursive: bool = False, queue_size: int = 8
) -> FrameSource:
    """Open a video file, camera, stream URL, image or folder of images as a :class:`FrameSource`.

    Args:
        spec: a camera index (``int``, or a string of digits that is not an existing file), a stream URL
            (``rtsp://``, ``http(s)://``, ``udp://``, ...), a folder (see the module docstring for the order), an
            image file (by extension), or any video file OpenCV/FFmpeg decodes (a one-frame video or GIF is opened as
            a still image).
        mode: ``"file"``: deliver every frame, timestamped with the container's presentation times, waiting for a
            slow consumer; ``"live"``: keep only the newest frame and drop what the consumer cannot keep up with,
            timestamped with the wall clock (a video file in live mode is played back in real time, like a camera).
            Default (None): live for cameras and rtsp/rtmp/udp/... streams, and for http(s) streams of unknown
            length; file for files and http(s) URLs of files. Images and folders are always read in file mode.
        recursive: for a folder, also read the images of its subfolders (at any depth).
        queue_size: frames decoded ahead of the consumer in file mode (>= 1); memory is ``queue_size * H * W * 3``
            bytes. Live mode keeps one.

    Returns:
        The opened source; its first frame is already decoded, so ``size`` is exact.

    Raises:
        SourceError: one line saying what is wrong and what to try (missing file, undecodable video, camera that
            cannot be opened, folder without images, unsupported spec).
        ValueError: ``mode`` is not None, "file" or "live".
    """
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (or None for the default), got {mode!r}")
    live = None if mode is None else mode == "live"
    if isinstance(spec, bool) or not isinstance(spec, (str, Path, int)):
        raise SourceError(f"unsupported source {spec!r}: give a video file, image, folder, camera index or stream URL")
    if isinstance(spec, str) and not spec.strip():
        raise SourceError("unsupported source '': give a video file, image, folder, camera index or stream URL")
    if isinstance(spec, str) and "://" in spec and spec.split("://", 1)[0].lower() != "file":
        return _open_url(spec, live=live, queue_size=queue_size)
    if isinstance(spec, str) and spec.strip().isdigit() and not Path(spec).exists():
        spec = int(spec.strip())
    if isinstance(spec, int):
        return _open_camera(spec, live=True if live is None else live, queue_size=queue_size)
    path = Path(urlsplit(spec).path) if isinstance(spec, str) and "://" in spec else Path(spec)
    return _open_path(path, live=live, recursive=recursive, queue_size=queue_size)


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


def _open_url(url: str, *, live: bool | None, queue_size: int) -> FrameSource:
    scheme = url.split("://", 1)[0].lower()
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
    if live is None:  # an http(s) file has a length (FFmpeg reads it from the container); a live stream has none
        live = not (scheme in FILE_SCHEMES and capture.get(cv2.CAP_PROP_FRAME_COUNT) > 0)
    return CaptureSource(capture, kind="stream", name=name, path=name, live=live, queue_size=queue_size)


def _open_path(path: Path, *, live: bool | None, recursive: bool, queue_size: int) -> FrameSource:
    if not path.exists():
        raise SourceError(f"no such file: {path}")
    if recursive and not path.is_dir():
        raise SourceError(f"--recursive reads the subfolders of a folder, but {path} is a file")
    if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
        if live:
            raise SourceError(f"--mode live needs a video, camera or stream; {path} is read as images")
        if path.is_dir():
            images = list_images(path, recursive=recursive)
            return ImageSource(images, kind="folder", name=str(path), live=False, queue_size=queue_size, root=path)
    if not os.access(path, os.R_OK):
        raise SourceError(f"cannot read {path}: permission denied")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSource([path], kind="image", name=str(path), live=False, queue_size=queue_size)
    if path.stat().st_size == 0:
        raise SourceError(f"cannot decode video {path}: the file is empty (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot decode video {path}: not a video OpenCV/FFmpeg can read")
    return CaptureSource(capture, kind="video", name=str(path), path=str(path), live=bool(live), queue_size=queue_size)


def list_images(folder: Path, *, recursive: bool = False) -> list[Path]:
    """The image files of ``folder`` in natural order of their relative path (see the module docstring).

    Skipped, with a warning: files that are not images (one warning naming the first few), and subfolders when
    ``recursive`` is False (one warning counting them). Hidden files and folders are ignored silently.

    Raises:
        SourceError: the folder cannot be listed, or holds no image.
    """
    images: list[Path] = []
    others: list[Path] = []
    subfolders: list[Path] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = list(current.iterdir())
        except PermissionError:
            raise SourceError(f"cannot read folder {current}: permission denied") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue  # .DS_Store, .git, .ipynb_checkpoints: never frames
            if entry.is_dir():
                if recursive and not entry.is_symlink():  # a linked folder could loop back: not followed
                    pending.append(entry)
                else:
                    subfolders.append(entry)
            elif entry.suffix.lower() in IMAGE_EXTENSIONS:
                images.append(entry)
            else:
                others.append(entry)
    if others:
        names = sorted(p.relative_to(folder).as_posix() for p in others)
        more = f" and {len(names) - _LISTED_SKIPS} more" if len(names) > _LISTED_SKIPS else ""
        listed = ", ".join(names[:_LISTED_SKIPS])
        log.warning("skipped %d files of %s that are not images: %s%s", len(names), folder, listed, more)
    if subfolders:
        what = "linked subfolders (not followed)" if recursive else "subfolders (--recursive reads them)"
        log.warning("skipped %d %s of %s", len(subfolders), what, folder)
    if not images:
        where = " or its subfolders" if recursive else ""
        raise SourceError(
            f"no images in folder {folder}{where}: expected .jpg, .png, .bmp, .tif or .webp files"
            + ("" if recursive or not subfolders else "; its subfolders are read with --recursive")
        )
    return sorted(images, key=lambda p: _natural_key(p.relative_to(folder)))


def _natural_key(relative: Path) -> tuple[Any, ...]:
    """Sort key of a relative path, component by component: characters by code point, except that a run of digits
    is one number ("frame2" < "frame10", "a.png" < "a1.png"); ties ("1" vs "01") fall back to the plain text."""
    return tuple((_natural_tokens(part), part) for part in relative.parts)


def _natural_tokens(text: str) -> tuple[tuple[int, int], ...]:
    # a digit run sorts where its first digit would ("0" = 48), and against another run by value
    return tuple(
        token
        for i, piece in enumerate(re.split(r"(\d+)", text))
        for token in (((48, int(piece)),) if i % 2 else ((ord(c), 0) for c in piece))
    )


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
