"""``ImageSource``: one image file or a folder of images; ``read_image`` and ``as_bgr`` for single pictures."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from affectlens.core import Frame
from affectlens.io.errors import SourceError
from affectlens.io.frame_source import CAPTURED, FrameSource

log = logging.getLogger(__name__)


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file into (H, W, 3) uint8 BGR.

    Any bit depth (16-bit PNG), channel count (gray, alpha) or colour model (CMYK JPEG) becomes 8-bit BGR, and EXIF
    orientation is applied. Works with non-ASCII paths on every OS.

    Raises:
        SourceError: one line naming the file: missing, unreadable, empty, or not an image OpenCV can decode.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise SourceError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise SourceError(f"cannot read image {path}: it is a folder") from None
    except OSError as error:
        raise SourceError(f"cannot read image {path}: {error.strerror or error}") from None
    if data.size == 0:
        raise SourceError(f"cannot read image {path}: the file is empty (0 bytes)")
    image = decode_image(data)
    if image is None:
        raise SourceError(f"cannot read image {path}: not an image OpenCV can decode (corrupt, or another format)")
    return image


def decode_image(data: bytes | np.ndarray) -> np.ndarray | None:
    """Encoded image bytes (JPEG, PNG, WebP...) -> (H, W, 3) uint8 BGR (as :func:`read_image` decodes a file), or
    None when no codec decodes them (corrupt, truncated, another format)."""
    buffer = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        return cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error:  # a corrupt header can trip an assertion inside a codec
        return None


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A uint8 picture as (H, W, 3) BGR: (H, W, 3) is returned as is, (H, W) and (H, W, 1) gray and (H, W, 4) BGRA
    are converted.

    Raises:
        ValueError: for any other shape or dtype, saying what is accepted.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected an image array or a file path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype} (scale it to 0-255 and convert)")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an (H, W, 3) BGR, (H, W) gray or (H, W, 4) BGRA image, got shape {image.shape}")


class ImageSource(FrameSource):
    """One image file, or the images of a folder in the order :func:`affectlens.io.open_source` listed them.

    Images are decoded with :func:`read_image`. A file that fails to decode is skipped with a warning (and counted
    in ``skipped``); frame indices count the decoded images, without gaps, and each frame's ``source["file"]`` names
    its file: the path relative to the folder (``/`` separators), or the file name of a single image. Stills have no
    time: ``timestamp_ms`` is 0 for every image, and ``fps`` is None.
    """

    def __init__(
        self, paths: list[Path], *, kind: str, name: str, live: bool, queue_size: int, root: Path | None = None
    ) -> None:
        self._paths = paths
        self._root = root
        self._position = 0
        self._index = 0
        self.skipped = 0
        first = self._decode_next()
        if first is None:
            where = f"folder {name}" if kind == "folder" else name
            raise SourceError(f"cannot read image {where}: no file in it is an image OpenCV can decode")
        _, image, _ = first
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
        self._pending: tuple[Path, np.ndarray, int] | None = first

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every file this source reads, in order (decodable or not): what an output must never overwrite."""
        return tuple(self._paths)

    def _decode_next(self) -> tuple[Path, np.ndarray, int] | None:
        """The next decodable image: its path, pixels and ``time.perf_counter_ns()`` once decoded; None at the end."""
        while self._position < len(self._paths):
            path = self._paths[self._position]
            self._position += 1
            try:
                image = read_image(path)
                return path, image, time.perf_counter_ns()
            except SourceError as error:
                if len(self._paths) == 1:
                    raise
                self.skipped += 1
                log.warning("skipped %s", str(error).removeprefix("cannot read image "))
        return None

    def _next_frame(self) -> Frame | None:
        decoded: tuple[Path, np.ndarray, int] | None
        if self._pending is not None:
            decoded, self._pending = self._pending, None
        else:
            decoded = self._decode_next()
        if decoded is None:
            return None
        path, image, captured_ns = decoded
        source = dict(self._meta)
        source[CAPTURED] = captured_ns
        source["path"] = str(path)
        source["file"] = path.relative_to(self._root).as_posix() if self._root is not None else path.name
        index, self._index = self._index, self._index + 1
        return Frame(image=image, index=index, timestamp_ms=0.0, source=source)
