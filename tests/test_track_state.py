"""Per-track state helper (track/state.py): TimeRing sampling in time, TrackStates forget / cut / time-reset rules,
and the plot history built on them (track/history.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectlens.core import Faces, Frame, FrameResult
from affectlens.track.state import TimeRing, TrackStates

WINDOW = 16
SAMPLE_MS = 1000.0 / 15  # a 16-frame clip model trained on 15 fps clips


def timeline(fps: float, seconds: float, rounded: bool = False) -> list[float]:
    """Frame times in ms of a ``fps`` stream; ``rounded``: whole milliseconds, as many containers store them."""
    times = [i * 1000.0 / fps for i in range(int(seconds * fps))]
    return [float(round(t)) for t in times] if rounded else times


def signal(t_ms: float) -> float:
    """What a frame at ``t_ms`` shows (any function of time)."""
    return math.sin(t_ms / 300.0)


def windows_at(fps: float, seconds: float, at: list[float], rounded: bool = False) -> dict[float, list[float]]:
    """Feed a ``fps`` stream into a 16-sample ring; the ring's times right after each frame in ``at``."""
    ring: TimeRing[float] = TimeRing(WINDOW, SAMPLE_MS)
    seen = {}
    for t in timeline(fps, seconds, rounded):
        ring.append(t, signal(t))
        if t in at:
            assert ring.values() == [signal(s) for s in ring.times()]
            seen[t] = ring.times()
    return seen


# --- TimeRing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounded", [False, True])
def test_ring_gives_the_same_windows_at_15_30_and_60_fps(rounded: bool) -> None:
    at = timeline(15.0, 3.0, rounded)  # every frame of the 15 fps stream is also a frame of the faster ones
    at15 = windows_at(15.0, 3.0, at, rounded)
    assert len(at15) == len(at)
    assert at15 == windows_at(30.0, 3.0, at, rounded) == windows_at(60.0, 3.0, at, rounded)
    last = at15[at[-1]]
    assert len(last) == WINDOW  # 3 s at 15 fps = 45 frames: the window holds the last 16, oldest first
    assert last == at[-WINDOW:]
    assert np.all(np.diff(last) >= SAMPLE_MS - 1.0)


def test_ring_keeps_samples_at_least_sample_ms_apart_and_at_most_size() -> None:
    ring: TimeRing[int] = TimeRing(3, 100.0)
    kept = [ring.append(t, i) for i, t in enumerate([0.0, 40.0, 99.5, 150.0, 200.0, 260.0, 300.0])]
    # 40 is too early; 99.5 counts as on time (timestamps are often rounded to the ms); 150 and 260 are too early
    assert kept == [True, False, True, False, True, False, True]
    assert ring.times() == [99.5, 200.0, 300.0] and ring.values() == [2, 4, 6]
    assert ring.full and len(ring) == 3 and ring.last_ms == 300.0


def test_ring_with_newest_wins_replaces_the_newest_sample_of_a_slot() -> None:
    ring: TimeRing[str] = TimeRing(4, 100.0, newest_wins=True)
    for t, value in [(0.0, "a"), (30.0, "b"), (60.0, "c"), (100.0, "d"), (180.0, "e")]:
        assert ring.append(t, value)
    # slots start at 0 and 100: each holds its newest sample, so the last point is always the current one
    assert ring.times() == [60.0, 180.0] and ring.values() == ["c", "e"]


def test_ring_without_sample_ms_keeps_every_sample_and_restarts_when_time_goes_back() -> None:
    ring: TimeRing[int] = TimeRing(3)
    for i in range(5):
        ring.append(10.0 * i, i)
    assert ring.values() == [2, 3, 4]  # a window counted in samples (the smoother's --smoothing N)
    assert ring.append(40.0, 5) and ring.values() == [3, 4, 5]  # the same time again is a sample too
    assert ring.append(5.0, 9) and ring.values() == [9] and ring.times() == [5.0]  # a looped source
    ring.clear()
    assert len(ring) == 0 and ring.last_ms is None and not ring.full


def test_ring_refuses_bad_settings() -> None:
    for size, sample_ms in ((0, 10.0), (4, -1.0), (4, math.nan)):
        with pytest.raises(ValueError):
            TimeRing(size, sample_ms)


# --- TrackStates ------------------------------------------------------------------------------------------------


def test_states_are_made_by_the_factory_and_observe_gives_the_time_since_the_last_observation() -> None:
    states: TrackStates[list[float]] = TrackStates(list, forget_ms=1000.0)
    states.advance(0.0)
    first, dt = states.observe(3, 0.0)
    assert first == [] and dt is None
    first.append(1.0)
    states.advance(40.0)
    again, dt = states.observe(3, 40.0)
    assert again is first and dt == 40.0
    assert states.observe(3, 40.0) == (first, 0.0)  # observed twice at the same time: kept, dt 0
    assert states.get(5, 40.0) == [] and states.ids == [3, 5] and 5 in states and len(states) == 2
    assert states.peek(3) is first and states.peek(99) is None and 99 not in states


def test_tracks_unseen_for_forget_ms_are_dropped() -> None:
    states: TrackStates[list[int]] = TrackStates(list, forget_ms=500.0)
    states.advance(0.0)
    states.get(1, 0.0).append(1)
    states.get(2, 0.0).append(2)
    for t in (100.0, 300.0, 500.0):  # track 2 alone from now on
        states.advance(t)
        states.get(2, t)
    assert states.ids == [1, 2]  # track 1 unseen for exactly forget_ms: kept
    states.advance(500.1)  # a frame without faces still ages the tracks
    assert states.ids == [2]
    assert states.get(1, 500.1) == []  # its id comes back: a fresh state
    assert states.peek(2) == [2]


def test_a_scene_cut_drops_every_track() -> None:
    states: TrackStates[list[int]] = TrackStates(list, forget_ms=math.inf)
    states.advance(0.0)
    states.get(1, 0.0).append(1)
    states.advance(40.0, scene_cut=True)
    assert len(states) == 0
    state, dt = states.observe(1, 40.0)
    assert state == [] and dt is None


def test_time_going_back_drops_every_track_and_restarts_a_track_observed_earlier() -> None:
    states: TrackStates[list[int]] = TrackStates(list, forget_ms=math.inf)
    states.advance(1000.0)
    states.get(1, 1000.0).append(1)
    states.get(2, 1000.0).append(2)
    states.advance(0.0)  # a looped source: frame times start again
    assert len(states) == 0
    states.advance(2000.0)
    states.get(1, 2000.0).append(1)
    state, dt = states.observe(1, 1500.0)  # this track's own time went back (without a new frame)
    assert state == [] and dt is None
    states.reset()
    assert states.ids == []


def test_forget_ms_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        TrackStates(list, forget_ms=-1.0)


def test_per_track_windows_for_a_clip_model_are_the_same_at_15_and_60_fps() -> None:
    """How the 16-frame model of a later issue keeps its windows: one TimeRing per track."""

    def windows(fps: float) -> dict[int, list[float]]:
        states: TrackStates[TimeRing[float]] = TrackStates(lambda: TimeRing(WINDOW, SAMPLE_MS), forget_ms=700.0)
        for t in timeline(fps, 4.0):
            states.advance(t, scene_cut=t == 3000.0)
            for track_id in (1, 2) if t < 1000.0 else (2,):  # track 1 leaves after 1 s
                states.get(track_id, t).append(t, signal(t) + track_id)
        return {track_id: states.get(track_id, t).times() for track_id in states.ids}

    at15, at60 = windows(15.0), windows(60.0)
    assert at15 == at60
    assert list(at15) == [2]  # track 1 forgotten, track 2 restarted at the cut (3 s): 15 samples since
    assert at15[2] == [t for t in timeline(15.0, 4.0) if t >= 3000.0] and len(at15[2]) == 15


# --- TrackHistory (moved from render/) ----------------------------------------------------------------------------


def result(index: int, t_ms: float, track_ids: list[int], scene_cut: bool = False) -> FrameResult:
    n = len(track_ids)
    faces = Faces(
        xyxy=np.tile(np.array([[10, 10, 60, 70]], np.float32), (n, 1)),
        score=np.full(n, 0.9, np.float32),
        keypoints=np.zeros((n, 6, 2), np.float32),
        track_id=np.asarray(track_ids, np.int64),
    )
    return FrameResult(Frame(np.zeros((8, 8, 3), np.uint8), index, t_ms), faces, scene_cut=scene_cut)


def test_history_lives_in_track_and_render_still_exports_it() -> None:
    from affectlens.render import TrackHistory as FromRender
    from affectlens.render.history import TrackHistory as OldPath
    from affectlens.track import TrackHistory

    assert FromRender is TrackHistory and OldPath is TrackHistory


def test_history_forgets_every_track_at_a_scene_cut() -> None:
    from affectlens.track import TrackHistory

    history = TrackHistory(resolution_ms=10.0)
    for i in range(10):
        history.update(result(i, i * 40.0, [1, 2]))
    assert history.track_ids == [1, 2] and len(history.series(1)) == 10
    history.update(result(10, 400.0, [3], scene_cut=True))
    assert history.track_ids == [3] and len(history.series(1)) == 0 and len(history.series(3)) == 1
