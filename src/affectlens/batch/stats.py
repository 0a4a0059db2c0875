"""``VideoStats``: a sink that sums up one video's faces as they stream by (constant memory), for its summary row."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from affectlens.core import ENGAGEMENT, UNCERTAIN, FrameResult


class VideoStats:
    """Counts and means over every face of every analysed frame of one video.

    Attributes:
        faces: faces seen; ``shown``: label shown -> faces; ``tracks``: distinct track ids; ``last_ms``: timestamp of
            the last analysed frame; sums and counts of the finite valence, arousal and engagement values.
    """

    def __init__(self) -> None:
        self.faces = 0
        self.shown: Counter[str] = Counter()
        self.tracks: set[int] = set()
        self.last_ms = 0.0
        self._sums = {"valence": 0.0, "arousal": 0.0, "engagement": 0.0}
        self._counts = {"valence": 0, "arousal": 0, "engagement": 0}

    def write(self, result: FrameResult) -> None:
        faces = result.faces
        self.last_ms = float(result.frame.timestamp_ms)
        if not len(faces):
            return
        self.faces += len(faces)
        self.shown.update(faces.emotion)
        self.tracks.update(int(t) for t in faces.track_id if t >= 0)
        va = faces.valence_arousal
        self._add("valence", va[:, 0])
        self._add("arousal", va[:, 1])
        if ENGAGEMENT in faces.data:
            self._add("engagement", np.asarray(faces.data[ENGAGEMENT], np.float64))

    def _add(self, key: str, values: np.ndarray) -> None:
        finite = values[np.isfinite(values)]
        self._sums[key] += float(finite.sum())
        self._counts[key] += int(finite.size)

    def mean(self, key: str) -> float | None:
        """Mean of ``valence``, ``arousal`` or ``engagement`` over the faces that have it (None: none has)."""
        count = self._counts[key]
        return round(self._sums[key] / count, 4) if count else None

    def shares(self, labels: tuple[str, ...] = ()) -> dict[str, float]:
        """Share of faces per shown label: ``labels`` in order, ``uncertain``, then any other label seen; ``{}``
        without faces (no share is defined)."""
        if not self.faces:
            return {}
        names = list(dict.fromkeys([*labels, UNCERTAIN, *sorted(self.shown)]))
        return {name: round(self.shown[name] / self.faces, 4) for name in names}

    def close(self) -> None:
        pass


class FrameCounter:
    """A sink that reports decoded frames done (``frame index + 1`` of the latest analysed frame) to ``report``,
    at most every ``interval_s`` seconds; :meth:`flush` sends the rest."""

    def __init__(self, report: Callable[[int], Any], interval_s: float = 0.25) -> None:
        self.report = report
        self.interval_s = interval_s
        self.sent = 0
        self._done = 0
        self._last = time.monotonic()

    def write(self, result: FrameResult) -> None:
        self._done = max(self._done, result.frame.index + 1)
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self.flush()

    def flush(self, total: int | None = None) -> None:
        """Report the frames not reported yet (up to ``total`` when given: the frames the run read)."""
        done = self._done if total is None else total
        if done > self.sent:
            self.report(done - self.sent)
            self.sent = done

    def close(self) -> None:
        pass
