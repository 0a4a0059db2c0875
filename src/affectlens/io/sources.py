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
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2

from affectlens.io.capture_source import CaptureSource
from affectlens.io.errors import SourceError
from affectlens.io.frame_source import IMAGE_EXTENSIONS, STREAM_SCHEMES, STREAM_TIMEOUT_MS, FrameSource
from affectlens.io.image_source import ImageSource

log = logging.getLogger(__name__)

__all__ = ["CaptureSource", "FrameSource", "ImageSource", "open_source", "redact_url"]


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
