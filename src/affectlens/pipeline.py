"""The ``Analyzer``: builds detector + emotion model from one config and runs sources into sinks.

from affectlens.pipeline import Analyzer
analyzer = Analyzer()                       # default detector and packaged model
result = analyzer.analyze_image(bgr_image)  # -> FrameResult
summary = analyzer.run("video.mp4", sinks=[JsonlSink("out.jsonl")])
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from affectlens import interrupts
from affectlens.core import Faces, Frame, FrameResult
from affectlens.track.smoothing import label_frame


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


class Analyzer:
    """Faces and emotions for frames, images and whole sources."""

    def __init__(self, config: AnalyzerConfig | None = None, **overrides: Any) -> None:
        from affectlens.detect import create_detector
        from affectlens.models.runtime import EmotionModel

        if config is None:
            config = AnalyzerConfig(**overrides)
        elif overrides:
            raise TypeError("pass either an AnalyzerConfig or keyword overrides, not both")
        self.config = config
        self.emotion_model = EmotionModel(config.model, threads=config.model_threads, head=config.head)
        self.uncertain_below = (
            config.uncertain_below if config.uncertain_below is not None else self.emotion_model.uncertain_below
        )
        self.detector = create_detector(
            config.detector, min_confidence=config.min_confidence, max_faces=config.max_faces, tiles=config.detect_tiles
        )
        self.temporal = TemporalStages(config, self.uncertain_below) if config.tracking else None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.emotion_model.labels

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def analyze_frame(self, frame: Frame, sequential: bool = False) -> FrameResult:
        """Detect and classify the faces of one frame; timings in ms per stage.

        Args:
            frame: the frame.
            sequential: the frame follows the previous one in time (a video): track, smooth and score engagement.
        """
        t0 = time.perf_counter()
        faces = self.detector.detect(frame.image)
        t1 = time.perf_counter()
        faces = self.emotion_model.classify(frame.image, faces)
        t2 = time.perf_counter()
        timings = {"detect": (t1 - t0) * 1e3, "emotion": (t2 - t1) * 1e3}
        if sequential and self.temporal is not None:
            faces = self.temporal.update(frame, faces)
            timings["track"] = (time.perf_counter() - t2) * 1e3
        faces = label_frame(faces, self.uncertain_below)  # images, --no-smoothing: the threshold on raw probs
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return FrameResult(frame=frame, faces=faces, timings_ms=timings)

    def analyze_image(self, image: np.ndarray | str | Path) -> FrameResult:
        """One still image -> FrameResult (frame index 0, timestamp 0).

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
        return self.analyze_frame(frame)

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
    ) -> RunSummary:
        """Analyse every frame (every ``config.every``-th) of ``source`` and hand each result to the sinks.

        Args:
            source: a path/URL/camera index (opened with :func:`affectlens.io.open_source`), an opened
                :class:`~affectlens.io.FrameSource` (closed when the run ends), or any iterable of Frames.
            sinks: record sinks, given each analysed FrameResult (JSONL, CSV, metrics...).
            progress: show a progress bar (frames, fps, ETA) for sources with a known length.
            annotated: sinks that want the frame with the overlay drawn on it (video writers), given EVERY frame.
            show: display the annotated frames in a window (keys: space pause, p bars, v valence-arousal plane,
                g sparklines, s screenshot, q/Esc quit).
            mode: ``"file"`` (every frame, media timestamps) or ``"live"`` (newest frame only) for a source given
                as a path/URL/camera index; None picks by source (see :func:`affectlens.io.open_source`).
            recursive: for a folder given by path, also read its subfolders.
            screenshot_dir: where ``s`` saves screenshots in the window.
            overlay: the :class:`affectlens.render.Overlay` that draws on annotated and shown frames (e.g.
                ``Overlay.from_draw("boxes,labels")``); None = a default one.

        Returns:
            A :class:`RunSummary`. Ctrl-C (or SIGTERM under the CLI) stops the run cleanly between frames:
            ``summary.interrupted`` is True, and every output holds the same frames, up to ``summary.last_frame``.
        """
        from affectlens.io import FrameSource, open_source

        window = None
        if not (annotated or show):
            overlay = None
        elif overlay is None:
            from affectlens.render import Overlay

            overlay = Overlay()
        if show:
            from affectlens.render import LiveWindow

            window = LiveWindow("affectlens", overlay, screenshot_dir=screenshot_dir)
        summary = RunSummary()
        if isinstance(source, FrameSource):
            opened = source
        elif isinstance(source, (str, Path, int)):
            opened = open_source(source, mode=mode, recursive=recursive)
        else:  # any iterable of Frames
            opened = None
        frames = opened if opened is not None else source
        # still images and folders are independent pictures: no tracking or smoothing across them
        sequential = opened is None or opened.kind not in ("image", "folder")
        if self.temporal is not None:
            self.temporal.reset()
        bar = _progress_bar(opened) if progress else None
        started = time.perf_counter()
        last: FrameResult | None = None
        fps_meter = _FpsMeter()
        with interrupts.stop_on_signals((signal.SIGINT,)):  # no-op under the CLI, which handles SIGTERM too
            try:
                for frame in frames:
                    interrupts.check()  # a Ctrl-C held back (or swallowed by a library) stops here
                    analysed = (frame.index % self.config.every == 0) or last is None
                    if analysed:
                        result = self.analyze_frame(frame, sequential=sequential)
                    else:  # reuse the last analysis for the overlay of skipped frames
                        assert last is not None
                        result = FrameResult(frame=frame, faces=last.faces, timings_ms={"total": 0.0})
                    fps = fps_meter.tick()
                    keep_going = True
                    if overlay is not None:
                        if window is not None:  # draws in place, shows, handles keys and pause
                            keep_going = window.draw_and_show(frame.image, result, fps=fps)
                        else:
                            overlay.annotate(frame.image, result, fps=fps)
                    with interrupts.deferred():  # a frame reaches every output or none: Ctrl-C waits for this
                        if analysed:
                            for sink in sinks:
                                sink.write(result)
                        for sink in annotated if overlay is not None else ():
                            sink.write(result)
                        last = result
                        summary.frames_read += 1
                        summary.last_frame = frame.index
                        if analysed:
                            summary.frames_analyzed += 1
                            summary.faces += len(result.faces)
                            summary.frames_with_faces += len(result.faces) > 0
                    if bar is not None:
                        bar.update(1)
                        shown = f"{fps:.0f}" if fps is not None else "-"
                        bar.set_postfix(fps=shown, faces=len(result.faces), refresh=False)
                    if not keep_going:
                        break
            except KeyboardInterrupt:
                summary.interrupted = True
            finally:
                with interrupts.deferred(raise_pending=False):  # cleanup is not cut short by a (second) Ctrl-C
                    summary.seconds = time.perf_counter() - started - (window.paused_s if window is not None else 0)
                    if bar is not None:
                        bar.close()
                    if window is not None:
                        window.close()
                    if opened is not None:
                        opened.close()
                        summary.stopped_early = opened.stopped_early
                        summary.warning = opened.error
                summary.interrupted = summary.interrupted or interrupts.received() is not None
        return summary


class TemporalStages:
    """The per-video stages after classification: scene cuts -> tracker -> smoother -> engagement."""

    def __init__(self, config: AnalyzerConfig, uncertain_below: float | None = None) -> None:
        from affectlens.analytics.engagement import EngagementScorer
        from affectlens.track.smoothing import EmotionSmoother
        from affectlens.track.tracker import FaceTracker, SceneCutDetector

        self.cuts = SceneCutDetector()
        start = max(config.track_confidence, config.min_confidence)
        self.tracker = FaceTracker(high_score=start, new_track_score=start)
        self.smoother = (
            EmotionSmoother(window=config.smoothing_window, uncertain_below=uncertain_below)
            if config.smoothing
            else None
        )
        self.engagement = EngagementScorer(config.engagement_weights)

    def reset(self) -> None:
        """Forget all state: a new source starts."""
        self.cuts.reset()
        self.tracker.reset()
        if self.smoother is not None:
            self.smoother.reset()
        self.engagement.reset()

    def update(self, frame: Frame, faces: Faces) -> Faces:
        """Classified faces of the next frame -> tracked, smoothed faces with engagement (untracked faces dropped)."""
        faces = self.tracker.update(faces, frame.timestamp_ms, scene_cut=self.cuts.update(frame.image))
        faces = faces[faces.track_id >= 0]
        if self.smoother is not None:
            faces = self.smoother.update(faces, frame.timestamp_ms)
        return self.engagement.update(faces, frame.timestamp_ms)


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
