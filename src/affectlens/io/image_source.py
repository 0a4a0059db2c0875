"""``ImageSource``: one image file or a folder of images, in natural name order."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from affectlens.core import Frame
from affectlens.io.errors import SourceError
from affectlens.io.frame_source import FrameSource

log = logging.getLogger(__name__)


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
