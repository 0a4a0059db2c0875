"""The ``Analyzer``: builds detector + emotion model from one config and runs sources into sinks.

from affectlens.pipeline import Analyzer
analyzer = Analyzer()                       # default detector and packaged model
result = analyzer.analyze_image(bgr_image)  # -> FrameResult
summary = analyzer.run("video.mp4", sinks=[JsonlSink("out.jsonl")])
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from affectlens.core import Faces, Frame, FrameResult


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
        model: path of an exported ONNX emotion model; None = the packaged default.
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
    model: str | None = None
    every: int = 1
    model_threads: int = 1
    tracking: bool = True
    smoothing: bool = True
    smoothing_window: int = 0
    engagement_weights: dict[str, float] | None = None
    track_confidence: float = 0.7

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"--every must be >= 1, got {self.every}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"--min-confidence must be in [0, 1], got {self.min_confidence}")
        if self.max_faces < 0:
            raise ValueError(f"--max-faces must be >= 0, got {self.max_faces}")
        if self.smoothing_window < 0:
            raise ValueError(f"--smoothing must be >= 0 frames, got {self.smoothing_window}")
        if not 0.0 <= self.track_confidence <= 1.0:
            raise ValueError(f"--track-confidence must be in [0, 1], got {self.track_confidence}")


@dataclass
class RunSummary:
    """What a :meth:`Analyzer.run` did: frames read and analysed, faces found, speed, and why it stopped early."""

    frames_read: int = 0
    frames_analyzed: int = 0
    faces: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    warning: str | None = None
    interrupted: bool = False
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
        self.emotion_model = EmotionModel(config.model, threads=config.model_threads)
        self.detector = create_detector(
            config.detector, min_confidence=config.min_confidence, max_faces=config.max_faces
        )
        self.temporal = TemporalStages(config) if config.tracking else None

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
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return FrameResult(frame=frame, faces=faces, timings_ms=timings)

    def analyze_image(self, image: np.ndarray) -> FrameResult:
        """One BGR (H, W, 3) uint8 image -> FrameResult (frame index 0, timestamp 0)."""
        return self.analyze_frame(Frame(image=image, index=0, timestamp_ms=0.0, source={"kind": "array"}))

    def run(
        self,
        source: str | Path | int | Iterable[Frame],
        sinks: Sequence[Sink] = (),
        *,
        progress: bool = False,
        annotated: Sequence[Sink] = (),
        show: bool = False,
        live: bool | None = None,
        screenshot_dir: str | Path = ".",
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
            live: override the source's live mode (live sources drop stale frames).
            screenshot_dir: where ``s`` saves screenshots in the window.

        Returns:
            A :class:`RunSummary`. Ctrl-C stops the run cleanly: ``summary.interrupted`` is True and everything
            written so far stays valid.
        """
        from affectlens.io import FrameSource, open_source

        overlay = window = None
        if annotated or show:
            from affectlens.render import Overlay

            overlay = Overlay()
        if show:
            from affectlens.render import LiveWindow

            window = LiveWindow("affectlens", overlay, screenshot_dir=screenshot_dir)
        summary = RunSummary()
        if isinstance(source, FrameSource):
            opened = source
        elif isinstance(source, (str, Path, int)):
            opened = open_source(source, live=live)
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
        try:
            for frame in frames:
                summary.frames_read += 1
                if (frame.index % self.config.every == 0) or last is None:
                    result = self.analyze_frame(frame, sequential=sequential)
                    summary.frames_analyzed += 1
                    summary.faces += len(result.faces)
                    summary.frames_with_faces += len(result.faces) > 0
                    for sink in sinks:
                        sink.write(result)
                else:  # reuse the last analysis for the overlay of skipped frames
                    result = FrameResult(frame=frame, faces=last.faces, timings_ms={"total": 0.0})
                last = result
                fps = fps_meter.tick()
                if overlay is not None:
                    keep_going = True
                    if window is not None:  # draws in place, shows, handles keys and pause
                        keep_going = window.draw_and_show(frame.image, result, fps=fps)
                    else:
                        overlay.annotate(frame.image, result, fps=fps)
                    for sink in annotated:
                        sink.write(result)
                    if not keep_going:
                        break
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(fps=f"{fps:.0f}", faces=len(result.faces), refresh=False)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.seconds = time.perf_counter() - started - (window.paused_s if window is not None else 0.0)
            if bar is not None:
                bar.close()
            if window is not None:
                window.close()
            if opened is not None:
                opened.close()
                summary.stopped_early = opened.stopped_early
                summary.warning = opened.error
        return summary


class TemporalStages:
    """The per-video stages after classification: scene cuts -> tracker -> smoother -> engagement."""

    def __init__(self, config: AnalyzerConfig) -> None:
        from affectlens.analytics.engagement import EngagementScorer
        from affectlens.track.smoothing import EmotionSmoother
        from affectlens.track.tracker import FaceTracker, SceneCutDetector

        self.cuts = SceneCutDetector()
        start = max(config.track_confidence, config.min_confidence)
        self.tracker = FaceTracker(high_score=start, new_track_score=start)
        self.smoother = EmotionSmoother(window=config.smoothing_window) if config.smoothing else None
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

    def tick(self) -> float:
        now = time.perf_counter()
        self.times.append(now)
        while now - self.times[0] > self.window_s:
            self.times.popleft()
        span = now - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0


def _progress_bar(source: Any) -> Any:
    from tqdm import tqdm

    total = getattr(source, "frame_count", None)
    return tqdm(total=total if total and total > 0 else None, unit="frame", desc="analyze", dynamic_ncols=True)
