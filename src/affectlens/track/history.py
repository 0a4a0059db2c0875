"""Recent engagement, valence and arousal of each tracked face, for sparklines and trails.

A :class:`TrackHistory` is fed one :class:`~affectlens.core.FrameResult` per frame and keeps, per ``track_id``, a
fixed-size ring buffer (:class:`~affectlens.track.state.TimeRing`) covering the last ``window_ms`` of stream time
(``result.frame.timestamp_ms``). Samples are kept at most one per ``resolution_ms`` (the newest value of each slot
wins), so memory and drawing cost do not grow with the frame rate: 10 s at 100 ms is 101 slots per track whether
the source runs at 25 or 200 fps (a 10-second sparkline ~100 px wide has about one slot per pixel column). The
drawing side lives in :mod:`affectlens.render` (sparklines, the valence-arousal plane's trails).

>>> history = TrackHistory(window_ms=10_000)
>>> history.update(result)  # doctest: +SKIP
>>> history.series(3).valence  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain

import numpy as np

from affectlens.core import ENGAGEMENT, FrameResult
from affectlens.track.state import TimeRing, TrackStates

_COLUMNS = 4  # timestamp_ms, engagement, valence, arousal


@dataclass(frozen=True)
class TrackSeries:
    """The recent samples of one track, oldest first; all arrays have the same length T.

    Attributes:
        timestamp_ms: (T,) float64 stream time of each sample, in ms, increasing.
        engagement: (T,) float64 clipped to [0, 1]; NaN where the frame had no engagement.
        valence: (T,) float64 clipped to [-1, 1]; NaN where the face was not classified.
        arousal: (T,) float64 clipped to [-1, 1]; NaN where the face was not classified.
    """

    timestamp_ms: np.ndarray
    engagement: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamp_ms.shape[0])

    @classmethod
    def empty(cls) -> TrackSeries:
        """A series with no samples (T = 0)."""
        return cls._from_rows(np.zeros((0, _COLUMNS)))

    @classmethod
    def _from_rows(cls, rows: np.ndarray) -> TrackSeries:
        return cls(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])


class TrackHistory:
    """Per-track ring buffers of engagement, valence and arousal over the last ``window_ms`` of stream time.

    Feed it with :meth:`update` once per frame (feeding the same frame again is a no-op, so several annotators
    can share one history and each call ``update``); read it with :meth:`series`. Faces with ``track_id`` -1 are
    ignored. A track not seen for ``forget_ms`` is dropped; a scene cut (``result.scene_cut``: the tracks of the
    old shot have ended) or a timestamp earlier than the last one (a source that restarted or looped) clears
    everything.

    Args:
        window_ms: how much stream time each track keeps, in ms.
        resolution_ms: at most one sample per this many ms; sets the ring size ``ceil(window / resolution) + 1``.
        forget_ms: drop a track after this many ms without a face carrying its id.

    Attributes:
        capacity: number of slots of each track's ring.
        now_ms: timestamp of the last frame fed, in ms (None before the first).
    """

    def __init__(self, window_ms: float = 10_000.0, resolution_ms: float = 100.0, forget_ms: float = 3_000.0) -> None:
        if not (window_ms > 0 and resolution_ms > 0 and forget_ms >= 0):
            raise ValueError(
                f"TrackHistory needs window_ms > 0, resolution_ms > 0 and forget_ms >= 0, "
                f"got {window_ms}, {resolution_ms}, {forget_ms}"
            )
        self.window_ms = float(window_ms)
        self.resolution_ms = float(resolution_ms)
        self.forget_ms = float(forget_ms)
        self.capacity = math.ceil(self.window_ms / self.resolution_ms) + 1
        self.now_ms: float | None = None
        capacity, resolution_ms = self.capacity, self.resolution_ms
        # each track: (timestamp_ms, (engagement, valence, arousal)) samples
        self._tracks: TrackStates[TimeRing[tuple[float, float, float]]] = TrackStates(
            lambda: TimeRing(capacity, resolution_ms, newest_wins=True), self.forget_ms
        )
        self._last_frame: tuple[int, float] | None = None

    def __len__(self) -> int:
        return len(self._tracks)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._tracks

    @property
    def track_ids(self) -> list[int]:
        """Ids of the tracks currently kept, in order of first appearance."""
        return self._tracks.ids

    def clear(self) -> None:
        """Forget every track."""
        self._tracks.reset()
        self.now_ms = None
        self._last_frame = None

    def update(self, result: FrameResult) -> None:
        """Record the tracked faces of ``result`` at ``result.frame.timestamp_ms`` and drop stale tracks.

        A frame with the same index and timestamp as the last one fed is ignored. Non-finite timestamps are ignored.
        """
        frame = result.frame
        timestamp_ms = float(frame.timestamp_ms)
        key = (int(frame.index), timestamp_ms)
        if key == self._last_frame or not math.isfinite(timestamp_ms):
            return
        # going back in time clears everything too: old samples would draw as the future
        self._tracks.advance(timestamp_ms, scene_cut=result.scene_cut)
        self._last_frame = key
        self.now_ms = timestamp_ms
        faces = result.faces
        tracked = np.flatnonzero(faces.track_id >= 0)
        if len(tracked):
            track_ids = faces.track_id[tracked].tolist()
            valence_arousal = faces.valence_arousal[tracked].tolist()
            column = faces.data.get(ENGAGEMENT)
            engagement = [math.nan] * len(tracked) if column is None else _floats(column[tracked])
            tracks = self._tracks
            for track_id, e, (v, a) in zip(track_ids, engagement, valence_arousal, strict=True):
                # Clipped once here so that drawing needs no clipping; NaN (unknown) passes through min/max unchanged.
                sample = (min(max(e, 0.0), 1.0), min(max(v, -1.0), 1.0), min(max(a, -1.0), 1.0))
                tracks.get(track_id, timestamp_ms).append(timestamp_ms, sample)

    def series(self, track_id: int, window_ms: float | None = None) -> TrackSeries:
        """The samples of ``track_id`` within the last ``window_ms`` (default: the whole window), oldest first.

        An unknown track gives :meth:`TrackSeries.empty`, never None.
        """
        ring = self._tracks.peek(int(track_id))
        if ring is None or not len(ring) or self.now_ms is None:
            return TrackSeries.empty()
        times = np.fromiter(ring.times(), np.float64, count=len(ring))
        span = self.window_ms if window_ms is None else min(float(window_ms), self.window_ms)
        start = int(np.searchsorted(times, self.now_ms - span, side="left"))
        samples = ring.values()[start:]  # (engagement, valence, arousal) tuples; fromiter: ~2x faster than asarray
        values = np.fromiter(chain.from_iterable(samples), np.float64, count=3 * len(samples)).reshape(-1, 3)
        return TrackSeries(times[start:], values[:, 0], values[:, 1], values[:, 2])


def _floats(values: np.ndarray) -> list[float]:
    """``values`` as Python floats; anything non-numeric becomes NaN."""
    try:
        return np.asarray(values, np.float64).reshape(len(values), -1)[:, 0].tolist()
    except (TypeError, ValueError):
        return [math.nan] * len(values)
