"""Per-track state in stream time: one helper for every stage that remembers something per track id.

    from affectlens.track.state import TimeRing, TrackStates

    windows = TrackStates(lambda: TimeRing(size=16, sample_ms=1000 / 15), forget_ms=2000)
    windows.advance(frame.timestamp_ms, scene_cut=result.scene_cut)  # once per frame, before get/observe
    ring = windows.get(track_id, frame.timestamp_ms)                 # created by the factory when new
    ring.append(frame.timestamp_ms, crop)                            # 16 crops 66.7 ms apart, at 15 or 60 fps

:class:`TrackStates` keeps one state object per track id, created by a factory, with the same rules for every
stage that uses it (the emotion smoother, engagement, the plot history, per-person posture smoothing, the 16-frame
windows of a clip model):

- **forget**: a track not observed for more than ``forget_ms`` is dropped at the next :meth:`~TrackStates.advance`;
  if its id comes back, it starts afresh from the factory.
- **cut**: ``advance(..., scene_cut=True)`` drops every track: no state passes from one shot to the next.
- **time reset**: a frame earlier than the previous one (a new source, a looped file, a seek) drops every track; a
  track observed at a time earlier than its own last observation starts afresh.

:class:`TimeRing` is a time-sampled ring buffer: at most ``size`` samples, at least ``sample_ms`` apart, so a
window covers the same stream time at 15 and at 60 fps (``sample_ms=0`` keeps every sample: a window counted in
observations).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
V = TypeVar("V")

TIME_TOLERANCE_MS = 1.0
"""Timestamps are often whole milliseconds (container time bases), so two frames 66.67 ms apart may read 66 ms:
:class:`TimeRing` treats a sample up to this much (and at most a tenth of ``sample_ms``) early as on time."""


class TimeRing(Generic[V]):
    """At most ``size`` samples of one track, oldest first, at least ``sample_ms`` apart in stream time.

    A sample that comes less than ``sample_ms`` after the newest kept one (give or take
    :data:`TIME_TOLERANCE_MS`) is dropped, or with ``newest_wins`` replaces the newest one (for plots, whose last
    point must be the current value; the kept samples then start at least ``sample_ms`` apart, one per slot).
    A sample earlier than the newest one (time went back) empties the ring first. The oldest sample goes when a
    new one arrives at a full ring.

    Args:
        size: capacity in samples (>= 1).
        sample_ms: minimum time between kept samples, in ms (0: keep every sample).
        newest_wins: a sample within ``sample_ms`` of the newest replaces it instead of being dropped.
    """

    __slots__ = ("_slot_ms", "_times", "_tolerance_ms", "_values", "newest_wins", "sample_ms", "size")

    def __init__(self, size: int, sample_ms: float = 0.0, *, newest_wins: bool = False) -> None:
        if size < 1 or not sample_ms >= 0:
            raise ValueError(f"TimeRing needs size >= 1 and sample_ms >= 0, got {size} and {sample_ms}")
        self.size = int(size)
        self.sample_ms = float(sample_ms)
        self.newest_wins = newest_wins
        self._tolerance_ms = min(TIME_TOLERANCE_MS, self.sample_ms / 10.0)
        self._times: deque[float] = deque(maxlen=self.size)
        self._values: deque[V] = deque(maxlen=self.size)
        self._slot_ms = -math.inf  # time of the first sample of the newest slot

    def append(self, timestamp_ms: float, value: V) -> bool:
        """Offer the sample ``value`` at ``timestamp_ms``; True when it was kept (added, or replaced the newest)."""
        times = self._times
        if times and timestamp_ms < times[-1]:
            self.clear()
        if times and timestamp_ms - self._slot_ms < self.sample_ms - self._tolerance_ms:
            if not self.newest_wins:
                return False
            times[-1] = timestamp_ms
            self._values[-1] = value
            return True
        times.append(timestamp_ms)
        self._values.append(value)
        self._slot_ms = timestamp_ms
        return True

    def values(self) -> list[V]:
        """The kept samples, oldest first (a new list of length ``len(self)``)."""
        return list(self._values)

    def times(self) -> list[float]:
        """Their timestamps in ms, increasing (a new list of length ``len(self)``)."""
        return list(self._times)

    @property
    def last_ms(self) -> float | None:
        """Timestamp of the newest sample in ms (None when empty)."""
        return self._times[-1] if self._times else None

    @property
    def full(self) -> bool:
        """True when the ring holds ``size`` samples (a complete window)."""
        return len(self._times) == self.size

    def clear(self) -> None:
        """Drop every sample."""
        self._times.clear()
        self._values.clear()
        self._slot_ms = -math.inf

    def __len__(self) -> int:
        return len(self._times)

    def __repr__(self) -> str:
        return f"TimeRing(size={self.size}, sample_ms={self.sample_ms:g}, samples={len(self)})"


class TrackStates(Generic[T]):
    """One state object per track id, created by ``factory``, with the forget, cut and time-reset rules.

    Call :meth:`advance` once per frame (also for frames without faces: it forgets stale tracks), then
    :meth:`observe` or :meth:`get` for each track seen in that frame.

    Args:
        factory: makes the state of a new track (called with no arguments).
        forget_ms: a track not observed for more than this many ms is dropped (``math.inf``: never).
    """

    __slots__ = ("_factory", "_last_ms", "_now_ms", "_states", "forget_ms")

    def __init__(self, factory: Callable[[], T], forget_ms: float) -> None:
        if not forget_ms >= 0:
            raise ValueError(f"forget_ms must be >= 0 ms, got {forget_ms}")
        self._factory = factory
        self.forget_ms = float(forget_ms)
        self._states: dict[int, T] = {}
        self._last_ms: dict[int, float] = {}  # track id -> time of its last observation
        self._now_ms = -math.inf

    def advance(self, now_ms: float, *, scene_cut: bool = False) -> None:
        """Start the frame at ``now_ms``: drop every track at a scene cut or when time went back, else drop the
        tracks not observed for more than ``forget_ms``."""
        if scene_cut or now_ms < self._now_ms:
            self.reset()
        self._now_ms = now_ms
        if self._last_ms:
            forget_ms = self.forget_ms
            stale = [track_id for track_id, last in self._last_ms.items() if now_ms - last > forget_ms]
            for track_id in stale:
                del self._states[track_id], self._last_ms[track_id]

    def observe(self, track_id: int, timestamp_ms: float) -> tuple[T, float | None]:
        """The state of ``track_id`` observed at ``timestamp_ms``, and the ms since its previous observation.

        Returns:
            ``(state, dt_ms)``: a new state from the factory and ``dt_ms = None`` for a track not kept (new,
            forgotten, dropped at a cut) or observed at an earlier time before; else the kept state and
            ``dt_ms >= 0`` (0 when observed twice at the same time).
        """
        last = self._last_ms.get(track_id)
        self._last_ms[track_id] = timestamp_ms
        if last is None or timestamp_ms < last:
            state = self._states[track_id] = self._factory()
            return state, None
        return self._states[track_id], timestamp_ms - last

    def get(self, track_id: int, timestamp_ms: float) -> T:
        """The state of ``track_id`` observed at ``timestamp_ms`` (see :meth:`observe`), new or kept."""
        return self.observe(track_id, timestamp_ms)[0]

    def peek(self, track_id: int) -> T | None:
        """The kept state of ``track_id`` without observing it (None when not kept)."""
        return self._states.get(track_id)

    def reset(self) -> None:
        """Drop every track (between sources, at a scene cut)."""
        self._states.clear()
        self._last_ms.clear()

    @property
    def ids(self) -> list[int]:
        """Ids of the kept tracks, in order of first observation."""
        return list(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._states

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._states))

    def __repr__(self) -> str:
        return f"TrackStates(tracks={len(self)}, forget_ms={self.forget_ms:g})"
