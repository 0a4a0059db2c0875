"""The ``Analyzer``: a detector, an emotion model and stages built from one config, and THE frame loop.

    from affectlens.pipeline import Analyzer
    analyzer = Analyzer()                                  # default detector and packaged model
    result = analyzer.analyze_image(bgr_image)             # one picture -> FrameResult (IMAGE mode)
    for result in analyzer.stream("video.mp4"):            # FrameResults in frame order (VIDEO mode)
        print(result.frame.index, result.faces.emotion)
    summary = analyzer.run("video.mp4", sinks=[JsonlSink("out.jsonl")])   # stream() into sinks

Every analysed frame goes through these steps, each timed under its name in ``timings_ms``:

    cut -> detect -> track -> emotion -> smooth -> engagement -> the stages of ``AnalyzerConfig.stages`` and
    ``Analyzer(stages=...)``

``cut`` (the scene-cut check) sees every decoded frame, also those that ``every`` skips, and marks the next analysed
frame (``FrameResult.scene_cut``); ``track`` keeps only faces on confirmed tracks, so faces that tracking drops never
reach the emotion model. ``cut``, ``track`` and ``engagement`` run in VIDEO and LIVE mode only (see
:class:`~affectlens.stages.RunningMode`); ``smooth`` smooths per track there and only applies the ``uncertain``
threshold to still images. With ``AnalyzerConfig.overlap`` the detector of frame N+1 runs on a worker thread while the
emotion model classifies frame N (both release the GIL), except in LIVE mode, where it would add latency.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from affectlens import interrupts
from affectlens.core import Faces, Frame, FrameResult
from affectlens.stages import (
    ALL_MODES,
    SEQUENTIAL_MODES,
    RunningMode,
    Stage,
    check_modes,
    check_names,
    check_stage,
    create_stage,
    guarded,
)
from affectlens.track.smoothing import label_frame

if TYPE_CHECKING:
    from affectlens.records import VideoRecords

BUILTIN_STEPS = ("cut", "detect", "track", "emotion", "smooth", "engagement")
"""The built-in steps, in order; with ``total`` and ``latency`` these names are reserved in ``timings_ms``."""
RESERVED_NAMES = (*BUILTIN_STEPS, "total", "latency")


class Sink(Protocol):
    """Anything that consumes FrameResults (see :mod:`affectlens.io.sinks`)."""

    def write(self, result: FrameResult) -> None: ...


@dataclass
class AnalyzerConfig:
    """Settings of an :class:`Analyzer`.

    Attributes:
        detector: face detector name (``affectlens info`` lists them).
        min_confidence: minimum detector score in [0, 1].
        max_faces: keep at most this many faces per frame (0 = all).
        detect_tiles: detection in overlapping tiles for frames much larger than the detector's input (group
            photos, crowds): ``"auto"`` (frames from a 1024 px long side), ``"off"``, or N tiles across the long side
            (see :mod:`affectlens.detect.tiling`).
        model: path of an exported ONNX emotion model; None = the packaged default.
        head: the model head whose classes are the faces' ``probs`` and shown ``emotion`` (None: the main head,
            ``emotion``; e.g. ``fer2013``); the other heads' outputs go to records under ``heads``.
        uncertain_below: show ``uncertain`` when the top probability (smoothed in video, raw for still images and
            without smoothing) is below this; None = the model's threshold for ``head``, calibrated on validation
            data (``ModelConfig.uncertain_below``), or the smoother's default for a model without one.
        every: analyse every N-th frame of a video (records are written for analysed frames only).
        model_threads: ONNX Runtime threads for the emotion model.
        tracking: give faces stable ids across the frames of a video, camera or stream (not across still images).
        smoothing: smooth emotions, valence/arousal and boxes per track over time, with a hysteresis label.
        smoothing_window: > 0 averages the last N observations of a track instead of the time-based EMA.
        engagement_weights: emotion -> weight overrides of the engagement score (None = defaults).
        track_confidence: in a video, faces are reported once they belong to a track, and a track starts only from
            detections scoring at least this (later, weaker detections may continue it). This is what keeps a
            cartoon's one-frame "faces" (BlazeFace scores 0.5-0.69 on no_face.mp4) out of the records, while small
            real faces scoring 0.5-0.7 still count once their track exists.
        stages: names of registered stages to add after the built-in steps, in this order (see
            :mod:`affectlens.stages`; ``affectlens analyze --with NAME,...``).
        overlap: in :meth:`Analyzer.stream`, detect frame N+1 on a worker thread while frame N is classified (VIDEO
            and IMAGE mode: sources that deliver frames as fast as they are taken). Not in LIVE mode: there frame N's
            result would wait for frame N+1 to arrive from the camera, a whole frame interval of added latency.
    """

    detector: str = "mediapipe"
    min_confidence: float = 0.5
    max_faces: int = 0
    detect_tiles: str | int = "auto"
    model: str | None = None
    every: int = 1
    model_threads: int = 1
    tracking: bool = True
    smoothing: bool = True
    smoothing_window: int = 0
    engagement_weights: dict[str, float] | None = None
    track_confidence: float = 0.7
    head: str | None = None
    uncertain_below: float | None = None
    stages: tuple[str, ...] = ()
    overlap: bool = True

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"--every must be >= 1, got {self.every}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"--min-confidence must be in [0, 1], got {self.min_confidence}")
        if self.max_faces < 0:
            raise ValueError(f"--max-faces must be >= 0, got {self.max_faces}")
        from affectlens.detect.tiling import parse_tiles

        try:
            self.detect_tiles = parse_tiles(self.detect_tiles)
        except ValueError:
            raise ValueError(
                f"--detect-tiles must be auto, off or a number of tiles across the frame's long side >= 1, "
                f"got {self.detect_tiles!r}"
            ) from None
        if self.smoothing_window < 0:
            raise ValueError(f"--smoothing must be >= 0 frames, got {self.smoothing_window}")
        if not 0.0 <= self.track_confidence <= 1.0:
            raise ValueError(f"--track-confidence must be in [0, 1], got {self.track_confidence}")
        if self.uncertain_below is not None and not 0.0 <= self.uncertain_below <= 1.0:
            raise ValueError(f"uncertain_below must be in [0, 1], got {self.uncertain_below}")
        names = self.stages.split(",") if isinstance(self.stages, str) else self.stages
        self.stages = tuple(str(name).strip() for name in names if str(name).strip())


@dataclass
class RunSummary:
    """What a :meth:`Analyzer.run` did: frames read and analysed, faces found, speed, and why it stopped early.

    ``frames_read`` counts the frames that reached every output (a frame interrupted while being analysed is not
    counted), ``last_frame`` is the index of the last of them (None: none did).
    """

    frames_read: int = 0
    frames_analyzed: int = 0
    faces: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    warning: str | None = None
    interrupted: bool = False
    last_frame: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames_read / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SkippedFrame(FrameResult):
    """A frame that ``AnalyzerConfig.every`` skipped, yielded by ``Analyzer.stream(..., every_frame=True)`` so that
    video writers and the window get every frame: it carries the last analysed frame's ``faces``, ``persons`` and
    ``outputs``. Record sinks should not write it (``Analyzer.run`` does not)."""


# -- the built-in steps ------------------------------------------------------------------------------------------------
class DetectStage:
    """``detect``: the face detector on the whole frame (``result.faces`` replaced)."""

    name = "detect"
    modes = ALL_MODES

    def __init__(self, detector: Any) -> None:
        self.detector = detector

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        result.faces = self.detector.detect(result.frame.image)
        return result

    def reset(self) -> None:
        pass


class TrackStage:
    """``track``: stable ids (:class:`~affectlens.track.tracker.FaceTracker`); faces without a confirmed track are
    dropped here, before classification, so they never cost the emotion model."""

    name = "track"
    modes = SEQUENTIAL_MODES

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        faces = self.tracker.update(result.faces, result.frame.timestamp_ms, scene_cut=result.scene_cut)
        untracked = faces.track_id < 0
        result.faces = faces[~untracked] if untracked.any() else faces
        return result

    def reset(self) -> None:
        self.tracker.reset()


class ClassifyStage:
    """``emotion``: the emotion model on every face of ``result.faces`` (one batch)."""

    name = "emotion"
    modes = ALL_MODES

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        result.faces = self.model.classify(result.frame.image, result.faces)
        return result

    def reset(self) -> None:
        pass


class SmoothStage:
    """``smooth``: per-track smoothing and the hysteresis label in VIDEO/LIVE mode (when a smoother is given), then
    the ``uncertain`` threshold on the faces that have no label yet (still images, ``--no-smoothing``)."""

    name = "smooth"
    modes = ALL_MODES

    def __init__(self, smoother: Any | None, uncertain_below: float | None) -> None:
        self.smoother = smoother
        self.uncertain_below = uncertain_below

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        faces = result.faces
        if self.smoother is not None and mode.sequential:
            faces = self.smoother.update(faces, result.frame.timestamp_ms, scene_cut=result.scene_cut)
        result.faces = label_frame(faces, self.uncertain_below)
        return result

    def reset(self) -> None:
        if self.smoother is not None:
            self.smoother.reset()


class EngagementStage:
    """``engagement``: the per-track engagement score (:class:`~affectlens.analytics.engagement.EngagementScorer`)."""

    name = "engagement"
    modes = SEQUENTIAL_MODES

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        result.faces = self.scorer.update(result.faces, result.frame.timestamp_ms, scene_cut=result.scene_cut)
        return result

    def reset(self) -> None:
        self.scorer.reset()


class SceneCuts:
    """``cut``: the scene-cut check, fed EVERY decoded frame (:meth:`observe`), also those that ``every`` skips, so
    that a cut between two analysed frames is seen and a gap between them is not mistaken for one. A cut seen since
    the last analysed frame marks the next one (:meth:`take`)."""

    name = "cut"

    def __init__(self, detector: Any | None = None) -> None:
        if detector is None:
            from affectlens.track.tracker import SceneCutDetector

            detector = SceneCutDetector()
        self.detector = detector
        self._cut = False
        self._ms = 0.0
        self._last: Frame | None = None

    def observe(self, frame: Frame) -> None:
        """Compare ``frame`` with the previous decoded frame (once per frame)."""
        if frame is self._last:
            return
        t0 = time.perf_counter()
        self._last = frame
        self._cut |= bool(self.detector.update(frame.image))
        self._ms += (time.perf_counter() - t0) * 1e3

    def take(self) -> tuple[bool, float]:
        """(a cut since the last call, ms spent observing since then); then start over."""
        cut, ms = self._cut, self._ms
        self._cut, self._ms = False, 0.0
        return cut, ms

    def reset(self) -> None:
        self.detector.reset()
        self._cut, self._ms, self._last = False, 0.0, None


# -- the analyzer ------------------------------------------------------------------------------------------------------
class Analyzer:
    """Faces and emotions for frames, images and whole sources.

    Args:
        config: the settings (None: defaults, changed by keyword ``overrides``).
        detector: a face detector to use instead of ``config.detector``: any object with ``detect(image) -> Faces``
            (see :class:`~affectlens.detect.FaceDetector`). The caller keeps ownership (it is not closed here). A
            name (``"haar"``) is the config field, as a keyword override.
        emotion_model: an emotion model to use instead of ``config.model``: any object with
            ``classify(image, faces) -> Faces`` and ``labels`` (optionally ``uncertain_below``), like
            :class:`~affectlens.models.runtime.EmotionModel`.
        stages: stages to run after the built-in steps and ``config.stages``: objects, or names of registered stages
            (see :mod:`affectlens.stages`); names first, in their order, then the objects.

    Raises:
        StageError: an unknown stage name, two stages with one name, or an object that is not a stage.
    """

    def __init__(
        self,
        config: AnalyzerConfig | None = None,
        *,
        detector: Any = None,
        emotion_model: Any = None,
        stages: Iterable[Stage | str] = (),
        **overrides: Any,
    ) -> None:
        if isinstance(detector, str):  # Analyzer(detector="haar"): the config field, as before
            overrides["detector"], detector = detector, None
        if config is None:
            config = AnalyzerConfig(**overrides)
        elif overrides:
            raise TypeError("pass either an AnalyzerConfig or keyword overrides, not both")
        self.config = config
        # the user's stages first: a typo in a name fails in milliseconds, before the models load
        named = [*config.stages, *(stage for stage in stages if isinstance(stage, str))]
        created = [create_stage(name, config) for name in named]
        user = created + [check_stage(stage) for stage in stages if not isinstance(stage, str)]
        check_names(user, reserved=RESERVED_NAMES)
        self._owned: list[Any] = list(created)
        if emotion_model is None:
            from affectlens.models.runtime import EmotionModel

            emotion_model = EmotionModel(config.model, threads=config.model_threads, head=config.head)
        self.emotion_model = emotion_model
        model_threshold = getattr(emotion_model, "uncertain_below", None)
        self.uncertain_below = config.uncertain_below if config.uncertain_below is not None else model_threshold
        if detector is None:
            from affectlens.detect import create_detector

            detector = create_detector(
                config.detector,
                min_confidence=config.min_confidence,
                max_faces=config.max_faces,
                tiles=config.detect_tiles,
            )
            self._owned.append(detector)
        self.detector = detector
        self.cuts = SceneCuts()
        self.builtin: list[Stage] = self._builtin_stages(config)
        self.stages: list[Stage] = list(guarded(user))
        self._chains: dict[RunningMode, list[Stage]] = {}
        self._sequence: RunningMode | None = None  # the mode of the sequence in progress (VIDEO or LIVE)

    def _builtin_stages(self, config: AnalyzerConfig) -> list[Stage]:
        steps: list[Stage] = [DetectStage(self.detector)]
        smoother = None
        if config.tracking:
            from affectlens.track.tracker import FaceTracker

            start = max(config.track_confidence, config.min_confidence)
            steps.append(TrackStage(FaceTracker(high_score=start, new_track_score=start)))
            if config.smoothing:
                from affectlens.track.smoothing import EmotionSmoother

                smoother = EmotionSmoother(window=config.smoothing_window, uncertain_below=self.uncertain_below)
        steps += [ClassifyStage(self.emotion_model), SmoothStage(smoother, self.uncertain_below)]
        if config.tracking:
            from affectlens.analytics.engagement import EngagementScorer

            steps.append(EngagementStage(EngagementScorer(config.engagement_weights)))
        return steps

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.emotion_model.labels)

    def close(self) -> None:
        """Free what this analyzer built (its detector, its registered stages); objects passed in stay open."""
        for owned in self._owned:
            close = getattr(owned, "close", None)
            if callable(close):
                close()
        self._owned = []

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- modes and steps ---------------------------------------------------------------------------------------------
    def chain(self, mode: RunningMode | str) -> list[Stage]:
        """The stages that run on an analysed frame in ``mode``, in order (``cut`` runs before them, per decoded
        frame, in VIDEO/LIVE mode).

        Raises:
            StageError: one of the user's stages does not support ``mode`` (one line).
        """
        mode = RunningMode.parse(mode)
        chain = self._chains.get(mode)
        if chain is None:
            check_modes(self.stages, mode)
            chain = [stage for stage in self.builtin if mode in stage.modes] + self.stages
            self._chains[mode] = chain
        return chain

    def check(self, mode: RunningMode | str) -> RunningMode:
        """The mode, once every stage has been checked to support it (call before a run creates its outputs).

        Raises:
            ValueError: an unknown mode. StageError: a stage that does not support it.
        """
        mode = RunningMode.parse(mode)
        self.chain(mode)
        return mode

    def reset(self) -> None:
        """Forget all state (tracks, smoothing, the previous frame of the cut check): a new sequence starts."""
        self.cuts.reset()
        for stage in (*self.builtin, *self.stages):
            stage.reset()
        self._sequence = None

    def _enter(self, mode: RunningMode | str) -> RunningMode:
        mode = self.check(mode)
        if mode.sequential:
            if self._sequence is None:
                self._sequence = mode
            elif self._sequence is not mode:
                raise ValueError(
                    f"this analyzer is in the middle of a {self._sequence.value} sequence: call reset() before "
                    f"processing frames in {mode.value} mode"
                )
        return mode

    # -- one frame ---------------------------------------------------------------------------------------------------
    def process(self, frame: Frame, mode: RunningMode | str) -> FrameResult:
        """Run every step on one frame.

        Args:
            frame: the frame.
            mode: ``IMAGE`` (an independent picture: no state is read or kept), ``VIDEO`` or ``LIVE`` (the next frame
                of a sequence, in time order: cuts, tracks, smoothing and engagement carry over; a sequence keeps
                its mode until :meth:`reset`).

        Returns:
            The :class:`FrameResult`, ``timings_ms`` in ms per step and ``total``.

        Raises:
            ValueError: an unknown mode, or VIDEO and LIVE frames mixed without a :meth:`reset` between them.
            StageError: a stage that does not support ``mode``, or one that failed on every frame so far.
        """
        mode = self._enter(mode)
        return self._finish(self._detect(self._start(frame, mode), mode), mode)

    def analyze_frame(self, frame: Frame, sequential: bool = False) -> FrameResult:
        """:meth:`process` in VIDEO mode when ``sequential`` (the frame follows the previous one in time), else in
        IMAGE mode (kept for existing callers)."""
        return self.process(frame, RunningMode.VIDEO if sequential else RunningMode.IMAGE)

    def analyze_image(self, image: np.ndarray | str | Path) -> FrameResult:
        """One still image -> FrameResult (frame index 0, timestamp 0; IMAGE mode).

        Args:
            image: a uint8 array, (H, W, 3) BGR (OpenCV order), (H, W) or (H, W, 1) gray, or (H, W, 4) BGRA; or the
                path of an image file (any format OpenCV reads; 16-bit, gray, CMYK become 8-bit BGR).

        Raises:
            ValueError: an array of another shape or dtype. affectlens.io.SourceError: an unreadable file.
        """
        from affectlens.io.image_source import as_bgr, read_image

        if isinstance(image, (str, Path)):
            source = {"kind": "image", "path": str(image), "file": Path(image).name}
            frame = Frame(image=read_image(image), index=0, timestamp_ms=0.0, source=source)
        else:
            frame = Frame(image=as_bgr(image), index=0, timestamp_ms=0.0, source={"kind": "array"})
        return self.process(frame, RunningMode.IMAGE)

    def _start(self, frame: Frame, mode: RunningMode) -> FrameResult:
        """An empty result for ``frame``, with the scene cut seen since the last analysed frame (VIDEO/LIVE)."""
        if not mode.sequential:
            return FrameResult(frame=frame, faces=Faces.empty(), timings_ms={})
        self.cuts.observe(frame)
        cut, ms = self.cuts.take()
        return FrameResult(frame=frame, faces=Faces.empty(), timings_ms={"cut": ms}, scene_cut=cut)

    def _detect(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        """The first step (on the worker thread when overlapped): it needs nothing from earlier frames."""
        return _timed(self.builtin[0], result, mode)

    def _finish(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        """Every step after detection, in order, on the calling thread; ``total`` is the sum of the steps' times."""
        for stage in self.chain(mode)[1:]:
            result = _timed(stage, result, mode)
        timings = result.timings_ms
        timings["total"] = sum(v for k, v in timings.items() if k not in ("total", "latency"))
        return result

    # -- THE frame loop ----------------------------------------------------------------------------------------------
    def stream(
        self,
        source: str | Path | int | Iterable[Frame],
        mode: RunningMode | str | None = None,
        *,
        every_frame: bool = False,
        progress: bool = False,
        source_mode: str | None = None,
        recursive: bool = False,
        video_id: str | None = None,
    ) -> Generator[FrameResult, None, None]:
        """Analyse every ``config.every``-th frame of ``source`` and yield the results in frame order.

        The one frame loop of the package (``run``, the CLI and the tests use it): it opens and closes the source,
        starts a new sequence (:meth:`reset`), feeds the scene-cut check every decoded frame, skips frames, overlaps
        detection with classification (``config.overlap``, not in LIVE mode), honours Ctrl-C (see
        :mod:`affectlens.interrupts`) and shows progress. Work starts at the first ``next()``; closing the generator
        early (``break``, ``close()``, an exception) closes the source and stops the worker thread.

        Args:
            source: a path/URL/camera index (opened with :func:`affectlens.io.open_source`), an opened
                :class:`~affectlens.io.FrameSource` (closed when the stream ends), or any iterable of Frames.
            mode: the :class:`~affectlens.stages.RunningMode`; None: IMAGE for images and folders, LIVE for sources
                read in live mode, VIDEO otherwise (also for an iterable of Frames).
            every_frame: also yield the frames that ``config.every`` skips, as :class:`SkippedFrame` results.
            progress: show a progress bar (frames, fps, faces; ETA for sources with a known length).
            source_mode: ``"file"`` or ``"live"`` for a source given as a path/URL/camera index (see
                :func:`affectlens.io.open_source`).
            recursive: for a folder given by path, also read its subfolders.
            video_id: an id set as ``frame.source["video"]`` on every frame, so that records carry it (``video``).

        Yields:
            One :class:`FrameResult` per analysed frame (and per skipped one with ``every_frame``); ``timings_ms``
            has ``latency`` (ms from the frame's capture to now) when the source stamped ``captured_ns``.

        Raises:
            StageError: a stage that does not support the mode (before the first frame), or fails on every frame.
        """
        opened = _open(source, source_mode, recursive)
        bar = None
        worker: ThreadPoolExecutor | None = None
        try:
            mode = self.check(mode if mode is not None else mode_of(opened))
            self.reset()
            self._enter(mode)
            frames: Iterable[Frame] = opened if opened is not None else source  # type: ignore[assignment]
            every = self.config.every if mode.sequential else 1  # independent pictures are never skipped
            bar = _progress_bar(opened) if progress else None
            meter = _FpsMeter() if bar is not None else None
            if self.config.overlap and mode is not RunningMode.LIVE:  # see AnalyzerConfig.overlap
                worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectlens-detect")
            pending: Future[FrameResult] | None = None  # the analysed frame whose detection is under way
            held: list[Frame] = []  # frames skipped after `pending`: yielded once it is finished (keeps the overlap)
            last: FrameResult | None = None  # the latest finished analysed frame
            for frame in frames:
                interrupts.check()  # a Ctrl-C held back (or swallowed by a library) stops here
                if video_id is not None:
                    frame.source = {**frame.source, "video": video_id}  # a copy: sources may share one dict
                analysed = frame.index % every == 0 or (last is None and pending is None)
                if mode.sequential:
                    self.cuts.observe(frame)  # every decoded frame, so that `every` causes no false cut
                if analysed:
                    result = self._start(frame, mode)
                    if worker is None:
                        last = self._finish(self._detect(result, mode), mode)
                        yield _stamped(last)
                    else:
                        future = worker.submit(self._detect, result, mode)
                        if pending is not None:  # frame N is classified while frame N+1 is detected
                            last = self._finish(pending.result(), mode)
                            yield _stamped(last)
                            yield from (_stamped(_skipped(skipped, last)) for skipped in held)
                            held.clear()
                        pending = future
                elif every_frame:
                    if pending is not None:
                        held.append(frame)
                    else:
                        assert last is not None
                        yield _stamped(_skipped(frame, last))
                if bar is not None and meter is not None:
                    fps = meter.tick()
                    bar.update(1)
                    faces = len(last.faces) if last is not None else 0
                    bar.set_postfix(fps=f"{fps:.0f}" if fps is not None else "-", faces=faces, refresh=False)
            if pending is not None:
                last = self._finish(pending.result(), mode)
                pending = None
                yield _stamped(last)
                yield from (_stamped(_skipped(skipped, last)) for skipped in held)
        finally:
            with interrupts.deferred(raise_pending=False):  # cleanup is not cut short by a (second) Ctrl-C
                if worker is not None:
                    worker.shutdown(wait=True, cancel_futures=True)
                if bar is not None:
                    bar.close()
                if opened is not None:
                    opened.close()

    def run(
        self,
        source: str | Path | int | Iterable[Frame],
        sinks: Sequence[Sink] = (),
        *,
        progress: bool = False,
        annotated: Sequence[Sink] = (),
        show: bool = False,
        mode: str | None = None,
        recursive: bool = False,
        screenshot_dir: str | Path = ".",
        overlay: Any = None,
        running_mode: RunningMode | str | None = None,
        video_id: str | None = None,
    ) -> RunSummary:
        """Analyse every frame (every ``config.every``-th) of ``source`` and hand each result to the sinks.

        Built on :meth:`stream`. A frame reaches every output or none.

        Args:
            source: a path/URL/camera index (opened with :func:`affectlens.io.open_source`), an opened
                :class:`~affectlens.io.FrameSource` (closed when the run ends), or any iterable of Frames.
            sinks: record sinks, given each analysed FrameResult (JSONL, CSV, metrics...); they never see drawn pixels.
            progress: show a progress bar (frames, fps, ETA) for sources with a known length.
            annotated: sinks that want the frame with the overlay drawn on it (video writers), given EVERY frame, as a
                result whose ``frame.image`` is a drawn copy.
            show: display the annotated frames in a window (keys: space pause, p bars, v valence-arousal plane,
                g sparklines, s screenshot, q/Esc quit).
            mode: ``"file"`` (every frame, media timestamps) or ``"live"`` (newest frame only) for a source given
                as a path/URL/camera index; None picks by source (see :func:`affectlens.io.open_source`).
            recursive: for a folder given by path, also read its subfolders.
            screenshot_dir: where ``s`` saves screenshots in the window.
            overlay: the :class:`affectlens.render.Overlay` that draws on annotated and shown frames (e.g.
                ``Overlay.from_draw("boxes,labels")``); None = a default one.
            running_mode: the :class:`~affectlens.stages.RunningMode` (None: from the source, see :meth:`stream`).
            video_id: an id that every record carries as ``video`` (``frame.source["video"]``; see :meth:`stream`).

        Returns:
            A :class:`RunSummary`. Ctrl-C (or SIGTERM under the CLI) stops the run cleanly between frames:
            ``summary.interrupted`` is True, and every output holds the same frames, up to ``summary.last_frame``.

        Raises:
            StageError: a stage that does not support the source's mode (before any frame), or fails on every frame.
        """
        opened = _open(source, mode, recursive)
        window = None
        try:
            running = self.check(running_mode if running_mode is not None else mode_of(opened))
            if not (annotated or show):
                overlay = None
            elif overlay is None:
                from affectlens.render import Overlay

                overlay = Overlay()
            if show:
                from affectlens.render import LiveWindow

                window = LiveWindow("affectlens", overlay, screenshot_dir=screenshot_dir)
        except BaseException:
            if opened is not None:
                opened.close()
            raise
        summary = RunSummary()
        fps_meter = _FpsMeter()
        started = time.perf_counter()
        results = self.stream(
            opened if opened is not None else source, running, every_frame=True, progress=progress, video_id=video_id
        )
        with interrupts.stop_on_signals((signal.SIGINT,)):  # no-op under the CLI, which handles SIGTERM too
            try:
                for result in results:
                    analysed = not isinstance(result, SkippedFrame)
                    fps = fps_meter.tick()
                    keep_going = True
                    drawn = None
                    if overlay is not None:  # drawn once, on a copy: record sinks never see the overlay's pixels
                        latency = result.timings_ms.get("latency") if running is RunningMode.LIVE else None
                        image = overlay.render(result, fps=fps, latency_ms=latency)
                        if window is not None:  # the window is a sink too: shows, paces, handles keys and pause
                            window.write(result, annotated=image, fps=fps)
                            keep_going = not window.stop_requested
                        drawn = dataclasses.replace(result, frame=dataclasses.replace(result.frame, image=image))
                    with interrupts.deferred():  # a frame reaches every output or none: Ctrl-C waits for this
                        if analysed:
                            for sink in sinks:
                                sink.write(result)
                        if drawn is not None:
                            for sink in annotated:
                                sink.write(drawn)
                        summary.frames_read += 1
                        summary.last_frame = result.frame.index
                        if analysed:
                            summary.frames_analyzed += 1
                            summary.faces += len(result.faces)
                            summary.frames_with_faces += len(result.faces) > 0
                    if not keep_going:
                        break
            except KeyboardInterrupt:
                summary.interrupted = True
            finally:
                with interrupts.deferred(raise_pending=False):  # cleanup is not cut short by a (second) Ctrl-C
                    results.close()  # stops the worker, closes the progress bar and the source
                    summary.seconds = time.perf_counter() - started - (window.paused_s if window is not None else 0)
                    if window is not None:
                        window.close()
                    if opened is not None:
                        opened.close()
                        summary.stopped_early = opened.stopped_early
                        summary.warning = opened.error
                summary.interrupted = summary.interrupted or interrupts.received() is not None
        return summary

    def analyze_video(self, source: str | Path | int | Iterable[Frame], **run_kwargs: Any) -> VideoRecords:
        """Analyse a whole video (or any source :meth:`run` takes) and keep its records, not its images.

        Args:
            source: as for :meth:`run`.
            run_kwargs: keywords of :meth:`run` (``video_id``, ``progress``, ``mode``...); ``sinks`` are given the
                results too.

        Returns:
            A :class:`~affectlens.records.VideoRecords`: ``records`` (the JSONL records, as dicts), ``summary`` (the
            :class:`RunSummary`), ``.to_pandas()`` / ``.to_polars()`` (one row per face per frame, as
            :func:`affectlens.read_records` reads the run's JSONL).
        """
        from affectlens.records import RecordCollector, VideoRecords

        collector = RecordCollector()
        sinks = [*run_kwargs.pop("sinks", ()), collector]
        summary = self.run(source, sinks, **run_kwargs)
        return VideoRecords(collector.records, summary)


def mode_of(source: Any) -> RunningMode:
    """The running mode for an opened source: IMAGE for images and folders, LIVE in live mode, else VIDEO (also for
    None: an iterable of Frames)."""
    if source is None:
        return RunningMode.VIDEO
    if getattr(source, "kind", None) in ("image", "folder"):
        return RunningMode.IMAGE
    return RunningMode.LIVE if getattr(source, "live", False) else RunningMode.VIDEO


def _open(source: Any, source_mode: str | None, recursive: bool) -> Any:
    """The :class:`~affectlens.io.FrameSource` for ``source`` (opened here for a path/URL/camera index), or None for
    any other iterable of Frames."""
    from affectlens.io import FrameSource, open_source

    if isinstance(source, FrameSource):
        return source
    if isinstance(source, (str, Path, int)):
        return open_source(source, mode=source_mode, recursive=recursive)
    return None


def _timed(stage: Stage, result: FrameResult, mode: RunningMode) -> FrameResult:
    t0 = time.perf_counter()
    result = stage(result, mode)
    result.timings_ms[stage.name] = (time.perf_counter() - t0) * 1e3
    return result


def _stamped(result: FrameResult) -> FrameResult:
    """``result`` with ``timings_ms["latency"]``: ms from the frame's capture (``source["captured_ns"]``) to now."""
    captured = result.frame.source.get("captured_ns")
    if captured is not None:
        result.timings_ms["latency"] = (time.perf_counter_ns() - captured) / 1e6
    return result


def _skipped(frame: Frame, last: FrameResult) -> SkippedFrame:
    return SkippedFrame(
        frame=frame, faces=last.faces, timings_ms={"total": 0.0}, persons=last.persons, outputs=last.outputs
    )


class _FpsMeter:
    """Frames per second over the last ~1 s of wall-clock time."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self.times: deque[float] = deque()

    def tick(self) -> float | None:
        """Count a frame; the rate so far (None at the first frame: no interval measured yet, nothing to show)."""
        now = time.perf_counter()
        self.times.append(now)
        while now - self.times[0] > self.window_s:
            self.times.popleft()
        span = now - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else None


def _progress_bar(source: Any) -> Any:
    from tqdm import tqdm

    total = getattr(source, "frame_count", None)
    return tqdm(total=total if total and total > 0 else None, unit="frame", desc="analyze", dynamic_ncols=True)
