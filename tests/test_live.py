"""Tests of the live HUD (track history, sparklines, valence-arousal plane, overlay toggles) and the live window.

The window is driven through a fake backend (scripted keys, recorded frames): no display or GUI build needed.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.core import ENGAGEMENT, NUM_KEYPOINTS, SHOWN_LABEL, Faces, Frame, FrameResult
from affectlens.emotions import EMOTIONS
from affectlens.render import (
    EMOTION_COLORS,
    Action,
    LiveWindow,
    Overlay,
    SparklineAnnotator,
    TrackHistory,
    ValenceArousalAnnotator,
    ValenceArousalPlaneAnnotator,
    handle_key,
)
from affectlens.render import live as live_module

GREY = 100
BOX = [100, 80, 220, 230]


def make_result(
    index: int,
    boxes: list[list[float]] | None = None,
    track_ids: list[int] | None = None,
    va: list[tuple[float, float]] | None = None,
    engagement: list[float] | None = None,
    top: list[str] | None = None,
    fps: float = 30.0,
    size: tuple[int, int] = (360, 640),
) -> FrameResult:
    """Frame ``index`` of a ``fps`` stream on a grey image, with classified faces."""
    boxes = [BOX] if boxes is None else boxes
    n = len(boxes)
    top = top or ["happy"] * n
    probs = np.full((n, len(EMOTIONS)), 0.02, np.float32)
    for i, name in enumerate(top):
        probs[i, EMOTIONS.index(name)] = 0.86
    faces = Faces(
        xyxy=np.asarray(boxes, np.float32).reshape(n, 4),
        score=np.full(n, 0.9, np.float32),
        keypoints=np.zeros((n, NUM_KEYPOINTS, 2), np.float32),
        track_id=np.asarray([1] * n if track_ids is None else track_ids),
    ).with_emotions(probs, np.asarray(va or [(0.0, 0.0)] * n, np.float32), EMOTIONS)
    faces.data[SHOWN_LABEL] = np.asarray(top)
    if engagement is not None:
        faces.data[ENGAGEMENT] = np.asarray(engagement, np.float32)
    image = np.full((*size, 3), GREY, np.uint8)
    return FrameResult(Frame(image, index, index * 1000.0 / fps), faces, timings_ms={"total": 5.0})


def wave(index: int) -> dict:
    """Faces data that changes over time, so sparklines and trails have a shape."""
    t = index / 30.0
    return {"va": [(0.6 * math.sin(t), 0.5 * math.cos(t))], "engagement": [0.5 + 0.4 * math.sin(2 * t)]}


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (before != after).any(axis=2)


def bbox_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


# --- TrackHistory ---------------------------------------------------------------------------------------------


def test_history_ring_size_and_window() -> None:
    history = TrackHistory(window_ms=1000, resolution_ms=100, forget_ms=500)
    assert history.capacity == 11
    for i in range(200):  # 200 frames at 100 fps = 2 s: the ring wraps many times
        history.update(make_result(i, fps=100.0, va=[(i / 200, 0.0)]))
    series = history.series(1)
    assert 10 <= len(series) <= history.capacity
    assert np.all(np.diff(series.timestamp_ms) > 0)
    assert series.timestamp_ms[-1] == history.now_ms == 1990.0
    assert series.timestamp_ms[0] >= history.now_ms - 1000
    assert series.valence[-1] == pytest.approx(199 / 200)  # the newest value of a slot wins
    assert np.isnan(series.engagement).all()  # no engagement stage ran
    assert len(history.series(1, window_ms=300)) <= 4
    assert len(history.series(99)) == 0


def test_history_ignores_a_frame_fed_twice_and_untracked_faces() -> None:
    history = TrackHistory(resolution_ms=1)
    result = make_result(0, boxes=[BOX, [300, 80, 400, 200]], track_ids=[5, -1])
    history.update(result)
    history.update(result)
    assert history.track_ids == [5] and len(history.series(5)) == 1


def test_history_clips_values() -> None:
    history = TrackHistory()
    history.update(make_result(0, va=[(3.0, -np.inf)], engagement=[1.7]))
    series = history.series(1)
    assert (series.valence[0], series.arousal[0], series.engagement[0]) == (1.0, -1.0, 1.0)


def test_history_prunes_stale_tracks_and_restarts_when_time_goes_back() -> None:
    history = TrackHistory(forget_ms=1000)
    for i in range(30):  # tracks 1 and 2 for 1 s
        history.update(make_result(i, boxes=[BOX, BOX], track_ids=[1, 2]))
    for i in range(30, 75):  # then only track 2, for 1.5 s
        history.update(make_result(i, track_ids=[2]))
    assert 1 not in history and 2 in history and len(history) == 1
    history.update(make_result(3, track_ids=[7]))  # back in time: a restarted source
    assert history.track_ids == [7] and len(history.series(7)) == 1


# --- SparklineAnnotator ---------------------------------------------------------------------------------------


def feed(annotator, frames: int = 90, **kwargs) -> FrameResult:
    """Annotate ``frames`` wave frames (history), return the last result."""
    result = None
    for i in range(frames):
        result = make_result(i, **{**wave(i), **kwargs})
        annotator.annotate(result.frame.image.copy(), result)
    assert result is not None
    return result


def test_sparklines_are_drawn_under_a_tracked_face() -> None:
    sparklines = SparklineAnnotator()
    result = feed(sparklines)
    out = sparklines.annotate(result.frame.image.copy(), result)
    diff = changed(result.frame.image, out)
    x1, y1, x2, y2 = bbox_of(diff)
    assert (x1, y1) == (BOX[0], BOX[3])  # left-aligned with the box, just under it
    assert x2 - x1 < 160 and y2 - y1 < 45  # small
    assert sparklines.last_regions == [(x1, y1, x2 + 1, y2 + 1)]
    # The engagement line's colour is in the panel.
    assert (out[y1 : y2 + 1, x1 : x2 + 1] == (140, 235, 255)).all(axis=2).any()


def test_sparklines_skip_untracked_faces() -> None:
    sparklines = SparklineAnnotator()
    result = feed(sparklines, track_ids=[-1])
    out = sparklines.annotate(result.frame.image.copy(), result)
    assert np.array_equal(out, result.frame.image) and sparklines.last_regions == []


def test_sparklines_stack_under_the_va_tag_and_stay_inside_the_image() -> None:
    overlay = Overlay()
    result = feed(overlay)
    overlay.render(result)
    _, tag_h = ValenceArousalAnnotator().tag_size(360, 640)
    placed = {p.kind: p.rect for p in overlay.last_placed}
    assert placed["va"][1] == BOX[3] and placed["sparklines"][1] == BOX[3] + tag_h  # box, tag, sparklines
    assert overlay.sparklines.last_regions == [placed["sparklines"]]
    low = [400, 250, 560, 358]  # no room below: tag and panel go beside the box, never over the face
    result = feed(overlay, boxes=[low])
    overlay.render(result)
    for item in overlay.last_placed:
        x1, y1, x2, y2 = item.rect
        assert x1 >= 0 and y1 >= 0 and x2 <= 640 and y2 <= 360
        if item.kind != "label":
            assert x2 <= low[0] or x1 >= low[2] or y2 <= low[1] or y1 >= low[3], item


def test_sparklines_leave_out_unknown_rows() -> None:
    with_engagement, without = SparklineAnnotator(), SparklineAnnotator()
    feed(with_engagement)
    result = feed(without, engagement=None)  # no engagement stage: only the valence row
    without.annotate(result.frame.image.copy(), result)
    with_engagement.annotate(result.frame.image.copy(), result)
    height = lambda a: a.last_regions[0][3] - a.last_regions[0][1]  # noqa: E731
    assert 0 < height(without) < height(with_engagement)


# --- ValenceArousalPlaneAnnotator -----------------------------------------------------------------------------


def dot_center(image: np.ndarray, color: tuple[int, int, int], region: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = region
    ys, xs = np.nonzero((image[y1:y2, x1:x2] == color).all(axis=2))
    assert len(xs), "dot not found"
    return np.array([x1 + xs.mean(), y1 + ys.mean()])


def test_va_plane_dot_moves_right_with_valence_and_up_with_arousal() -> None:
    color = EMOTION_COLORS["happy"]
    centers = {}
    for v, a in [(-0.5, 0.0), (0.5, 0.0), (0.0, 0.6)]:
        plane = ValenceArousalPlaneAnnotator(trail_ms=0)
        result = make_result(0, va=[(v, a)], track_ids=[-1])
        out = plane.annotate(result.frame.image.copy(), result)
        assert plane.last_region is not None
        centers[v, a] = dot_center(out, color, plane.last_region)
        assert centers[v, a] == pytest.approx(plane.point(v, a, 360, 640), abs=1.0)
    assert centers[0.5, 0.0][0] > centers[-0.5, 0.0][0] + 20  # valence: right
    assert centers[0.0, 0.6][1] < centers[-0.5, 0.0][1] - 20  # arousal: up
    x1, y1, x2, y2 = plane.last_region
    assert 630 <= x2 <= 640 and 350 <= y2 <= 360 and x2 - x1 == y2 - y1 == 110  # bottom-right, 110 px at 360p


def test_va_plane_point_lies_in_the_plane_an_overlay_moved_to_another_corner() -> None:
    overlay = Overlay.from_draw("plane")
    plane = overlay.va_plane
    result = make_result(0, boxes=[[500, 220, 640, 360]], va=[(0.5, 0.5)], track_ids=[-1])  # face bottom-right
    out = overlay.annotate(result.frame.image.copy(), result)
    region = plane.last_region
    assert region is not None and region != plane.region(360, 640)  # moved off its own (bottom-right) corner
    x1, y1, x2, y2 = region
    point = plane.point(0.5, 0.5, 360, 640)
    assert point is not None and x1 <= point[0] < x2 and y1 <= point[1] < y2
    assert dot_center(out, EMOTION_COLORS["happy"], region) == pytest.approx(point, abs=1.0)
    assert plane.point(0.5, 0.5, 360, 640, region=plane.region(360, 640)) != pytest.approx(point, abs=1.0)


def test_va_plane_draws_a_trail_for_tracked_faces_only() -> None:
    tracked, untracked = ValenceArousalPlaneAnnotator(), ValenceArousalPlaneAnnotator()
    result = feed(tracked)
    out_tracked = tracked.annotate(result.frame.image.copy(), result)
    result_untracked = feed(untracked, track_ids=[-1])
    out_untracked = untracked.annotate(result_untracked.frame.image.copy(), result_untracked)
    assert tracked.last_region is not None
    x1, y1, x2, y2 = tracked.last_region
    trail = changed(out_tracked, out_untracked)  # same dot, same square: only the trail differs
    assert trail[y1:y2, x1:x2].sum() > 20
    assert not trail[:, :x1].any() and not trail[:y1].any()
    assert not changed(result.frame.image, out_tracked)[:, : x1 - 1].any()  # only the corner square


def test_va_plane_rejects_an_unknown_corner_and_skips_tiny_images() -> None:
    with pytest.raises(ValueError, match="corner"):
        ValenceArousalPlaneAnnotator(corner="middle")  # type: ignore[arg-type]
    plane = ValenceArousalPlaneAnnotator(corner="top-left")
    result = make_result(0, size=(40, 40), boxes=[[5, 5, 20, 20]])
    assert np.array_equal(plane.annotate(result.frame.image.copy(), result), result.frame.image)
    assert plane.region(360, 640)[:2] == (3, 3)


# --- Overlay toggles ------------------------------------------------------------------------------------------


def test_overlay_toggles_change_what_is_drawn() -> None:
    overlay = Overlay()
    assert overlay.is_enabled("sparklines") and not overlay.is_enabled("va_plane")
    result = feed(overlay)
    base = overlay.render(result)
    corner = (slice(250, 360), slice(530, 640))
    assert not changed(result.frame.image[corner], base[corner]).any()
    assert overlay.toggle("va_plane") is True
    with_plane = overlay.render(result)
    assert changed(result.frame.image[corner], with_plane[corner]).any()
    assert overlay.toggle("bars") is False
    no_bars = overlay.render(result)
    right_of_box = (slice(BOX[1], BOX[3]), slice(BOX[2] + 1, BOX[2] + 60))
    assert changed(result.frame.image[right_of_box], with_plane[right_of_box]).any()
    assert not changed(result.frame.image[right_of_box], no_bars[right_of_box]).any()
    overlay.set_enabled("sparklines", False)
    assert overlay.sparklines not in overlay.annotators
    with pytest.raises(ValueError, match="unknown overlay part 'nope'"):
        overlay.toggle("nope")


def test_a_part_switched_on_mid_stream_shows_the_history_at_once() -> None:
    overlay = Overlay(sparklines=False)
    result = feed(overlay)  # the overlay feeds its history even while sparklines are off
    assert len(overlay.history.series(1)) > 20
    overlay.toggle("sparklines")
    overlay.render(result)
    assert overlay.sparklines.last_regions


# --- LiveWindow -----------------------------------------------------------------------------------------------


class FakeBackend:
    """A window system that records what is shown and returns scripted keys (then -1)."""

    def __init__(self, keys: str | list[int] = "", max_waits: int = 200) -> None:
        self.keys = [ord(k) for k in keys] if isinstance(keys, str) else list(keys)
        self.shown: list[np.ndarray] = []
        self.waits = 0
        self.max_waits = max_waits
        self.opened = self.closed = False
        self.window_open = True

    def open(self, title: str) -> None:
        self.opened = True

    def show(self, title: str, image: np.ndarray) -> None:
        self.shown.append(image.copy())

    def wait_key(self, delay_ms: int) -> int:
        self.waits += 1
        assert self.waits <= self.max_waits, "the window kept waiting: a pause loop that never ends?"
        return self.keys.pop(0) if self.keys else -1

    def is_open(self, title: str) -> bool:
        return self.window_open

    def close(self, title: str) -> None:
        self.closed = True


def test_handle_key() -> None:
    assert handle_key(ord("q")) is Action.QUIT and handle_key(27) is Action.QUIT
    assert handle_key(ord("P")) is Action.TOGGLE_BARS and handle_key(ord("v")) is Action.TOGGLE_VA_PLANE
    assert handle_key(ord(" ")) is Action.PAUSE and handle_key(ord("s")) is Action.SCREENSHOT
    assert handle_key(ord("g")) is Action.TOGGLE_SPARKLINES
    assert handle_key(-1) is Action.NONE and handle_key(None) is Action.NONE and handle_key(ord("x")) is Action.NONE
    assert handle_key(0x100000 | ord("q")) is Action.QUIT  # modifier bits above the low byte


def test_key_script_toggles_saves_pauses_and_quits(tmp_path: Path) -> None:
    backend = FakeBackend("pvs  q")
    overlay = Overlay()
    window = LiveWindow("test", overlay, screenshot_dir=tmp_path / "shots", backend=backend)
    assert backend.opened
    results = iter(make_result(i, **wave(i)) for i in range(100))
    keep_going = []
    for _ in range(5):
        result = next(results)
        keep_going.append(window.draw_and_show(result.frame.image, result, fps=30.0))
        if not keep_going[-1]:
            break
    # p: bars off; v: plane on; s: screenshot; space: pause, space: resume (same call); q: quit.
    assert keep_going == [True, True, True, True, False]
    assert not overlay.is_enabled("bars") and overlay.is_enabled("va_plane")
    assert len(window.screenshots) == 1 and window.screenshots[0].is_file()
    assert window.screenshots[0].parent == tmp_path / "shots" and "frame000002" in window.screenshots[0].name
    saved = cv2.imread(str(window.screenshots[0]))
    assert saved.shape == (360, 640, 3) and saved.dtype == np.uint8
    assert not window.paused and window.frames_shown == 5
    # The paused frame was shown with a pause note, then the 4th frame was not redrawn after resuming.
    assert len(backend.shown) >= 6
    window.close()
    window.close()
    assert backend.closed


def test_quit_while_paused(tmp_path: Path) -> None:
    backend = FakeBackend(" " + "\xff" * 5 + "q")  # pause, a few idle polls, then q
    ticks = iter(range(1000))
    window = LiveWindow("test", Overlay(), screenshot_dir=tmp_path, backend=backend, clock=lambda: next(ticks))
    result = make_result(0)
    assert window.draw_and_show(result.frame.image, result) is False
    assert window.paused and backend.waits == 7 and window.paused_s > 0


def test_toggle_while_paused_redraws_the_paused_frame(tmp_path: Path) -> None:
    backend = FakeBackend(" v ")  # pause, toggle the plane while paused, resume
    overlay = Overlay()
    window = LiveWindow("test", overlay, screenshot_dir=tmp_path, backend=backend)
    result = make_result(0)
    image = result.frame.image
    assert window.draw_and_show(image, result) is True
    corner = (slice(250, 350), slice(540, 630))
    assert changed(np.full_like(image, GREY)[corner], image[corner]).any()  # the frame now has the plane
    assert any(changed(backend.shown[0][corner], shown[corner]).any() for shown in backend.shown[1:])


def test_show_of_an_annotated_image_and_closing_the_window(tmp_path: Path) -> None:
    backend = FakeBackend("p")
    overlay = Overlay()
    window = LiveWindow("test", overlay, screenshot_dir=tmp_path, backend=backend)
    image = np.zeros((48, 64, 3), np.uint8)
    assert window.show(image) is True and not overlay.is_enabled("bars")
    assert window.show(image) is True
    assert backend.shown[-1].max() > 0 and image.max() == 0  # the "bars off" note is drawn on a copy
    backend.window_open = False  # the user closed the window
    assert window.show(image) is False


def test_screenshot_names_do_not_collide(tmp_path: Path) -> None:
    window = LiveWindow("test", Overlay(), screenshot_dir=tmp_path, backend=FakeBackend())
    assert window.save_screenshot() is None  # nothing shown yet
    window.show(np.zeros((20, 30, 3), np.uint8))
    first, second = window.save_screenshot(), window.save_screenshot()
    assert first is not None and second is not None and first != second and first.is_file() and second.is_file()


def test_gui_problem() -> None:
    problem = live_module.gui_problem
    qt, gtk, none = "  GUI:  QT5\n", "  GUI:  GTK3\n", "  GUI:                           NONE\n"
    assert "headless" in problem({"DISPLAY": ":0"}, "linux", none)
    assert "DISPLAY" in problem({}, "linux", qt)
    assert "DISPLAY" in problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux", qt)  # Qt in cv2 only ships xcb
    assert problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux", gtk) is None
    assert problem({"DISPLAY": ":0"}, "linux", qt) is None
    assert problem({}, "darwin", "  GUI:  COCOA\n") is None
    assert problem({}, "win32", "  GUI:  WIN32UI\n") is None


def test_no_display_raises_a_clear_runtime_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    called = []
    monkeypatch.setattr(live_module.cv2, "namedWindow", lambda *a: called.append(a))
    with pytest.raises(RuntimeError, match=r"--show needs a display and a GUI build of OpenCV .* --output instead"):
        LiveWindow("test", Overlay())
    assert not called  # a Qt build would abort the process, so no window is even attempted


def test_opencv_window_error_becomes_a_runtime_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module, "gui_problem", lambda: None)

    def no_gui(*args: object) -> None:
        raise cv2.error("The function is not implemented. Rebuild the library with GTK+ 2.x or Cocoa support")

    monkeypatch.setattr(live_module.cv2, "namedWindow", no_gui)
    with pytest.raises(RuntimeError, match=r"^--show needs a display and a GUI build of OpenCV") as info:
        LiveWindow("test", Overlay())
    assert isinstance(info.value.__cause__, cv2.error)


# --- Window size and pacing -----------------------------------------------------------------------------------


class SizedBackend(FakeBackend):
    """A fake window system that also records the window sizes asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def resize(self, title: str, width: int, height: int) -> None:
        self.sizes.append((width, height))


def test_window_opens_at_the_video_size_within_a_screen(tmp_path: Path) -> None:
    backend = SizedBackend()
    window = LiveWindow("test", Overlay(), screenshot_dir=tmp_path, backend=backend)
    result = make_result(0)  # 640x360
    window.draw_and_show(result.frame.image, result)
    window.draw_and_show(result.frame.image, make_result(1))
    assert backend.sizes == [(640, 360)]  # sized once, to the frame (not OpenCV's default 400x300)
    big = make_result(2, size=(2160, 3840))
    window.draw_and_show(big.frame.image, big)
    assert backend.sizes[-1] == (1600, 900)  # a 4K video fits a common screen, aspect ratio kept
    assert live_module.window_size(320, 240) == (640, 480)  # a small video is enlarged so its text can be read
    assert live_module.window_size(500, 1000) == (450, 900)  # portrait


class Clock:
    """A fake monotonic clock that the fake window's key waits advance."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ClockedBackend(FakeBackend):
    def __init__(self, clock: Clock, keys: str = "") -> None:
        super().__init__(keys, max_waits=10_000)
        self.clock = clock
        self.delays: list[int] = []

    def wait_key(self, delay_ms: int) -> int:
        self.delays.append(delay_ms)
        self.clock.now += delay_ms / 1e3
        return super().wait_key(delay_ms)


def play(kind: str, live: bool, frames: int = 30, fps: float = 30.0, work_s: float = 0.0) -> float:
    """Seconds (of the fake clock) a window takes to show ``frames`` frames of a ``kind`` source at ``fps``,
    when analysing a frame takes ``work_s``."""
    clock = Clock()
    backend = ClockedBackend(clock)
    window = LiveWindow("test", Overlay(), backend=backend, clock=clock)
    start = clock.now
    for index in range(frames):
        result = make_result(index, fps=fps)
        result.frame.source.update(kind=kind, live=live)
        clock.now += work_s
        assert window.draw_and_show(result.frame.image, result) is True
    return clock.now - start


def test_a_played_file_runs_at_its_own_speed() -> None:
    # 30 frames at 30 fps last one second (the first frame is shown at once, the last 29/30 s later), whatever the
    # speed of the analysis, instead of as fast as the frames come (twice real speed before).
    assert play("video", live=False) == pytest.approx(29 / 30, abs=0.03)
    assert play("video", live=False, work_s=0.01) == pytest.approx(29 / 30 + 0.01, abs=0.03)
    # Analysis slower than real time: no waiting at all, and no rush to catch up.
    assert play("video", live=False, work_s=0.05) == pytest.approx(30 * 0.05 + 30 * 0.001, abs=0.03)
    # Cameras and live streams show each frame at once (they come in real time), so do folders of images.
    assert play("camera", live=True) < 0.1
    assert play("stream", live=True) < 0.1
    assert play("folder", live=False) < 0.1


def test_pacing_leaves_out_time_spent_paused() -> None:
    clock = Clock()
    keys = [ord(" ")] + [-1] * 5 + [ord(" ")]  # pause on the first frame for 6 polls of 100 ms, then resume
    backend = ClockedBackend(clock)
    backend.keys = keys
    window = LiveWindow("test", Overlay(), backend=backend, clock=clock, pace=True, pause_poll_ms=100)
    start = clock.now
    for index in range(30):
        result = make_result(index)
        assert window.draw_and_show(result.frame.image, result) is True
    assert window.paused_s == pytest.approx(0.6, abs=0.01)
    # The other frames keep their pace after the pause: no burst of frames to catch up on the time paused.
    assert clock.now - start == pytest.approx(29 / 30 + window.paused_s, abs=0.03)


# --- LiveWindow as a sink -------------------------------------------------------------------------------------
def test_the_window_is_a_sink_that_draws_on_a_copy_and_stops_on_q(tmp_path: Path) -> None:
    # issue 8: the live window is a sink: write(result) shows the annotated frame, handles keys, and q/Esc (or closing
    # the window) sets stop_requested; the frame it got is never drawn on (the video writer may still hold it)
    backend = FakeBackend("\xffq")
    window = LiveWindow("test", Overlay(), screenshot_dir=tmp_path, backend=backend)
    results = [make_result(i) for i in range(4)]
    for result in results:
        window.write(result)
        if window.stop_requested:
            break
    assert window.stop_requested and window.frames_shown == 2
    assert all((result.frame.image == GREY).all() for result in results)  # clean frames stay clean
    assert changed(np.full_like(backend.shown[0], GREY), backend.shown[0]).any()  # what was shown is annotated
    window.write(results[2])  # after quitting: nothing more is shown, no key is read
    assert window.frames_shown == 2 and backend.waits == 2
    closed = LiveWindow("test", Overlay(), screenshot_dir=tmp_path, backend=FakeBackend())
    closed.backend.window_open = False  # type: ignore[attr-defined]  # the user closed the window
    closed.write(make_result(0))
    assert closed.stop_requested


def test_a_sink_window_redraws_a_toggle_on_a_new_copy_of_the_clean_frame(tmp_path: Path) -> None:
    backend = FakeBackend(" v ")  # pause, toggle the plane while paused, resume
    overlay = Overlay()
    window = LiveWindow("test", overlay, screenshot_dir=tmp_path, backend=backend)
    result = make_result(0)
    annotated = overlay.render(result)  # drawn once by the caller, e.g. also queued to a video writer
    before = annotated.copy()
    window.write(result, annotated)
    assert not window.stop_requested and overlay.is_enabled("va_plane")
    assert (annotated == before).all() and (result.frame.image == GREY).all()  # neither was drawn on
    corner = (slice(250, 350), slice(540, 630))
    assert any(changed(before[corner], shown[corner]).any() for shown in backend.shown[1:])  # the plane appeared


def test_a_sink_window_paces_played_files_and_measures_its_own_frame_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    window = LiveWindow("test", Overlay(), backend=ClockedBackend(clock), clock=clock)
    rates: list[float | None] = []
    render = Overlay.render
    monkeypatch.setattr(
        Overlay, "render", lambda self, result, fps=None, **k: rates.append(fps) or render(self, result)
    )
    start = clock.now
    for index in range(30):
        result = make_result(index, fps=30.0)
        result.frame.source.update(kind="video", live=False)
        window.write(result)
    assert clock.now - start == pytest.approx(29 / 30, abs=0.03)  # a played file runs at its own speed
    assert rates[0] is None and rates[-1] == pytest.approx(30.0, rel=0.1)  # the HUD shows the rate frames are shown
