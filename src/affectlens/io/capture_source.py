"""``CaptureSource``: video files, cameras and stream URLs through OpenCV/FFmpeg."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from affectlens.core import Frame
from affectlens.io.errors import SourceError
from affectlens.io.frame_source import STREAM_TIMEOUT_MS, FrameSource

log = logging.getLogger(__name__)


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


def _undecodable_message(kind: str, name: str, camera: int | None) -> str:
    if kind == "camera":
        return f"cannot read camera {camera}: it opened but gave no frame; is another program using it?"
    if kind == "stream":
        return f"cannot decode stream {name}: it opened but gave no frame within {STREAM_TIMEOUT_MS / 1000:.0f} s"
    return f"cannot decode video {name}: not a video OpenCV/FFmpeg can read (it opened but no frame decodes)"
