"""``ImageSink``: annotated still images, one file for an image, or one file per image of a folder.

    from affectlens.io import ImageSink

    with ImageSink("group_annotated.jpg") as sink:       # an image source: one picture
        sink.write(result)                               # result.frame.image, with the overlay drawn on it
    with ImageSink("annotated/", folder=True) as sink:   # a folder source: annotated/<file> per input image
        for result in results:
            sink.write(result)

Each picture is encoded in memory, written under a temporary name beside its final path and renamed into place
(:class:`~affectlens.io.file_sink.OutputFile`), so an existing file is only ever replaced by a complete one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from affectlens import interrupts
from affectlens.core import FrameResult
from affectlens.io.errors import SinkError
from affectlens.io.file_sink import OutputFile, sink_error

IMAGE_OUTPUT_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff")
"""Extensions an annotated image can be written as (what this OpenCV encodes from a BGR image)."""

FALLBACK_EXTENSION = ".png"
"""In folder mode, an input whose format cannot be written (e.g. ``.jp2``, ``.pgm``) is written as PNG."""

_QUALITY = {".jpg": cv2.IMWRITE_JPEG_QUALITY, ".jpeg": cv2.IMWRITE_JPEG_QUALITY, ".jpe": cv2.IMWRITE_JPEG_QUALITY}


def is_image_path(path: str | Path) -> bool:
    """Whether ``path`` names an image file that :class:`ImageSink` can write (by its extension)."""
    return Path(path).suffix.lower() in IMAGE_OUTPUT_EXTENSIONS


class ImageSink:
    """Writes the annotated frame of each result as a still image.

    Args:
        path: the image file to write (``.jpg``, ``.png``, ``.webp``, ``.bmp``, ``.tif``), or with ``folder`` the
            directory to write into (created if missing, with its parents).
        folder: one image per result, at ``path / frame.source["file"]`` (the input's path relative to its folder,
            so subfolders are kept), in the input's format when it can be written, else PNG.
        inputs: files and folders the run reads: an output that is one of them is refused (never overwritten).
        quality: JPEG and WebP quality in [1, 100].

    Raises:
        SinkError: the extension is not an image format, or the directory is missing, not writable or a file.

    Attributes:
        frames_written: images written so far. ``kept``: after :meth:`close`, whether anything was written.
        written: the paths written, in order.
    """

    def __init__(
        self, path: str | Path, *, folder: bool = False, inputs: tuple[str | Path, ...] = (), quality: int = 92
    ) -> None:
        self.path = Path(path)
        self.folder = folder
        self.quality = int(quality)
        self._inputs = [os.path.realpath(p) for p in inputs]
        self.frames_written = 0
        self.kept = False
        self.closed = False
        self.written: list[Path] = []
        if folder:
            if self.path.exists() and not self.path.is_dir():
                raise SinkError(f"cannot write images into {self.path}: it is a file, not a folder")
            if os.path.realpath(self.path) in self._inputs:
                raise SinkError(
                    f"--output {self.path} is the input folder: its images would be overwritten; give another folder"
                )
            out = os.path.realpath(self.path)
            inside = [p for p in self._inputs if p != out and os.path.commonpath([p, out]) == out]
            if any(is_image_path(p) for p in inside):  # before any work, not at the first clash
                example = next(p for p in inside if is_image_path(p))
                raise SinkError(
                    f"--output {self.path} holds input images (e.g. {example}) that annotated ones could replace; "
                    "give a folder outside the input"
                )
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise sink_error(self.path / "x", exc) from None
            if not os.access(self.path, os.W_OK):
                raise SinkError(f"cannot write images into {self.path}: permission denied")
            self._pending: OutputFile | None = None
        else:
            if not is_image_path(self.path):
                known = ", ".join(IMAGE_OUTPUT_EXTENSIONS)
                what = self.path.suffix or "no extension"
                raise SinkError(f"cannot write {self.path}: {what} is not an image format we can write ({known})")
            self._pending = OutputFile(self.path)  # checks the directory now, before any work

    def target(self, result: FrameResult) -> Path:
        """Where the image of ``result`` goes: :attr:`path`, or in folder mode the input's relative path under it."""
        if not self.folder:
            return self.path
        source = result.frame.source
        name = source.get("file") or Path(str(source.get("path") or f"frame_{result.frame.index:06d}.png")).name
        relative = PurePosixPath(str(name))
        if relative.is_absolute() or ".." in relative.parts:
            relative = PurePosixPath(relative.name)
        out = self.path.joinpath(*relative.parts)
        if out.suffix.lower() not in IMAGE_OUTPUT_EXTENSIONS:
            out = out.with_name(out.name + FALLBACK_EXTENSION) if out.suffix == "" else out.with_suffix(".png")
        return out

    def write(self, result: FrameResult | np.ndarray) -> None:
        """Encode and write ``result.frame.image`` (or a (H, W, 3) uint8 BGR array, single-file mode only).

        Raises:
            SinkError: a second image for a single file (the source is not a still image), an output that is an
                input, an encoding or disk failure; the message names the file.
        """
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        if isinstance(result, np.ndarray):
            if self.folder:
                raise SinkError("an ImageSink writing a folder needs FrameResults (their input file names)")
            image, target = result, self.path
        else:
            image, target = result.frame.image, self.target(result)
        if not self.folder and self.frames_written:
            raise SinkError(
                f"cannot write {self.path}: it holds one picture and the source has more than one frame; "
                "write a video (.mp4, .avi) or give a folder of images"
            )
        if os.path.realpath(target) in self._inputs:
            raise SinkError(f"cannot write {target}: it is an input image and would be overwritten; use another folder")
        data = self._encode(image, target)
        with interrupts.deferred():  # an image is written whole or not at all
            output = self._pending if self._pending is not None else self._open(target)
            self._pending = None
            try:
                with open(output.fd, "wb", closefd=True) as file:
                    file.write(data)
            except OSError as exc:
                output.discard()
                raise sink_error(target, exc) from None
            output.commit()
        self.frames_written += 1
        self.written.append(target)
        self.kept = True

    def _open(self, target: Path) -> OutputFile:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise sink_error(target, exc) from None
        return OutputFile(target)

    def _encode(self, image: np.ndarray, target: Path) -> bytes:
        suffix = target.suffix.lower()
        params: list[int] = []
        if suffix in _QUALITY:
            params = [_QUALITY[suffix], self.quality]
        elif suffix == ".webp":
            params = [cv2.IMWRITE_WEBP_QUALITY, self.quality]
        try:
            ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image), params)
        except cv2.error:
            ok = False
        if not ok:
            raise SinkError(f"cannot write {target}: OpenCV cannot encode {suffix} images here; try .png or .jpg")
        return encoded.tobytes()

    def close(self) -> None:
        """Remove the reserved temporary file of a single image that was never written. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._pending is not None:
            with contextlib.suppress(OSError):
                os.close(self._pending.fd)
            self._pending.discard()
            self._pending = None

    def __enter__(self) -> ImageSink:
        return self

    def __exit__(self, *exc: object) -> None:
        with interrupts.deferred():
            self.close()

    def __repr__(self) -> str:
        return f"ImageSink({str(self.path)!r}{', folder=True' if self.folder else ''})"
