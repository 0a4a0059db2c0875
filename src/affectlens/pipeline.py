"""The ``Analyzer``: builds detector + emotion model from one config and runs sources into sinks.

from affectlens.pipeline import Analyzer
analyzer = Analyzer()                       # default detector and packaged model
result = analyzer.analyze_image(bgr_image)  # -> FrameResult
summary = analyzer.run("video.mp4", sinks=[JsonlSink("out.jsonl")])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from affectlens.core import Frame, FrameResult

log = logging.getLogger(__name__)


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
    """

    detector: str = "mediapipe"
    min_confidence: float = 0.5
    max_faces: int = 0
    model: str | None = None
    every: int = 1
    model_threads: int = 1

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"--every must be >= 1, got {self.every}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"--min-confidence must be in [0, 1], got {self.min_confidence}")
        if self.max_faces < 0:
            raise ValueError(f"--max-faces must be >= 0, got {self.max_faces}")


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

    @property
    def labels(self) -> tuple[str, ...]:
        return self.emotion_model.labels

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def analyze_frame(self, frame: Frame) -> FrameResult:
        """Detect and classify the faces of one frame; timings in ms per stage."""
        t0 = time.perf_counter()
        faces = self.detector.detect(frame.image)
        t1 = time.perf_counter()
        faces = self.emotion_model.classify(frame.image, faces)
        t2 = time.perf_counter()
        timings = {"detect": (t1 - t0) * 1e3, "emotion": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}
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
    ) -> RunSummary:
        """Analyse every frame (every ``config.every``-th) of ``source`` and hand each result to the sinks.

        Args:
            source: a path/URL/camera index (opened with :func:`affectlens.io.open_source`), an opened
                :class:`~affectlens.io.FrameSource` (closed when the run ends), or any iterable of Frames.
            sinks: record sinks, given each analysed FrameResult (JSONL, CSV, metrics...).
            progress: show a progress bar (frames, fps, ETA) for sources with a known length.
            annotated: sinks that want the frame with the overlay drawn on it (video writers), given EVERY frame.
            show: display the annotated frames in a window (``q`` or Esc quits).
            live: override the source's live mode (live sources drop stale frames).

        Returns:
            A :class:`RunSummary`. Ctrl-C stops the run cleanly: ``summary.interrupted`` is True and everything
            written so far stays valid.
        """
        from affectlens.io import FrameSource, open_source

        overlay = None
        if annotated or show:
            from affectlens.render import Overlay

            overlay = Overlay()
        window = _Window() if show else None
        summary = RunSummary()
        if isinstance(source, FrameSource):
            opened = source
        elif isinstance(source, (str, Path, int)):
            opened = open_source(source, live=live)
        else:  # any iterable of Frames
            opened = None
        frames = opened if opened is not None else source
        bar = _progress_bar(opened) if progress else None
        started = time.perf_counter()
        last: FrameResult | None = None
        fps_meter = _FpsMeter()
        try:
            for frame in frames:
                summary.frames_read += 1
                if (frame.index % self.config.every == 0) or last is None:
                    result = self.analyze_frame(frame)
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
                    overlay.annotate(frame.image, result, fps=fps)
                    for sink in annotated:
                        sink.write(result)
                    if window is not None and not window.show(frame.image):
                        break
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(fps=f"{fps:.0f}", faces=len(result.faces), refresh=False)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.seconds = time.perf_counter() - started
            if bar is not None:
                bar.close()
            if window is not None:
                window.close()
            if opened is not None:
                opened.close()
                summary.stopped_early = bool(getattr(opened, "stopped_early", False))
                summary.warning = getattr(opened, "error", None)
        return summary


class _FpsMeter:
    """Frames per second over the last ~1 s of wall-clock time."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self.times: list[float] = []

    def tick(self) -> float:
        now = time.perf_counter()
        self.times.append(now)
        while self.times and now - self.times[0] > self.window_s:
            self.times.pop(0)
        span = now - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0


class _Window:
    """An OpenCV window; needs a GUI build of OpenCV and a display."""

    name = "affectlens (q to quit)"

    def __init__(self) -> None:
        import cv2

        try:
            cv2.namedWindow(self.name, cv2.WINDOW_NORMAL)
        except cv2.error as error:
            raise RuntimeError(
                "--show needs a display and a GUI build of OpenCV (pip install opencv-python); "
                "write an annotated video with --output instead"
            ) from error

    def show(self, image: np.ndarray) -> bool:
        import cv2

        cv2.imshow(self.name, image)
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.name)


def _progress_bar(source: Any) -> Any:
    from tqdm import tqdm

    total = getattr(source, "frame_count", None)
    return tqdm(total=total if total and total > 0 else None, unit="frame", desc="analyze", dynamic_ncols=True)
