"""Stages and running modes: user-written stages, detectors and models plug into the Analyzer without touching the
package; failures and wrong modes end in one line; ``stream()`` is the frame loop (order, early close, threads)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from affectlens import cli, stages
from affectlens.core import NUM_KEYPOINTS, Faces, Frame, FrameResult
from affectlens.io import JsonlSink, open_source, read_jsonl
from affectlens.pipeline import Analyzer, AnalyzerConfig, SkippedFrame
from affectlens.stages import (
    ALL_MODES,
    SEQUENTIAL_MODES,
    GuardedStage,
    RunningMode,
    StageError,
    check_stage,
    create_stage,
    list_stages,
    register_stage,
)


# -- user-written pieces -----------------------------------------------------------------------------------------------
class Brightness:
    """A user stage: the mean gray level of the frame, under ``outputs["brightness"]``."""

    name = "brightness"
    modes = ALL_MODES

    def __init__(self) -> None:
        self.calls = 0
        self.resets = 0

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        self.calls += 1
        result.outputs[self.name] = round(float(result.frame.image.mean()), 1)
        return result

    def reset(self) -> None:
        self.resets += 1


class VideoOnly(Brightness):
    name = "video_only"
    modes = SEQUENTIAL_MODES


class Failing(Brightness):
    """Fails on the frames listed in ``bad`` (all frames when None)."""

    name = "failing"

    def __init__(self, bad: set[int] | None = None) -> None:
        super().__init__()
        self.bad = bad

    def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
        if self.bad is None or result.frame.index in self.bad:
            raise ValueError(f"no luck with frame {result.frame.index}")
        result.outputs[self.name] = "ok"
        return result


def face_at(x: float, y: float, side: float, score: float) -> tuple[list[float], float, np.ndarray]:
    """A face box with plausible keypoints (eyes, nose, mouth, ears)."""
    rel = np.array([[0.3, 0.35], [0.7, 0.35], [0.5, 0.55], [0.5, 0.75], [0.05, 0.45], [0.95, 0.45]], np.float32)
    return [x, y, x + side, y + side], score, rel * side + np.array([x, y], np.float32)


class ScriptedDetector:
    """A user-written detector: per call, the faces given as (x, y, side, score); not a FaceDetector subclass."""

    name = "scripted"

    def __init__(self, faces: list[tuple[float, float, float, float]], fail_on_call: int | None = None) -> None:
        self.faces = faces
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.threads: set[str] = set()

    def detect(self, image: np.ndarray) -> Faces:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.fail_on_call == self.calls:
            raise RuntimeError("the scripted detector broke")
        rows = [face_at(*face) for face in self.faces]
        if not rows:
            return Faces.empty()
        return Faces(
            xyxy=np.array([r[0] for r in rows], np.float32),
            score=np.array([r[1] for r in rows], np.float32),
            keypoints=np.stack([r[2] for r in rows]).reshape(-1, NUM_KEYPOINTS, 2),
        )

    def close(self) -> None:
        pass


class CountingModel:
    """Wraps the packaged emotion model; remembers the scores of every face it was given."""

    def __init__(self) -> None:
        from affectlens.models.runtime import EmotionModel

        self.model = EmotionModel()
        self.labels = self.model.labels
        self.uncertain_below = self.model.uncertain_below
        self.scores: list[float] = []
        self.calls = 0

    def classify(self, image: np.ndarray, faces: Faces) -> Faces:
        self.calls += 1
        self.scores += faces.score.tolist()
        return self.model.classify(image, faces)


def frames(n: int = 8, size: tuple[int, int] = (160, 120), live: bool = False) -> list[Frame]:
    width, height = size
    return [
        Frame(
            image=np.full((height, width, 3), 40 + 10 * i, np.uint8),
            index=i,
            timestamp_ms=40.0 * i,
            source={"kind": "array", "captured_ns": time.perf_counter_ns()} if live else {"kind": "array"},
        )
        for i in range(n)
    ]


def worker_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("affectlens-detect", "affectlens-reader"))]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The stage registry, restored after the test."""
    stages.list_stages()  # entry points loaded before the copy
    monkeypatch.setattr(stages, "_REGISTRY", dict(stages._REGISTRY))
    return stages._REGISTRY


# -- modes and the registry --------------------------------------------------------------------------------------------
def test_running_modes_parse_and_name_the_choices() -> None:
    assert RunningMode.parse("VIDEO") is RunningMode.VIDEO and RunningMode.parse(RunningMode.LIVE) is RunningMode.LIVE
    assert RunningMode.LIVE.sequential and not RunningMode.IMAGE.sequential
    with pytest.raises(ValueError, match="one of image, video, live, got 'file'"):
        RunningMode.parse("file")


def test_a_stage_registered_twice_fails_and_an_unknown_one_lists_the_registered(registry: dict) -> None:
    register_stage("brightness")(lambda config: Brightness())
    with pytest.raises(StageError, match="registered twice"):
        register_stage("brightness", lambda config: Brightness())
    assert "brightness" in list_stages()
    assert isinstance(create_stage("brightness", AnalyzerConfig()), Brightness)
    with pytest.raises(StageError, match=r"unknown stage 'posture'; registered stages: .*brightness"):
        create_stage("posture")
    with pytest.raises(StageError, match="lower-case"):
        register_stage("Bad Name", lambda config: Brightness())


def test_an_object_that_is_not_a_stage_is_refused_saying_what_it_lacks() -> None:
    class NoModes:
        name = "x"

        def __call__(self, result: FrameResult, mode: RunningMode) -> FrameResult:
            return result

        def reset(self) -> None:
            pass

    with pytest.raises(StageError, match="'x' needs `modes`"):
        check_stage(NoModes())
    with pytest.raises(StageError, match="needs a `name`"):
        Analyzer(stages=[object()])  # type: ignore[list-item]


def test_two_stages_with_one_name_or_a_built_in_name_fail_at_start_up(registry: dict) -> None:
    with pytest.raises(StageError, match="'brightness' is used twice"):
        Analyzer(stages=[Brightness(), Brightness()])
    clash = Brightness()
    clash.name = "emotion"
    with pytest.raises(StageError, match="'emotion' is used twice"):
        Analyzer(stages=[clash])


# -- user-written stage, detector and model ---------------------------------------------------------------------------
def test_a_user_stage_and_a_user_detector_plug_in_without_touching_the_package(tmp_path: Path) -> None:
    detector = ScriptedDetector([(40, 30, 60, 0.95)])
    stage = Brightness()
    with Analyzer(detector=detector, stages=[stage]) as analyzer:
        results = list(analyzer.stream(frames(6)))
        with JsonlSink(tmp_path / "records.jsonl") as sink:
            analyzer.run(frames(6), [sink])
        image = analyzer.analyze_image(frames(1)[0].image)
    assert [r.frame.index for r in results] == list(range(6))
    assert detector.calls == 6 + 6 + 1 and stage.calls == 6 + 6 + 1
    assert [r.outputs["brightness"] for r in results] == [40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert all("brightness" in r.timings_ms for r in results)
    # the detector's face, tracked from its second frame on and classified by the packaged model
    assert [len(r.faces) for r in results] == [0, 1, 1, 1, 1, 1]
    assert results[-1].faces.xyxy.tolist() == [[40, 30, 100, 90]] and results[-1].faces.classified
    records = read_jsonl(tmp_path / "records.jsonl")
    assert [r["outputs"] for r in records] == [{"brightness": b} for b in (40.0, 50.0, 60.0, 70.0, 80.0, 90.0)]
    assert all(r["schema"] == 2 for r in records)
    assert image.outputs == {"brightness": 40.0} and len(image.faces) == 1  # IMAGE mode: no track needed


def test_a_registered_stage_is_asked_for_by_name_from_config_and_cli(
    registry: dict, tiny_video, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[object] = []
    register_stage("brightness")(lambda config: made.append(config) or Brightness())
    with Analyzer(AnalyzerConfig(stages=("brightness",))) as analyzer:
        assert [s.name for s in analyzer.stages] == ["brightness"]
        assert made == [analyzer.config]
    with Analyzer(detector="haar", stages=[Failing(), "brightness"]) as analyzer:  # a name is the config field
        assert analyzer.config.detector == "haar" and [s.name for s in analyzer.stages] == ["brightness", "failing"]
    out = tmp_path / "out.jsonl"
    code = cli.main(
        ["analyze", str(tiny_video(frames=5)), "--with", "brightness", "--jsonl", str(out), "--no-progress"]
    )
    assert code == 0, capsys.readouterr().err
    records = read_jsonl(out)
    assert len(records) == 5 and all(isinstance(r["outputs"]["brightness"], float) for r in records)


def test_an_unknown_stage_on_the_command_line_is_one_line_listing_the_registered(
    registry: dict, tiny_video, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_stage("brightness")(lambda config: Brightness())
    out = tmp_path / "out.jsonl"
    code = cli.main(["analyze", str(tiny_video()), "--with", "brightness,posture", "--jsonl", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("affectlens: error: unknown stage 'posture'") and "brightness" in err[0]
    assert not out.exists()


# -- modes ------------------------------------------------------------------------------------------------------------
def test_a_stage_in_a_mode_it_does_not_support_fails_at_start_up_with_one_line(
    registry: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    stage = VideoOnly()
    detector = ScriptedDetector([(40, 30, 60, 0.95)])
    with Analyzer(detector=detector, stages=[stage]) as analyzer:
        with pytest.raises(
            StageError, match="'video_only' runs in live, video mode only, and this source runs in image"
        ):
            analyzer.analyze_image(frames(1)[0].image)
        with pytest.raises(StageError, match="image mode"):
            next(analyzer.stream(frames(3), mode="image"))
        assert detector.calls == 0 and stage.calls == 0  # before any frame
        assert len(list(analyzer.stream(frames(3), mode="video"))) == 3
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), frames(1)[0].image)
    register_stage("video_only")(lambda config: VideoOnly())
    out = tmp_path / "out.jsonl"
    code = cli.main(["analyze", str(image), "--with", "video_only", "--jsonl", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "'video_only' runs in live, video mode only" in err[0], err
    assert list(tmp_path.iterdir()) == [image]  # no output was created


def test_video_and_live_frames_do_not_mix_without_a_reset() -> None:
    with Analyzer(detector=ScriptedDetector([])) as analyzer:
        first, second = frames(2)
        analyzer.process(first, "video")
        analyzer.process(Frame(first.image, 0, 0.0), RunningMode.IMAGE)  # stills may come in between
        with pytest.raises(ValueError, match="middle of a video sequence: call reset"):
            analyzer.process(second, "live")
        with pytest.raises(ValueError, match="running mode must be one of"):
            analyzer.process(second, "file")
        analyzer.reset()
        assert analyzer.process(second, "live").frame is second


# -- failing stages ---------------------------------------------------------------------------------------------------
def test_a_stage_failing_on_one_frame_is_a_warning_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    analyzer = Analyzer(detector=ScriptedDetector([]), stages=[Failing(bad={2}), Brightness()])
    with analyzer, caplog.at_level(logging.WARNING, logger="affectlens.stages"):
        results = list(analyzer.stream(frames(5)))
    assert [r.frame.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.outputs.get("failing") for r in results] == ["ok", "ok", None, "ok", "ok"]
    assert all("brightness" in r.outputs for r in results)  # the stages after it still ran
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "stage 'failing' failed on frame 2 (ValueError: no luck with frame 2)" in warnings[0]


def test_a_stage_failing_on_every_frame_stops_the_run_with_one_line(
    registry: dict, tiny_video, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage = GuardedStage(Failing())
    result = FrameResult(frame=frames(1)[0], faces=Faces.empty())
    for _ in range(stages.MAX_FAILURES_IN_A_ROW - 1):
        assert stage(result, RunningMode.VIDEO) is result
    with pytest.raises(StageError, match="'failing' failed on each of the first 5 frames"):
        stage(result, RunningMode.VIDEO)
    register_stage("failing")(lambda config: Failing())
    out = tmp_path / "out.jsonl"
    code = cli.main(["analyze", str(tiny_video()), "--with", "failing", "--jsonl", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("affectlens: error: stage 'failing' failed on each of the first 5"), err
    assert len([line for line in err if line.startswith("affectlens: error")]) == 1


# -- stream(): the frame loop -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlap", [True, False])
def test_stream_yields_in_order_and_closes_source_and_threads_when_abandoned(tiny_video, overlap: bool) -> None:
    with Analyzer(AnalyzerConfig(overlap=overlap), detector=ScriptedDetector([(10, 10, 30, 0.9)])) as analyzer:
        source = open_source(tiny_video(frames=20))
        results = analyzer.stream(source)
        taken = [next(results).frame.index for _ in range(4)]
        assert worker_threads(), "the reader (and with overlap the detector) should be running"
        results.close()
    assert taken == [0, 1, 2, 3]
    assert worker_threads() == []
    with pytest.raises(Exception, match="is closed"):
        iter(source)


def test_detection_overlaps_classification_on_a_worker_and_gives_the_same_results() -> None:
    def run(overlap: bool) -> tuple[list[dict], set[str]]:
        detector = ScriptedDetector([(40, 30, 60, 0.95), (100, 20, 50, 0.9)])
        with Analyzer(AnalyzerConfig(overlap=overlap), detector=detector) as analyzer:
            records = [r.to_record() for r in analyzer.stream(frames(10))]
        for record in records:
            record.pop("timings_ms")
        return records, detector.threads

    overlapped, threads = run(True)
    plain, main_only = run(False)
    assert overlapped == plain and [r["frame"] for r in plain] == list(range(10))
    assert all(name.startswith("affectlens-detect") for name in threads) and main_only == {"MainThread"}
    assert worker_threads() == []


def test_live_mode_detects_on_the_calling_thread_so_no_result_waits_for_the_next_frame() -> None:
    detector = ScriptedDetector([(40, 30, 60, 0.95)])
    with Analyzer(detector=detector) as analyzer:
        results = analyzer.stream(frames(5, live=True), mode="live")
        assert next(results).frame.index == 0 and detector.calls == 1  # frame 1 is not taken before 0 is out
        assert [r.frame.index for r in results] == [1, 2, 3, 4]
    assert detector.threads == {"MainThread"}


def test_an_exception_in_the_detector_thread_reaches_the_caller_and_leaves_no_thread() -> None:
    with Analyzer(detector=ScriptedDetector([(40, 30, 60, 0.95)], fail_on_call=3)) as analyzer:
        seen = []
        with pytest.raises(RuntimeError, match="the scripted detector broke"):
            for result in analyzer.stream(frames(6)):
                seen.append(result.frame.index)
    assert seen == [0, 1]  # the frames before the one whose detection failed; nothing after it
    assert worker_threads() == []


def test_every_frame_yields_skipped_frames_with_the_last_analysis_in_order() -> None:
    with Analyzer(AnalyzerConfig(every=3), detector=ScriptedDetector([(40, 30, 60, 0.95)])) as analyzer:
        results = list(analyzer.stream(frames(8), every_frame=True))
        analysed = [r.frame.index for r in analyzer.stream(frames(8))]
    assert [r.frame.index for r in results] == list(range(8)) and analysed == [0, 3, 6]
    assert [isinstance(r, SkippedFrame) for r in results] == [i % 3 != 0 for i in range(8)]
    assert results[4].faces is results[3].faces


def test_latency_from_capture_to_result_is_in_the_timings() -> None:
    with Analyzer(detector=ScriptedDetector([])) as analyzer:
        results = list(analyzer.stream(frames(4, live=True), mode="live"))
        plain = analyzer.analyze_image(frames(1)[0].image)
    assert all(r.timings_ms["latency"] >= r.timings_ms["total"] > 0 for r in results)
    assert "latency" not in plain.timings_ms
    assert {"detect", "emotion", "smooth", "total"} <= set(plain.timings_ms)
    assert {"cut", "detect", "track", "emotion", "smooth", "engagement"} <= set(results[0].timings_ms)


# -- drawing and writing as sinks --------------------------------------------------------------------------------------
def test_the_overlay_draws_on_a_copy_that_only_annotated_sinks_get() -> None:
    class Keep:
        def __init__(self) -> None:
            self.images: list[np.ndarray] = []

        def write(self, result: FrameResult) -> None:
            self.images.append(result.frame.image.copy())

    originals = frames(4)
    clean = [f.image.copy() for f in originals]
    records, video = Keep(), Keep()
    with Analyzer(detector=ScriptedDetector([(40, 30, 60, 0.95)])) as analyzer:
        summary = analyzer.run(originals, [records], annotated=[video])
    assert summary.frames_read == 4 and len(records.images) == len(video.images) == 4
    assert all(np.array_equal(a, b) for a, b in zip(records.images, clean, strict=True))
    assert all(np.array_equal(f.image, b) for f, b in zip(originals, clean, strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(video.images, clean, strict=True))  # the HUD at least


def test_records_carry_schema_scene_cut_and_empty_outputs(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    with Analyzer(detector=ScriptedDetector([(40, 30, 60, 0.95)])) as analyzer, JsonlSink(path) as sink:
        analyzer.run(frames(3), [sink])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["schema"], r["outputs"], r["scene_cut"]) for r in records] == [(2, {}, False)] * 3


def test_faces_that_tracking_drops_never_reach_the_emotion_model() -> None:
    # a steady confident face, and one scoring below track_confidence (0.7) that jumps around: it never starts a track
    class Jumpy(ScriptedDetector):
        def detect(self, image: np.ndarray) -> Faces:
            self.faces = [(40, 30, 60, 0.95), (100 + 7 * (self.calls % 3), 60 - 9 * (self.calls % 2), 40, 0.6)]
            return super().detect(image)

    model = CountingModel()
    with Analyzer(detector=Jumpy([]), emotion_model=model) as analyzer:
        results = list(analyzer.stream(frames(8)))
    reported = sum(len(r.faces) for r in results)
    assert reported == 7  # the confident face, from its second frame on (a track is confirmed by two detections)
    assert len(model.scores) == reported and np.allclose(model.scores, 0.95)
