"""Stages, running modes and the stage registry: how a capability plugs into the :class:`~affectlens.pipeline.Analyzer`.

A stage is any object with a ``name`` (its key in ``timings_ms`` and, by convention, in ``outputs``), the running
``modes`` it supports, ``__call__(result, mode) -> result`` and ``reset()`` (a new sequence starts: forget per-track
state). It reads what earlier stages put in the :class:`~affectlens.core.FrameResult` (faces, persons, outputs) and
adds its own, usually under ``result.outputs[name]`` (JSON-ready values, or objects with ``to_record()``)::

    from affectlens.stages import RunningMode, register_stage

    class Brightness:
        name = "brightness"
        modes = frozenset(RunningMode)

        def __call__(self, result, mode):
            result.outputs[self.name] = round(float(result.frame.image.mean()), 1)
            return result

        def reset(self):
            pass

    register_stage("brightness")(lambda config: Brightness())   # then AnalyzerConfig(stages=("brightness",)),
                                                                # or `affectlens analyze ... --with brightness`
    Analyzer(stages=[Brightness()])                             # or pass the object itself

Installed packages can register factories without being imported first, as entry points of the group
:data:`ENTRY_POINT_GROUP` (``name = "package.module:factory"``).

Running modes (as in MediaPipe Tasks): ``IMAGE`` (independent pictures: no state carried between calls), ``VIDEO``
(the frames of a file, in order, with media timestamps), ``LIVE`` (a camera or stream, wall-clock timestamps, only the
newest frame). A stage asked for in a mode it does not support fails before the first frame, with one line.

This module is the stage layer: it imports only :mod:`affectlens.core`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from affectlens.core import FrameResult

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "affectlens.stages"
"""Entry-point group under which installed packages register stage factories (``factory(config) -> Stage``)."""

MAX_FAILURES_IN_A_ROW = 5
"""A stage that fails on this many frames in a row, and never succeeded before, stops the run."""
MAX_WARNINGS = 10
"""Per stage: failures after this many are counted (:attr:`GuardedStage.failures`) but no longer logged one by one."""


class RunningMode(StrEnum):
    """How frames relate to each other: independent images, the frames of a video file, or a live feed."""

    IMAGE = "image"
    VIDEO = "video"
    LIVE = "live"

    @classmethod
    def parse(cls, value: RunningMode | str) -> RunningMode:
        """``"video"`` (any case) or a :class:`RunningMode` -> the mode; ValueError naming the modes otherwise."""
        if isinstance(value, RunningMode):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            names = ", ".join(mode.value for mode in cls)
            raise ValueError(f"running mode must be one of {names}, got {value!r}") from None

    @property
    def sequential(self) -> bool:
        """Frames follow each other in time (VIDEO, LIVE): tracking, smoothing and per-track state apply."""
        return self is not RunningMode.IMAGE


ALL_MODES: frozenset[RunningMode] = frozenset(RunningMode)
"""Every running mode: for a stage that needs nothing from earlier frames."""
SEQUENTIAL_MODES: frozenset[RunningMode] = frozenset({RunningMode.VIDEO, RunningMode.LIVE})
"""VIDEO and LIVE: for a stage that keeps state across frames (per track, per person)."""


@runtime_checkable
class Stage(Protocol):
    """One step of the per-frame pipeline (see the module docstring)."""

    name: str
    """Key of the stage in ``timings_ms`` (and, by convention, in ``outputs``); unique within an Analyzer."""
    modes: frozenset[RunningMode]
    """The running modes the stage supports."""

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        """Add this stage's work to ``result`` (in place or a copy) and return it."""
        ...

    def reset(self) -> None:
        """Forget all state: a new sequence (video, camera session) starts."""
        ...


StageFactory = Callable[[Any], Stage]
"""``factory(config) -> Stage``; ``config`` is the :class:`~affectlens.pipeline.AnalyzerConfig`."""


class StageError(RuntimeError):
    """A stage cannot run: unknown or duplicate name, unsupported mode, or it fails on every frame (one line)."""


_REGISTRY: dict[str, StageFactory] = {}
_entry_points_loaded = False


def register_stage(name: str, factory: StageFactory | None = None) -> Any:
    """Register ``factory(config) -> Stage`` under ``name``; usable as a decorator (``@register_stage("posture")``).

    Raises:
        StageError: ``name`` is already registered, or is not a plain lower-case name (letters, digits, ``_``, ``-``).
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name) or name != name.lower():
        raise StageError(f"a stage name is lower-case letters, digits, '_' or '-', got {name!r}")

    def add(factory: StageFactory) -> StageFactory:
        if name in _REGISTRY:
            raise StageError(f"stage {name!r} is registered twice ({_REGISTRY[name]!r} and {factory!r}): rename one")
        if not callable(factory):
            raise StageError(f"stage {name!r}: the factory must be callable (config -> Stage), got {factory!r}")
        _REGISTRY[name] = factory
        return factory

    return add(factory) if factory is not None else add


def unregister_stage(name: str) -> None:
    """Remove ``name`` from the registry (no error when it is not there); for tests and interactive sessions."""
    _REGISTRY.pop(name, None)


def list_stages() -> list[str]:
    """Names of the registered stages (including installed packages' entry points), sorted."""
    _load_entry_points()
    return sorted(_REGISTRY)


def create_stage(name: str, config: Any = None) -> Stage:
    """Build the registered stage ``name`` for ``config``.

    Raises:
        StageError: no stage of that name (the message lists the registered ones), or the factory's result is not a
            stage.
    """
    if name not in _REGISTRY:
        _load_entry_points()
    factory = _REGISTRY.get(name)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY)) or "none are registered"
        raise StageError(f"unknown stage {name!r}; registered stages: {known}")
    return check_stage(factory(config))


def check_stage(stage: Any) -> Stage:
    """``stage`` itself when it has what a :class:`Stage` needs; StageError saying what is missing otherwise."""
    name = getattr(stage, "name", None)
    what = f"stage {name!r}" if isinstance(name, str) else f"stage object {type(stage).__name__}"
    if not isinstance(name, str) or not name:
        raise StageError(f"{what} needs a `name` (a non-empty str: its key in timings_ms and outputs)")
    modes = getattr(stage, "modes", None)
    if not isinstance(modes, (frozenset, set)) or not modes or not all(isinstance(m, RunningMode) for m in modes):
        raise StageError(f"{what} needs `modes`: a non-empty frozenset of RunningMode, got {modes!r}")
    if not callable(stage) or not callable(getattr(stage, "reset", None)):
        raise StageError(f"{what} needs `__call__(result, mode) -> result` and `reset()`")
    return stage


def check_names(stages: Iterable[Stage], reserved: Iterable[str] = ()) -> None:
    """StageError when two stages share a name, or one takes a built-in step's name (``reserved``)."""
    seen = set(reserved)
    for stage in stages:
        if stage.name in seen:
            raise StageError(f"stage {stage.name!r} is used twice (names key timings_ms and outputs): rename one")
        seen.add(stage.name)


def check_modes(stages: Iterable[Stage], mode: RunningMode) -> None:
    """StageError (one line) when a stage does not support ``mode``."""
    for stage in stages:
        if mode not in stage.modes:
            supported = ", ".join(sorted(m.value for m in stage.modes))
            raise StageError(
                f"stage {stage.name!r} runs in {supported} mode only, and this source runs in {mode.value} mode"
            )


class GuardedStage:
    """A stage whose failure on one frame is a warning, not the end of the run.

    A failure (any ``Exception``) logs one line naming the stage and the frame, and the frame goes on without this
    stage's work (its result as it was before the stage). A stage that fails on its first
    :data:`MAX_FAILURES_IN_A_ROW` frames is broken, not unlucky: :class:`StageError` stops the run, with one line.

    Attributes:
        failures: frames on which the stage failed.
        successes: frames on which it ran.
    """

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.name = stage.name
        self.modes = frozenset(stage.modes)
        self.failures = 0
        self.successes = 0
        self._in_a_row = 0

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        try:
            out = self.stage(result, mode)
        except Exception as error:  # a plugin's bug must not end hours of analysis on its first bad frame
            return self._failed(result, error)
        if not isinstance(out, FrameResult):
            return self._failed(result, TypeError(f"returned {type(out).__name__}, not the FrameResult"))
        self.successes += 1
        self._in_a_row = 0
        return out

    def _failed(self, result: FrameResult, error: BaseException) -> FrameResult:
        result.outputs.pop(self.name, None)  # whatever it wrote before failing is not its output
        self.failures += 1
        self._in_a_row += 1
        reason = f"{type(error).__name__}: {_first_line(error)}"
        frame = result.frame.index
        if self.successes == 0 and self._in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise StageError(
                f"stage {self.name!r} failed on each of the first {self._in_a_row} frames (last, frame {frame}: "
                f"{reason}); fix it or leave it out"
            ) from error
        if self.failures <= MAX_WARNINGS:
            more = "; further failures of this stage are counted, not shown" if self.failures == MAX_WARNINGS else ""
            log.warning(
                "stage %r failed on frame %d (%s); its output is empty for this frame%s", self.name, frame, reason, more
            )
        return result

    def reset(self) -> None:
        self._in_a_row = 0
        self.stage.reset()

    def __repr__(self) -> str:
        return f"GuardedStage({self.stage!r})"


def guarded(stages: Sequence[Stage]) -> list[GuardedStage]:
    """Each of ``stages`` wrapped in a :class:`GuardedStage` (once)."""
    return [s if isinstance(s, GuardedStage) else GuardedStage(s) for s in stages]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _load_entry_points() -> None:
    """Register the stage factories that installed packages declare (once; a broken one is a warning)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _REGISTRY:
            continue
        try:
            register_stage(entry.name, entry.load())
        except Exception as error:  # one broken plugin must not break every run
            log.warning("stage plugin %s (%s) could not be loaded: %s", entry.name, entry.value, _first_line(error))
