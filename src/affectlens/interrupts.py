"""Stop signals as one clean interruption: Ctrl-C (SIGINT) and SIGTERM (``timeout``, ``docker stop``, systemd) alike.

    from affectlens import interrupts

    with interrupts.stop_on_signals():       # the CLI, around everything it does
        ...
        with interrupts.deferred():          # a frame's outputs are written as a unit
            write_everything()
        interrupts.check()                   # raise a stop signal that arrived while deferred

Rules, while :func:`stop_on_signals` is active:

- The first stop signal raises :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, at once, except
  while a module is being imported (a ``KeyboardInterrupt`` inside a C extension's import surfaces as a misleading
  ``ImportError``) or inside :func:`deferred`; then it is raised when the deferred block ends, or at the next
  :func:`check`.
- Later stop signals are ignored: the run is already stopping and its outputs are being finalised, so two quick
  Ctrl-Cs still end with exit code 130 and complete files (``kill -9`` still ends the process at once).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

#: The signals that stop a run cleanly.
STOP_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which, ``exit_code`` is the shell convention 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@dataclass
class _State:
    installs: int = 0  # nesting depth of stop_on_signals (only the outermost installs and resets)
    received: int | None = None  # the first stop signal
    pending: bool = False  # received but not raised yet (it arrived while deferred or importing)
    deferred: int = 0  # nesting depth of deferred()
    previous: dict[int, Any] = field(default_factory=dict)


_state = _State()


def _importing(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _state.received is not None:
        return  # a repeat: the run is already stopping
    _state.received = signum
    if _state.deferred or _importing(frame):
        _state.pending = True
        return
    raise Interrupted(signum)


def _is_default(signum: int, handler: Any) -> bool:
    return handler in (signal.SIG_DFL, None) or (signum == signal.SIGINT and handler is signal.default_int_handler)


@contextmanager
def stop_on_signals(signals: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
    """Handle ``signals`` by the rules of this module while the block runs.

    Only signals that still have their default handler are taken over (a host application's own handler, e.g. a
    notebook's, is left alone), only from the main thread, and the previous handlers are restored afterwards.
    Nested uses are no-ops.
    """
    if _state.installs or threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.installs = 1
    _state.received, _state.pending, _state.deferred = None, False, 0
    _state.previous = {}
    for signum in signals:
        current = signal.getsignal(signum)
        if _is_default(signum, current):
            _state.previous[signum] = current
            signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        for signum, handler in _state.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        _state.previous = {}
        _state.installs = 0
        _state.received, _state.pending = None, False


def received() -> int | None:
    """The first stop signal received under :func:`stop_on_signals` (None: none)."""
    return _state.received


def check() -> None:
    """Raise :class:`Interrupted` if a stop signal was received (even one raised before and swallowed somewhere)."""
    if _state.received is not None:
        _state.pending = False
        raise Interrupted(_state.received)


@contextmanager
def deferred(*, raise_pending: bool = True) -> Iterator[None]:
    """Hold back a stop signal while the block runs; it is raised when the block ends without an error.

    With ``raise_pending=False`` it is only recorded: the caller reads :func:`received` (used by cleanup code that
    must not end with an exception).
    """
    _state.deferred += 1
    try:
        yield
    finally:
        _state.deferred -= 1
    if _state.deferred == 0 and _state.pending:
        _state.pending = False
        if raise_pending and _state.received is not None:
            raise Interrupted(_state.received)
