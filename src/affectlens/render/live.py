"""The live window of ``--show``: annotated frames in an OpenCV window, with keyboard controls.

Keys (see :data:`KEY_ACTIONS`): ``space`` pauses and resumes, ``p`` toggles the probability bars, ``v`` the
valence-arousal plane, ``g`` the sparklines, ``s`` saves a screenshot (PNG), ``q`` or ``Esc`` quits (also while
paused). The window opens at the video's size (scaled to fit a screen, :func:`window_size`), and a played file runs
at the pace of its timestamps, not as fast as it is analysed. Key handling is pure (:func:`handle_key`) and the
window system is a small :class:`WindowBackend`, so both are testable without a display. The window is a sink::

    with LiveWindow("affectlens", overlay, screenshot_dir="shots") as window:
        for result in results:                  # clean frames: the window draws the overlay on a copy
            window.write(result)
            if window.stop_requested:            # q, Esc, or the window closed
                break
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from affectlens.core import FrameResult
from affectlens.render.layout import FONT, LINE, darken, layout_for, text_size
from affectlens.render.overlay import Overlay

log = logging.getLogger(__name__)

SHOW_NEEDS_GUI = (
    "--show needs a display and a GUI build of OpenCV (pip install opencv-python); "
    "write an annotated video with --output instead"
)
"""The start of the :class:`RuntimeError` message when no window can be opened."""


class Action(enum.Enum):
    """What a key press asks the live window to do."""

    NONE = "none"
    QUIT = "quit"
    PAUSE = "pause"
    SCREENSHOT = "screenshot"
    TOGGLE_BARS = "toggle_bars"
    TOGGLE_VA_PLANE = "toggle_va_plane"
    TOGGLE_SPARKLINES = "toggle_sparklines"


KEY_ACTIONS: dict[int, Action] = {
    ord("q"): Action.QUIT,
    27: Action.QUIT,  # Esc
    ord(" "): Action.PAUSE,
    ord("s"): Action.SCREENSHOT,
    ord("p"): Action.TOGGLE_BARS,
    ord("v"): Action.TOGGLE_VA_PLANE,
    ord("g"): Action.TOGGLE_SPARKLINES,
}
"""Key code (lower case) -> action."""

TOGGLED_PART: dict[Action, str] = {
    Action.TOGGLE_BARS: "bars",
    Action.TOGGLE_VA_PLANE: "va_plane",
    Action.TOGGLE_SPARKLINES: "sparklines",
}
"""Toggle action -> :class:`~affectlens.render.Overlay` part it switches."""

KEY_HELP = "space pause | p bars | v plane | g graphs | s screenshot | q quit"

MAX_WINDOW_SIZE = (1600, 900)
"""Largest initial window (width, height) in pixels: a bigger video opens scaled down to fit a common screen."""
MIN_WINDOW_WIDTH = 640
"""A video narrower than this opens enlarged by a whole factor, so that its text stays readable."""
PACING_RESYNC_S = 1.0
"""When a played file falls this many seconds behind its timestamps (slow analysis), pacing restarts from the
current frame instead of rushing to catch up."""


def window_size(width: int, height: int, max_size: tuple[int, int] = MAX_WINDOW_SIZE) -> tuple[int, int]:
    """The initial window size (width, height) in pixels for ``width`` x ``height`` frames.

    The frame's own size when it fits ``max_size``; scaled down to fit it otherwise (aspect ratio kept); a frame
    narrower than :data:`MIN_WINDOW_WIDTH` is enlarged 2x, 3x... while it still fits.

    >>> window_size(640, 360), window_size(3840, 2160), window_size(320, 240)
    ((640, 360), (1600, 900), (640, 480))
    """
    if width <= 0 or height <= 0:
        return max(width, 1), max(height, 1)
    max_w, max_h = max_size
    if width > max_w or height > max_h:
        scale = min(max_w / width, max_h / height)
        return max(1, round(width * scale)), max(1, round(height * scale))
    factor = 1
    while width * factor < MIN_WINDOW_WIDTH and width * (factor + 1) <= max_w and height * (factor + 1) <= max_h:
        factor += 1
    return width * factor, height * factor


def paced_source(source: Mapping[str, object]) -> bool:
    """Whether frames from a source with this ``frame.source`` metadata should be shown at their timestamps' pace:
    files (and URLs of files) read in file mode, not cameras, live streams, images or folders."""
    return source.get("kind") in ("video", "stream") and source.get("live") is False


def handle_key(key: int | None, keymap: Mapping[int, Action] = KEY_ACTIONS) -> Action:
    """The action of a key code as returned by ``cv2.waitKey`` (-1 or None: no key; letters in either case).

    >>> handle_key(ord("P")), handle_key(-1), handle_key(27)
    (<Action.TOGGLE_BARS: 'toggle_bars'>, <Action.NONE: 'none'>, <Action.QUIT: 'quit'>)
    """
    if key is None or key < 0:
        return Action.NONE
    code = key & 0xFF  # some backends set modifier bits above the low byte
    if ord("A") <= code <= ord("Z"):
        code += ord("a") - ord("A")
    return keymap.get(code, Action.NONE)


class WindowBackend(Protocol):
    """The window system calls :class:`LiveWindow` makes (OpenCV's by default; fakes in tests)."""

    def open(self, title: str) -> None:
        """Create the window; raise :class:`RuntimeError` when that is impossible here."""

    def show(self, title: str, image: np.ndarray) -> None:
        """Display ``image`` (BGR uint8) in the window."""

    def wait_key(self, delay_ms: int) -> int:
        """Process window events for up to ``delay_ms`` ms; the key pressed, or -1."""

    def is_open(self, title: str) -> bool:
        """False once the user has closed the window."""

    def close(self, title: str) -> None:
        """Destroy the window."""

    # Optional: ``resize(title, width, height)`` sets the window's size in pixels (called when the frame size
    # changes); a backend without it keeps its own size.


def gui_problem(
    environ: Mapping[str, str] | None = None, platform: str | None = None, build_info: str | None = None
) -> str | None:
    """Why an OpenCV window cannot open here, or None when it should.

    Checked before creating a window because a Qt build of OpenCV (what ``opencv-python`` and mediapipe's
    ``opencv-contrib-python`` install on Linux) aborts the whole process when there is no display, instead of raising.

    Args:
        environ: environment variables (default ``os.environ``).
        platform: ``sys.platform`` value (default the running one).
        build_info: ``cv2.getBuildInformation()`` text (default the installed OpenCV's).
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    build_info = cv2.getBuildInformation() if build_info is None else build_info
    match = re.search(r"^\s*GUI:\s*(\S+)", build_info, re.MULTILINE)
    gui = match.group(1).upper() if match else ""
    if gui == "NONE":
        return "the installed OpenCV has no GUI (a headless build)"
    if platform.startswith("linux"):
        if gui.startswith("QT") and not environ.get("DISPLAY") and not environ.get("QT_QPA_PLATFORM"):
            return "no X display (DISPLAY is not set)"
        if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
            return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


class OpenCvBackend:
    """:class:`WindowBackend` over ``cv2.namedWindow`` / ``imshow`` / ``waitKey``."""

    def __init__(self) -> None:
        self._seen_visible = False

    def open(self, title: str) -> None:
        """Create a resizable window titled ``title`` with the key help; RuntimeError naming the cause if impossible."""
        problem = gui_problem()
        if problem is not None:
            raise RuntimeError(f"{SHOW_NEEDS_GUI} ({problem})")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as error:
            reason = getattr(error, "err", None) or str(error).strip()
            raise RuntimeError(f"{SHOW_NEEDS_GUI} (OpenCV: {reason})") from error
        with contextlib.suppress(cv2.error):  # a plain title is fine too
            cv2.setWindowTitle(title, f"{title}  -  {KEY_HELP}")

    def show(self, title: str, image: np.ndarray) -> None:
        cv2.imshow(title, image)

    def resize(self, title: str, width: int, height: int) -> None:
        """Set the window's size (width, height) in pixels."""
        with contextlib.suppress(cv2.error):
            cv2.resizeWindow(title, width, height)

    def wait_key(self, delay_ms: int) -> int:
        return int(cv2.waitKey(max(1, delay_ms)))

    def is_open(self, title: str) -> bool:
        try:
            visible = cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return not self._seen_visible
        # Backends that never report visibility would otherwise read as "closed" on the first frame.
        self._seen_visible = self._seen_visible or visible
        return visible or not self._seen_visible

    def close(self, title: str) -> None:
        try:
            cv2.destroyWindow(title)
            cv2.waitKey(1)  # let the window system process the destruction
        except cv2.error:
            pass


class LiveWindow:
    """A window showing annotated frames, with pause, overlay toggles and screenshots from the keyboard.

    As a sink, :meth:`write` takes each (clean) result, draws ``overlay`` on a copy of its frame (or shows the copy
    the caller already drew), and sets :attr:`stop_requested` when the user quits (``q``, ``Esc``, or closing the
    window); the caller ends its loop then. Older calls: :meth:`draw_and_show` draws ``overlay`` on the image in place,
    :meth:`show` displays an image that is already annotated (toggles then apply from the next frame); both return
    False when the user quits. While paused, none of them returns: the window keeps showing the frame and reacting to
    keys (toggles redraw it at once, except after :meth:`show`) until resumed or quit.

    Args:
        title: window name.
        overlay: the overlay whose parts the keys toggle; None makes a default :class:`~affectlens.render.Overlay`.
        screenshot_dir: folder for screenshots (created on the first one).
        backend: the window system; None uses OpenCV (:class:`OpenCvBackend`).
        pause_poll_ms: how often a paused window checks for keys, in ms.
        clock: monotonic time in seconds (for how long messages stay on screen, and pacing).
        pace: show frames at the pace of their timestamps (``frame.timestamp_ms``), waiting when they come faster;
            None decides per frame from its source (:func:`paced_source`: played files yes, cameras, live streams,
            images and folders no). :meth:`write` and :meth:`draw_and_show` pace (they know the frame's time);
            :meth:`show` does not.
        max_size: largest initial window size (width, height); the window opens at the frame's size within it
            (:func:`window_size`) and can be resized by the user.

    Raises:
        RuntimeError: no window can be opened here (no display, or OpenCV without GUI); the message says to write
            a video with ``--output`` instead.

    Attributes:
        paused: whether the window is paused.
        screenshots: paths of the screenshots saved so far.
        frames_shown: frames passed to :meth:`show` / :meth:`draw_and_show`.
        paused_s: seconds spent paused so far (by ``clock``), e.g. to leave out of a frame rate.
        stop_requested: the user asked to quit (``q``/``Esc``, or closed the window); :meth:`write` then does nothing.
        window_size: (width, height) the window was last sized to; None before the first frame.
    """

    def __init__(
        self,
        title: str = "affectlens",
        overlay: Overlay | None = None,
        screenshot_dir: str | Path = ".",
        *,
        backend: WindowBackend | None = None,
        pause_poll_ms: int = 30,
        clock: Callable[[], float] = time.monotonic,
        pace: bool | None = None,
        max_size: tuple[int, int] = MAX_WINDOW_SIZE,
    ) -> None:
        self.title = title
        self.overlay = Overlay() if overlay is None else overlay
        self.screenshot_dir = Path(screenshot_dir)
        self.backend: WindowBackend = OpenCvBackend() if backend is None else backend
        self.pause_poll_ms = pause_poll_ms
        self.clock = clock
        self.paused = False
        self.screenshots: list[Path] = []
        self.frames_shown = 0
        self.paused_s = 0.0
        self.stop_requested = False
        self.pace = pace
        self.max_size = max_size
        self.window_size: tuple[int, int] | None = None
        self._frame_size: tuple[int, int] | None = None
        self._pacing_origin: tuple[float, float, float] | None = None  # clock s, timestamp ms, paused_s then
        self._last_timestamp_ms: float | None = None
        self._image: np.ndarray | None = None  # the annotated frame on screen (without pause/message marks)
        self._frame_index = 0
        self._redraw: Callable[[], None] | None = None
        self._message: tuple[str, float] | None = None  # text, time it disappears
        self._dirty = True  # the window shows something other than the current state
        self._write_times: deque[float] = deque()  # clock times of the last second of write() calls, for the HUD fps
        self._open = False
        self.backend.open(title)
        self._open = True

    def __enter__(self) -> LiveWindow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, result: FrameResult, annotated: np.ndarray | None = None, *, fps: float | None = None) -> None:
        """The window as a sink: show ``result``, pace played files, handle keys; :attr:`stop_requested` is set when
        the user quits (then this and later calls return at once). Does not return while paused.

        Args:
            result: the analysed frame; ``result.frame.image`` must be the clean picture (it is never drawn on).
            annotated: the same frame with :attr:`overlay` already drawn (by the caller, to draw once for a video
                and the window); None: the window draws on a copy. Never modified either: toggles while paused
                redraw on a new copy of the clean frame.
            fps: the frame rate for the HUD; None: the rate of the last second of ``write()`` calls.
        """
        if self.stop_requested:
            return
        if fps is None:
            fps = self._rate()
        image = self.overlay.render(result, fps=fps) if annotated is None else annotated

        def redraw() -> None:  # after a toggle: a new drawing on a new copy (``annotated`` may be queued elsewhere)
            self._image = self.overlay.render(result, fps=fps)

        if not (self._pace(result) and self._present(image, redraw, result.frame.index)):
            self.stop_requested = True

    def _rate(self) -> float | None:
        """Calls of :meth:`write` per second over the last second of ``clock`` (None before two calls)."""
        now = self.clock()
        times = self._write_times
        times.append(now)
        while now - times[0] > 1.0:
            times.popleft()
        span = now - times[0]
        return (len(times) - 1) / span if span > 0 else None

    def show(self, image: np.ndarray) -> bool:
        """Display an already annotated ``image`` and handle keys; False when the user quits.

        A toggle key changes :attr:`overlay` for the next frames; the image shown is not redrawn.
        """
        return self._present(image, None, self.frames_shown)

    def draw_and_show(
        self, image: np.ndarray, result: FrameResult, fps: float | None = None, latency_ms: float | None = None
    ) -> bool:
        """Draw :attr:`overlay` for ``result`` on ``image`` in place (as ``overlay.annotate`` does), display it and
        handle keys; False when the user quits.

        ``image`` is usually ``result.frame.image``, so that video writers given ``result`` afterwards get the same
        pixels. A clean copy is kept so that toggles while paused redraw the frame (``image`` then holds the
        latest drawing when this returns).
        """
        clean = image.copy()
        self.overlay.annotate(image, result, fps=fps, latency_ms=latency_ms)

        def redraw() -> None:
            np.copyto(image, clean)
            self.overlay.annotate(image, result, fps=fps, latency_ms=latency_ms)

        return self._pace(result) and self._present(image, redraw, result.frame.index)

    def _pace(self, result: FrameResult) -> bool:
        """Wait until ``result``'s frame is due when its source is paced (:attr:`pace`, else
        :func:`paced_source`); False when the user quits meanwhile."""
        frame = result.frame
        pace = paced_source(frame.source) if self.pace is None else self.pace
        return not pace or self._wait_until_due(float(frame.timestamp_ms))

    def _wait_until_due(self, timestamp_ms: float) -> bool:
        """Wait (handling keys) until the frame at ``timestamp_ms`` is due, counted from the first paced frame
        and leaving out time spent paused; False when the user quits meanwhile."""
        now = self.clock()
        origin = self._pacing_origin
        went_back = self._last_timestamp_ms is not None and timestamp_ms < self._last_timestamp_ms
        self._last_timestamp_ms = timestamp_ms
        if origin is None or went_back or not np.isfinite(timestamp_ms):
            self._pacing_origin = (now, timestamp_ms, self.paused_s)
            return True
        start_s, start_ms, paused_then = origin
        due = start_s + (timestamp_ms - start_ms) / 1e3 + (self.paused_s - paused_then)
        if now - due > PACING_RESYNC_S:  # far behind: the analysis is slower than the video; do not rush
            self._pacing_origin = (now, timestamp_ms, self.paused_s)
            return True
        while now < due and not self.paused:
            if not self.apply(handle_key(self.backend.wait_key(max(1, round((due - now) * 1e3))))):
                return False
            now = self.clock()
        return True

    def close(self) -> None:
        """Destroy the window (idempotent)."""
        if self._open:
            self._open = False
            self.backend.close(self.title)

    def apply(self, action: Action) -> bool:
        """Carry out ``action`` on the current frame; False for :attr:`Action.QUIT`."""
        if action is Action.QUIT:
            return False
        if action is Action.PAUSE:
            self.paused = not self.paused
            self._dirty = True
        elif action is Action.SCREENSHOT:
            self.save_screenshot()
        elif action in TOGGLED_PART:
            part = TOGGLED_PART[action]
            on = self.overlay.toggle(part)
            if self._redraw is not None:
                self._redraw()
            later = "" if self._redraw is not None or not self.paused else " (from the next frame)"
            self._say(f"{part.replace('_', ' ')} {'on' if on else 'off'}{later}")
        return True

    def save_screenshot(self) -> Path | None:
        """Save the annotated frame on screen as a PNG in :attr:`screenshot_dir`; its path, or None on failure."""
        if self._image is None:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.screenshot_dir / f"affectlens_{stamp}_frame{self._frame_index:06d}.png"
        n = 1
        while path.exists():
            n += 1
            path = path.with_name(f"affectlens_{stamp}_frame{self._frame_index:06d}_{n}.png")
        try:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            saved = cv2.imwrite(str(path), self._image)
        except (OSError, cv2.error) as error:
            log.warning("could not save a screenshot to %s: %s", path, error)
            saved = False
        if not saved:
            self._say("screenshot failed (see log)")
            return None
        self.screenshots.append(path)
        log.info("saved screenshot %s", path)
        self._say(f"saved {path if len(str(path)) <= 60 else path.name}")
        return path

    def _present(self, image: np.ndarray, redraw: Callable[[], None] | None, frame_index: int) -> bool:
        self.frames_shown += 1
        self._image, self._redraw, self._frame_index = image, redraw, int(frame_index)
        self._fit_window(image)
        paused_at = None
        try:
            self._display()
            if not self.apply(handle_key(self.backend.wait_key(1))):
                return False
            if self.paused:
                paused_at = self.clock()
            while self.paused:
                if not self.backend.is_open(self.title):
                    return False
                if self._dirty or (self._message is not None and self.clock() >= self._message[1]):
                    self._display()
                if not self.apply(handle_key(self.backend.wait_key(self.pause_poll_ms))):
                    return False
            return self.backend.is_open(self.title)
        finally:
            self._redraw = None  # do not keep the frame's clean copy alive
            if paused_at is not None:
                self.paused_s += self.clock() - paused_at

    def _fit_window(self, image: np.ndarray) -> None:
        """Size the window to the frame (within :attr:`max_size`) on the first frame and when the size changes."""
        size = (int(image.shape[1]), int(image.shape[0]))
        if size == self._frame_size:
            return
        self._frame_size = size
        self.window_size = window_size(*size, max_size=self.max_size)
        resize = getattr(self.backend, "resize", None)
        if resize is not None:
            resize(self.title, *self.window_size)

    def _say(self, text: str, seconds: float = 2.0) -> None:
        self._message = (text, self.clock() + seconds)
        self._dirty = True

    def _display(self) -> None:
        assert self._image is not None
        self._dirty = False
        if self._message is not None and self.clock() >= self._message[1]:
            self._message = None
        if not self.paused and self._message is None:
            self.backend.show(self.title, self._image)
            return
        shown = self._image.copy()  # notes go on a copy: screenshots and video frames stay clean
        notes = (["PAUSED", KEY_HELP] if self.paused else []) + ([self._message[0]] if self._message else [])
        hud = self.overlay.hud.last_region if self.overlay.is_enabled("hud") else None
        _draw_notes(shown, notes, top=hud[3] if hud is not None else 0, big_first=self.paused)
        self.backend.show(self.title, shown)


def _draw_notes(image: np.ndarray, lines: list[str], top: int, big_first: bool) -> None:
    """White ``lines`` on a dark strip centred horizontally, from row ``top`` down (below the HUD)."""
    height, width = image.shape[:2]
    if height == 0 or width == 0 or not lines:
        return
    lay = layout_for(height, width)
    scales = [lay.small_font_scale] * len(lines)
    if big_first:
        scales[0] = lay.font_scale
    sizes = [text_size(line, scale, lay.font_thickness) for line, scale in zip(lines, scales, strict=True)]
    strip_w = max(w for w, _, _ in sizes) + 2 * lay.pad
    strip_h = sum(h + b + lay.pad for _, h, b in sizes) + lay.pad
    left, y = max(0, (width - strip_w) // 2), top + lay.pad
    darken(image, left, y, left + strip_w, y + strip_h, 0.7)
    for line, scale, (w, h, b) in zip(lines, scales, sizes, strict=True):
        y += lay.pad + h
        cv2.putText(image, line, (max(0, (width - w) // 2), y), FONT, scale, (255, 255, 255), lay.font_thickness, LINE)
        y += b
