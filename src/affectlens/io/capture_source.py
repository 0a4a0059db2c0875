"""``CaptureSource``: video files, cameras and stream URLs through OpenCV/FFmpeg."""

from __future__ import annotations

import logging
import math
import time
from collections import deque

import cv2
import numpy as np

from affectlens.core import Frame
from affectlens.io.errors import SourceError
from affectlens.io.frame_source import CAPTURED, STREAM_TIMEOUT_MS, FrameSource

log = logging.getLogger(__name__)

#: Frame duration assumed, in ms, when neither the container's timestamps nor its frame rate say (25 fps).
FALLBACK_FRAME_MS = 40.0


class CaptureSource(FrameSource):
    """Video file, camera or stream, decoded with ``cv2.VideoCapture.read()``.

    Timestamps (``Frame.timestamp_ms``):

    - files, and streams read in file mode (say a video over HTTP): the container's presentation time of each
      frame (FFmpeg's ``CAP_PROP_POS_MSEC`` after the read), relative to the first frame, so a variable-frame-rate
      video (phones, screen recordings) gets its true times. Where the container gives no usable time (0, missing,
      or not after the previous frame's, as for the last frame of some AVIs), the frame is placed one nominal frame
      duration (``1000 / fps``, or 40 ms when fps is unknown) after the previous one.
    - cameras, and streams in live mode: monotonic wall-clock ms since the source was opened, when the frame was read.
      In live mode the frame decoded when the source opened (a check that it delivers) is not served: it is as old as
      whatever ran between opening and reading (loading models...); the first frame served is read when reading
      starts.

    A file in live mode is played back in real time at its own timestamps, like a camera: the reader paces itself
    and the consumer gets the newest frame, dropping what it cannot keep up with.

    Rotation stored as metadata (phone videos) is applied (``CAP_PROP_ORIENTATION_AUTO``), so ``size`` and every
    frame are upright. A file or file-mode stream that decodes to a single frame (a one-frame GIF or video) is a
    still image: ``kind == "image"``, ``fps`` None, analysed like a photo.
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
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # upright frames for rotation metadata (off by default here)
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        fps_known = 0.0 < fps <= 1000.0
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if kind != "camera" else 0
        self._wall_clock = kind == "camera" or (kind == "stream" and live)  # else media time
        self._t0 = time.monotonic()
        self._first_pos_ms: float | None = None
        self._last_ms = 0.0
        self._nominal_ms = 1000.0 / fps if fps_known else FALLBACK_FRAME_MS
        self._estimated = 0  # frames whose time the container did not give
        self._pending: deque[tuple[np.ndarray, float, int]] = deque()  # image, timestamp ms, captured_ns
        if not self._read_pending():  # decode one frame now: a file that opens but cannot decode fails here
            capture.release()
            raise SourceError(_undecodable_message(kind, name, camera))
        if not self._wall_clock and not self._read_pending():  # one frame only: a still image, not a video
            kind, fps_known, frame_count = "image", False, 1
        size = self._pending[0][0].shape[1::-1]
        super().__init__(
            kind=kind,
            name=name,
            path=path,
            live=live,
            queue_size=queue_size,
            fps=fps if fps_known else None,
            frame_count=frame_count if frame_count > 0 else None,
            size=(int(size[0]), int(size[1])),
            extra={"camera": camera} if camera is not None else None,
        )
        self._index = 0
        self._pace_t0: float | None = None

    def _read_pending(self) -> bool:
        """Decode the next frame into ``_pending`` with its timestamp and capture time; False at the end."""
        ok, image = self._capture.read()  # a fresh array per call: frames in the queue never alias
        if not ok or image is None:
            return False
        self._pending.append((image, self._timestamp_ms(), time.perf_counter_ns()))
        return True

    def _timestamp_ms(self) -> float:
        """Timestamp of the frame just read, in ms (see the class docstring)."""
        if self._wall_clock:
            return (time.monotonic() - self._t0) * 1e3
        position = float(self._capture.get(cv2.CAP_PROP_POS_MSEC))
        if self._first_pos_ms is None:  # the first frame is time 0 (some containers start at -17 ms or +42 ms)
            self._first_pos_ms = position if math.isfinite(position) else 0.0
            return 0.0
        timestamp = position - self._first_pos_ms
        if not math.isfinite(timestamp) or timestamp <= self._last_ms:  # missing or garbage: one frame later
            timestamp = self._last_ms + self._nominal_ms
            self._estimated += 1
        self._last_ms = timestamp
        return timestamp

    def _next_frame(self) -> Frame | None:
        if self._index == 0 and self._live and self._wall_clock and self._pending and self._read_pending():
            self._pending.popleft()  # decoded when the source opened, as old as the start-up: serve a current frame
        if not self._pending and not self._read_pending():
            return None
        image, timestamp_ms, captured_ns = self._pending.popleft()
        index = self._index
        if self._kind == "video" and self._live:  # real-time playback of a file, at its own timestamps
            now = time.monotonic()
            if self._pace_t0 is None:
                self._pace_t0 = now
            delay = self._pace_t0 + timestamp_ms / 1e3 - now
            if delay > 0 and self._stop.wait(delay):
                return None
            captured_ns = time.perf_counter_ns()  # played back: the frame is "captured" when it is due
        self._index = index + 1
        return Frame(image=image, index=index, timestamp_ms=timestamp_ms, source={**self._meta, CAPTURED: captured_ns})

    def _at_end(self) -> None:
        decoded = self._index
        if self._estimated > 1:  # one is common (the last frame of an AVI); more means the container lacks times
            log.info("%s: %d of %d frame times estimated (none in the container)", self._name, self._estimated, decoded)
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
