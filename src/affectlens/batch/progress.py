"""The batch's progress: one bar over videos, one over decoded frames (with the ETA), on standard error."""

from __future__ import annotations

from typing import Any


class BatchProgress:
    """Two tqdm bars (``enabled=False``: silent). ``frames(n)`` as workers report frames, ``video(row)`` as videos
    end; ``note(text)`` prints a line above the bars.

    Args:
        videos: videos to analyse in this run.
        frames: their decoded frames according to the headers (None: unknown, no ETA).
    """

    def __init__(self, videos: int, frames: int | None, enabled: bool = True) -> None:
        self.enabled = enabled
        self._videos: Any = None
        self._frames: Any = None
        if enabled:
            from tqdm import tqdm

            self._videos = tqdm(total=videos, unit="video", desc="videos", position=0, dynamic_ncols=True)
            self._frames = tqdm(
                total=frames or None, unit="frame", desc="frames", position=1, dynamic_ncols=True, smoothing=0.1
            )

    def frames(self, count: int) -> None:
        if self._frames is not None and count > 0:
            self._frames.update(count)

    def video(self, row: dict[str, Any]) -> None:
        if self._videos is None:
            return
        self._videos.update(1)
        if row.get("status") == "failed":
            self.note(f"failed: {row['id']}: {row.get('error')}")

    def note(self, text: str) -> None:
        if self._videos is not None:
            from tqdm import tqdm

            tqdm.write(text)

    def close(self) -> None:
        for bar in (self._frames, self._videos):
            if bar is not None:
                bar.close()
        self._videos = self._frames = None


def header_frames(headers: dict[str, tuple[int, int]]) -> int | None:
    """The sum of the frame counts of :func:`video_headers`, for the ETA (None: a URL among them, or no count
    known)."""
    if any("://" in path for path in headers):
        return None
    return sum(frames for frames, _ in headers.values()) or None


def video_headers(paths: list[str]) -> dict[str, tuple[int, int]]:
    """``path -> (frames, pixels per frame)`` from the headers of local video files; (0, 0) for a URL or a file that
    cannot be opened (it will fail at once). Opening a header costs a few ms."""
    import cv2

    headers: dict[str, tuple[int, int]] = {}
    for path in paths:
        if "://" in path:
            headers[path] = (0, 0)
            continue
        capture = cv2.VideoCapture(path)
        try:
            if not capture.isOpened():
                headers[path] = (0, 0)
                continue
            frames = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            pixels = max(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) * capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), 0)
        finally:
            capture.release()
        headers[path] = (frames, pixels)
    return headers


def longest_first(videos: list[Any], headers: dict[str, tuple[int, int]]) -> list[Any]:
    """``videos`` (objects with a ``path``) ordered by expected work, the largest first (frames x pixels from their
    ``headers``, see :func:`video_headers`; unknown ones last, in their order).

    A batch hands videos to workers in this order (longest-processing-time-first scheduling), so that a long video
    does not start last and keep one worker busy while the others idle.
    """
    return sorted(videos, key=lambda video: -headers[video.path][0] * headers[video.path][1])
