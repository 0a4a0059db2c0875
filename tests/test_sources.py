"""Frame sources: real clips, synthetic videos, folders, errors, modes, live dropping and clean shutdown."""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from affectlens.core import Frame
from affectlens.io import FrameSource, SourceError, open_source
from affectlens.io.capture_source import CaptureSource
from affectlens.io.sources import redact_url
from mp4_boxes import media_timescale, set_rotation, set_sample_durations


def _gray(image: np.ndarray) -> int:
    """The background gray level of a synthetic frame (the median ignores the moving square)."""
    return int(np.median(image[..., 1]))


def _index_of(image: np.ndarray) -> int:
    return round((_gray(image) - 16) / 8)  # inverse of conftest.frame_value for index < 28


# -- real clips ------------------------------------------------------------------------------------------------------
def test_single_face_clip_has_72_frames_at_30_fps(shared_data: Path) -> None:
    path = shared_data / "videos" / "single_face.mp4"
    with open_source(path) as source:
        assert (source.kind, source.fps, source.frame_count, source.size, source.live) == (
            "video",
            30.0,
            72,
            (640, 360),
            False,
        )
        frames = list(source)
    assert [f.index for f in frames] == list(range(72))
    assert all(isinstance(f, Frame) and f.image.shape == (360, 640, 3) for f in frames)
    assert frames[0].timestamp_ms == 0.0
    assert frames[30].timestamp_ms == pytest.approx(1000.0)
    meta = frames[0].source
    assert meta["path"] == str(path) and meta["kind"] == "video" and meta["fps"] == 30.0
    assert (meta["width"], meta["height"], meta["frame_count"]) == (640, 360, 72)
    assert not source.stopped_early and source.error is None and source.dropped == 0


def test_no_face_clip_stops_at_95_of_98_and_says_so(shared_data: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), open_source(shared_data / "videos" / "no_face.mp4") as source:
        count = sum(1 for _ in source)
    assert count == 95 and source.frame_count == 98
    assert source.stopped_early
    assert source.error == "decoding stopped at frame 95 of 98 (header): file may be truncated"
    assert "95 of 98" in caplog.text


@pytest.fixture
def http_file() -> Iterator[Callable[[bytes], str]]:
    """Serve bytes over HTTP on a free local port, with Range requests (FFmpeg seeks in mp4): ``url = serve(data)``."""
    served: dict[str, bytes] = {}

    class RangeHandler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            data = served[self.path]
            match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            start = int(match.group(1)) if match else 0
            end = int(match.group(2)) if match and match.group(2) else len(data) - 1
            self.send_response(206 if match else 200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if match:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # FFmpeg hangs up mid-body
                self.wfile.write(data[start : end + 1])

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def serve(data: bytes, name: str = "/clip.mp4", credentials: str = "") -> str:
        served[name] = data
        return f"http://{credentials}127.0.0.1:{server.server_port}{name}"

    yield serve
    server.shutdown()
    server.server_close()


def test_http_stream_with_password_is_redacted(shared_data: Path, http_file: Callable[..., str]) -> None:
    url = http_file((shared_data / "videos" / "single_face.mp4").read_bytes(), credentials="user:secret@")
    with open_source(url) as source:
        assert source.kind == "stream" and "secret" not in source.name and "user:***@" in source.name
        frames = list(source)
    assert len(frames) == 72 and "secret" not in str(frames[0].source)


def test_http_url_of_a_video_file_is_read_in_file_mode(shared_data: Path, http_file: Callable[..., str]) -> None:
    # issue 9 item 5: the 472-frame clip over http gave 79 frames with wall-clock times (it was read live)
    url = http_file((shared_data / "videos" / "WolfgangLanger_Pexels.mp4").read_bytes())
    with open_source(url) as source:
        frames = []
        for frame in source:
            time.sleep(0.001)  # a consumer slower than the decoder: file mode waits for it
            frames.append(frame)
    assert [f.index for f in frames] == list(range(472)) and source.dropped == 0
    fps = source.fps
    assert fps == pytest.approx(23.976, abs=1e-3)
    assert [f.timestamp_ms for f in frames] == pytest.approx([i * 1000 / fps for i in range(472)], abs=0.5)
    assert (source.mode, source.live, source.frame_count) == ("file", False, 472)
    with open_source(url, mode="live") as live_source:  # the choice can be overridden
        assert live_source.live and live_source.mode == "live"


@pytest.mark.slow
def test_cli_analyses_every_frame_of_a_video_over_http(
    shared_data: Path, http_file: Callable[..., str], tmp_path: Path
) -> None:
    # the reproduction: 472 frames over http gave "analysed 79 of 79" with wall-clock timestamps
    from affectlens.cli import main
    from affectlens.io import read_jsonl

    url = http_file((shared_data / "videos" / "WolfgangLanger_Pexels.mp4").read_bytes())
    out = tmp_path / "records.jsonl"
    assert main(["analyze", url, "--jsonl", str(out), "--no-progress"]) == 0
    records = read_jsonl(out)
    assert [r["frame"] for r in records] == list(range(472))
    assert [r["timestamp_ms"] for r in records] == pytest.approx([i * 1000 / 23.976 for i in range(472)], abs=0.5)


def _mjpeg_stream_handler(frames: int) -> type[http.server.BaseHTTPRequestHandler]:
    """An HTTP camera: multipart MJPEG of unknown length, one 320x240 JPEG every 10 ms."""
    rng = np.random.default_rng(0)
    jpegs = [cv2.imencode(".jpg", rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))[1].tobytes() for _ in range(8)]

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for i in range(frames):
                    jpeg = jpegs[i % len(jpegs)]
                    part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                    self.wfile.write(part + jpeg + b"\r\n")
                    time.sleep(0.01)

    return Handler


def test_http_stream_of_unknown_length_is_read_live() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _mjpeg_stream_handler(frames=40))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/camera.mjpg"
        with open_source(url) as source:
            assert source.mode == "live" and source.frame_count is None
        with open_source(url, mode="file") as source:
            assert source.mode == "file"
            assert len(list(source)) >= 30  # what the server sent after FFmpeg's probe, none dropped
    finally:
        server.shutdown()
        server.server_close()


def test_redact_url() -> None:
    assert redact_url("rtsp://admin:pw@10.0.0.2:554/live") == "rtsp://admin:***@10.0.0.2:554/live"
    assert redact_url("http://host/a.mp4") == "http://host/a.mp4"


# -- synthetic videos ------------------------------------------------------------------------------------------------
def test_tiny_video_frames_in_order_with_file_timestamps(tiny_video) -> None:
    path = tiny_video(frames=20, fps=25.0, size=(64, 48))
    with open_source(path) as source:
        frames = list(source)
    assert source.frame_count == 20 and source.fps == 25.0 and source.size == (64, 48)
    assert [_index_of(f.image) for f in frames] == list(range(20))  # distinct arrays, nothing aliased
    assert [f.timestamp_ms for f in frames] == pytest.approx([i * 40.0 for i in range(20)])
    assert all(f.image.dtype == np.uint8 and f.image.shape == (48, 64, 3) for f in frames)


def test_file_source_never_drops_for_a_slow_consumer(tiny_video) -> None:
    with open_source(tiny_video(frames=24), queue_size=2) as source:
        indices = []
        for frame in source:
            time.sleep(0.003)
            indices.append(frame.index)
    assert indices == list(range(24)) and source.dropped == 0


def test_live_source_drops_stale_frames_for_a_slow_consumer(tiny_video) -> None:
    path = tiny_video(frames=40, fps=100.0)  # played back in real time: 0.4 s
    with open_source(path, mode="live", queue_size=2) as source:
        indices = []
        for frame in source:
            time.sleep(0.03)  # ~33 frames/s against 100 produced per second
            indices.append(frame.index)
    assert source.live and len(indices) < 40 and source.dropped > 0
    assert len(indices) + source.dropped == source.frames_read == 40
    assert indices == sorted(set(indices))  # in order, no repeats
    assert indices[-1] == 39  # the newest frame is never the one dropped: the consumer stays current


class _Gated(FrameSource):
    """A synthetic live camera whose decoder is driven by the test: each frame is decoded when the test hands out a
    permit, so the reader never runs ahead of what the test allowed, whatever the scheduler does."""

    def __init__(self, frames: int) -> None:
        meta = {"kind": "camera", "name": "gated", "path": None, "fps": None, "frame_count": None}
        super().__init__(**meta, live=True, queue_size=8, size=(8, 8))
        self.permits = threading.Semaphore(0)
        self.waiting = threading.Semaphore(0)  # released when the reader asks for a frame: the last one is handed over
        self.begun = 0  # frames whose decoding began (the newest has index begun - 1)
        self._left = frames

    def _next_frame(self) -> Frame | None:
        self.waiting.release()
        while not self.permits.acquire(timeout=0.05):
            if self._stop.is_set():
                return None
        if self._left == 0:
            return None
        self._left -= 1
        self.begun += 1
        return Frame(np.zeros((8, 8, 3), np.uint8), index=self.begun - 1, timestamp_ms=0.0, source=dict(self._meta))

    def decode(self, frames: int) -> None:
        """Let the reader decode ``frames`` more frames and wait until it has handed them all over."""
        for _ in range(frames):
            self.permits.release()
            assert self.waiting.acquire(timeout=10), "the reader did not take the next frame"


def test_live_source_serves_the_newest_frame_never_more_than_one_behind() -> None:
    # issue 8: the analysed frame is never more than one frame behind the camera. The reader is driven by the consumer
    # (permits), so this holds by construction, not by timing: no sleep, no scheduler slack, nothing to flake.
    rng = np.random.default_rng(0)
    bursts = rng.integers(1, 5, 40).tolist()  # frames the camera delivers while one frame is analysed: 1 to 4
    source = _Gated(frames=sum(bursts) + len(bursts))
    lags, delivered = [], []
    with source:
        frames = iter(source)
        assert source.waiting.acquire(timeout=10)  # the reader asks for frame 0
        for i, burst in enumerate(bursts):
            source.decode(burst)  # the reader is idle again: every frame it decoded was handed over
            in_flight = i % 2 == 1
            if in_flight:  # and now the next frame is being decoded (or already handed over) as the consumer takes one
                source.permits.release()
            frame = next(frames)
            lags.append(source.begun - 1 - frame.index)  # frames the decoder began after this one
            delivered.append(frame.index)
            if in_flight:
                assert source.waiting.acquire(timeout=10)
        source.decode(len(bursts) // 2)  # the frames left (those not used in flight)
        source.permits.release()  # and the end of the stream
        delivered += [frame.index for frame in frames]
    assert max(lags) <= 1  # strictly: at most the frame being decoded is newer than the one analysed
    assert all(lag == 0 for lag in lags[::2])  # with the reader idle, the consumer gets the very newest frame
    assert delivered == sorted(set(delivered))  # in order, no repeats
    assert source.dropped == source.frames_read - len(delivered) > 0
    assert delivered[-1] == source.frames_read - 1  # the last frame is never dropped


def test_break_stops_the_reader_thread(tiny_video) -> None:
    with open_source(tiny_video(frames=60), queue_size=2) as source:
        for frame in source:
            if frame.index == 2:
                break
        assert source._thread is not None and not source._thread.is_alive()  # the generator closed it on break


def test_exception_in_consumer_closes_source(tiny_video) -> None:
    source = open_source(tiny_video(frames=60), queue_size=2)
    with pytest.raises(RuntimeError, match="boom"), source:
        for _ in source:
            raise RuntimeError("boom")
    assert source._thread is not None and not source._thread.is_alive()


def test_source_is_single_pass_and_closes_without_iteration(tiny_video) -> None:
    source = open_source(tiny_video(frames=3))
    assert len(list(source)) == 3
    with pytest.raises(SourceError, match=r"iterated once|closed"):
        iter(source)
    unused = open_source(tiny_video(frames=3, name="other.mp4"))
    unused.close()
    unused.close()  # idempotent


def test_reader_failure_is_raised_as_source_error(tiny_video, monkeypatch: pytest.MonkeyPatch) -> None:
    source = open_source(tiny_video(frames=5))

    def broken() -> Frame:
        raise cv2.error("decoder exploded")

    monkeypatch.setattr(source, "_next_frame", broken)
    with pytest.raises(SourceError, match="decoder exploded"), source:
        list(source)


# -- timestamps and rotation: real MP4 files rewritten box by box (tests/mp4_boxes.py), no ffmpeg needed -------------
def test_variable_frame_rate_video_uses_the_containers_timestamps(tiny_video) -> None:
    # issue 9 item 6: timestamps came from index / fps; here the first 10 frames last 20 ms and the next 10, 60 ms
    path = tiny_video(frames=20, fps=25.0)
    timescale, durations = media_timescale(path)
    fast, slow = durations[0] // 2, durations[0] * 3 // 2
    set_sample_durations(path, [fast] * 10 + [slow] * 10)
    expected = np.cumsum([0] + [fast] * 10 + [slow] * 9) * 1000 / timescale
    with open_source(path) as source:
        frames = list(source)
    assert [_index_of(f.image) for f in frames] == list(range(20))
    assert [f.timestamp_ms for f in frames] == pytest.approx(expected.tolist(), abs=0.01)
    assert frames[-1].timestamp_ms == pytest.approx(740.0)  # index / fps said 760 ms


def test_containers_with_shifted_or_missing_times_fall_back_to_the_frame_rate(shared_data: Path) -> None:
    # Megamind.avi: FFmpeg reports each frame's time one frame late, and 0 for the last frame
    with open_source(shared_data / "videos" / "Megamind.avi") as source:
        times = [f.timestamp_ms for f in source]
    fps = source.fps
    assert fps is not None and len(times) == 270
    assert times == pytest.approx([i * 1000 / fps for i in range(270)], abs=0.5)


class _CaptureWithoutTimes:
    """A ``cv2.VideoCapture`` stand-in whose container has no timestamps (CAP_PROP_POS_MSEC is always 0)."""

    def __init__(self, frames: int, fps: float | None) -> None:
        self.left, self.fps = frames, fps

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.left -= 1
        return (True, np.zeros((6, 8, 3), np.uint8)) if self.left >= 0 else (False, None)

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self.fps or 0.0, cv2.CAP_PROP_FRAME_COUNT: 5.0}.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        pass


@pytest.mark.parametrize(("fps", "step_ms"), [(20.0, 50.0), (None, 40.0)])  # 40 ms: FALLBACK_FRAME_MS (25 fps)
def test_a_container_without_times_gets_nominal_frame_times(fps: float | None, step_ms: float) -> None:
    capture = _CaptureWithoutTimes(frames=5, fps=fps)
    with CaptureSource(capture, kind="video", name="x", path="x", live=False, queue_size=2) as source:  # type: ignore[arg-type]
        times = [f.timestamp_ms for f in source]
    assert times == pytest.approx([i * step_ms for i in range(5)])


def test_rotation_metadata_gives_upright_frames_and_size(tiny_video) -> None:
    # a phone video stored 64x48 with "rotate 90" in its header is shown 48x64; the annotated video was sideways
    path = tiny_video(frames=6, size=(64, 48))
    set_rotation(path, 90)
    with open_source(path) as source:
        frames = list(source)
    assert source.size == (48, 64)
    assert [f.image.shape for f in frames] == [(64, 48, 3)] * 6
    assert (frames[0].source["width"], frames[0].source["height"]) == (48, 64)


def test_annotated_video_of_a_rotated_phone_video_is_upright(tiny_video, tmp_path: Path) -> None:
    from affectlens.cli import main

    path = tiny_video(frames=4, size=(64, 48))
    set_rotation(path, 270)
    output = tmp_path / "annotated.avi"
    assert main(["analyze", str(path), "--output", str(output), "--no-progress"]) == 0
    written = cv2.VideoCapture(str(output))
    size = (written.get(cv2.CAP_PROP_FRAME_WIDTH), written.get(cv2.CAP_PROP_FRAME_HEIGHT))
    written.release()
    assert size == (48, 64)


# -- one-frame videos and image formats ------------------------------------------------------------------------------
def test_a_one_frame_video_is_a_still_image(tiny_video) -> None:
    with open_source(tiny_video(frames=1)) as source:
        frames = list(source)
    assert (source.kind, source.fps, source.frame_count, len(frames)) == ("image", None, 1, 1)
    assert not source.stopped_early and frames[0].timestamp_ms == 0.0
    with open_source(tiny_video(frames=2, name="two.mp4")) as source:
        assert source.kind == "video" and len(list(source)) == 2


# -- capture times ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["video", "live", "image", "folder", "synthetic"])
def test_every_frame_carries_the_moment_it_was_decoded(tiny_video, tmp_path: Path, kind: str) -> None:
    # issue 8: capture-to-result latency is measured from frame.source["captured_ns"] (time.perf_counter_ns())
    before = time.perf_counter_ns()
    if kind in ("image", "folder"):
        for i in range(3):
            cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), i, np.uint8))
        source = open_source(tmp_path / "0.png" if kind == "image" else tmp_path)
    elif kind == "synthetic":  # a FrameSource subclass that stamps nothing gets a stamp when its frame is handed over
        source = _Gated(frames=3)
        for _ in range(4):
            source.permits.release()
    else:
        source = open_source(tiny_video(frames=6, fps=100.0), mode="live" if kind == "live" else None)
    stamps, received, times = [], [], []
    with source:
        for frame in source:
            received.append(time.perf_counter_ns())
            stamps.append(frame.source["captured_ns"])
            times.append(frame.timestamp_ms)
    assert len(stamps) == {"image": 1, "folder": 3}.get(kind, len(stamps)) > 0
    assert all(before <= stamp <= got for stamp, got in zip(stamps, received, strict=True))  # decoded, then delivered
    assert stamps == sorted(stamps)
    if kind == "live":  # a file played back in real time is "captured" when each frame is due (not when decoded)
        assert times[-1] >= 40.0 and (stamps[-1] - stamps[0]) / 1e6 >= times[-1] - times[0] - 1.0


class _FakeCamera:
    """A cv2.VideoCapture stand-in for a camera: frame n is an 8x8 image of value n, ``frames`` in all."""

    def __init__(self, frames: int) -> None:
        self.reads, self.frames = 0, frames

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.reads == self.frames:
            return False, None
        self.reads += 1
        return True, np.full((8, 8, 3), self.reads - 1, np.uint8)

    def get(self, prop: int) -> float:
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        pass


@pytest.mark.parametrize("live", [True, False])
def test_a_live_camera_does_not_serve_the_frame_decoded_when_it_opened(live: bool) -> None:
    # issue 8: that frame is as old as the start-up (models load between opening and reading: ~0.7 s measured)
    source = CaptureSource(_FakeCamera(5), kind="camera", name="camera 0", path=None, live=live, queue_size=8, camera=0)
    with source:
        served = [(frame.index, int(frame.image[0, 0, 0])) for frame in source]
    if live:  # frame 0 is the first one read when reading started (the fast reader may have replaced it since)
        assert served and all(value == index + 1 for index, value in served), served
    else:  # file mode delivers every frame, that one too
        assert served == [(i, i) for i in range(5)]


@pytest.fixture(scope="module")
def analyzer() -> Iterator[Any]:
    from affectlens.pipeline import Analyzer

    with Analyzer() as analyzer:
        yield analyzer


class _Collect:
    def __init__(self) -> None:
        self.results: list[Any] = []

    def write(self, result: Any) -> None:
        self.results.append(result)


def _save_as(picture: Path, path: Path) -> Path:
    """Write the photo ``picture`` in the format ``path`` names (.gif, .webp, .png, _cmyk.jpg, _16bit.png)."""
    from PIL import Image

    if path.name.endswith("_16bit.png"):
        cv2.imwrite(str(path), cv2.imread(str(picture)).astype(np.uint16) * 257)
    elif path.name.endswith("_cmyk.jpg"):
        Image.open(picture).convert("CMYK").save(path, quality=95)
    else:
        Image.open(picture).save(path)
    return path


@pytest.mark.parametrize("name", ["face.gif", "face.webp", "face.png", "face_cmyk.jpg", "face_16bit.png"])
def test_every_image_format_of_one_face_gives_one_face(shared_data: Path, tmp_path: Path, analyzer, name: str) -> None:
    # a GIF opened as a one-frame video, where a face needs two detections to be tracked: it reported no face
    path = _save_as(shared_data / "images" / "single_face.jpg", tmp_path / name)
    sink = _Collect()
    analyzer.run(path, [sink])
    assert len(sink.results) == 1 and len(sink.results[0].faces) == 1
    assert sink.results[0].frame.source["kind"] == "image"


# -- images and folders ----------------------------------------------------------------------------------------------
def _png(path: Path, value: int, size: tuple[int, int] = (32, 24)) -> Path:
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))
    return path


def test_folder_in_natural_order_skips_non_images_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _png(tmp_path / "frame10.png", 30)
    _png(tmp_path / "frame2.png", 20)
    _png(tmp_path / "frame1.png", 10)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    with caplog.at_level(logging.WARNING), open_source(tmp_path) as source:
        frames = list(source)
    assert source.kind == "folder" and source.fps is None and source.frame_count == 3 and source.size == (32, 24)
    assert [f.source["file"] for f in frames] == ["frame1.png", "frame2.png", "frame10.png"]
    assert [_gray(f.image) for f in frames] == [10, 20, 30]
    assert "notes.txt" in caplog.text and ".DS_Store" not in caplog.text


def test_folder_order_is_natural_and_case_sensitive(tmp_path: Path) -> None:
    # documented and the same everywhere: digits as numbers, other characters by code point (upper case first)
    for i, name in enumerate(["a10.png", "B.png", "a2.png", "a.png", "a02.png", "b1.png"]):
        _png(tmp_path / name, 10 + 10 * i)
    with open_source(tmp_path) as source:
        files = [f.source["file"] for f in source]
    assert files == ["B.png", "a.png", "a02.png", "a2.png", "a10.png", "b1.png"]


def test_folder_records_name_their_file_and_images_have_no_time(tmp_path: Path) -> None:
    from affectlens.core import Faces, FrameResult

    _png(tmp_path / "one.png", 10)
    _png(tmp_path / "two.png", 20)
    with open_source(tmp_path) as source:
        frames = list(source)
    records = [FrameResult(frame=f, faces=Faces.empty()).to_record() for f in frames]
    assert [(r["frame"], r["file"], r["timestamp_ms"]) for r in records] == [(0, "one.png", 0.0), (1, "two.png", 0.0)]
    assert frames[1].source["path"] == str(tmp_path / "two.png")


def test_folder_skips_undecodable_image_without_a_gap_in_frame_indices(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _png(tmp_path / "a.png", 10)
    (tmp_path / "b.png").write_bytes(b"this is no png")
    (tmp_path / "c.png").write_bytes(b"")
    _png(tmp_path / "d.png", 30)
    with caplog.at_level(logging.WARNING), open_source(tmp_path) as source:
        frames = list(source)
    assert [(f.index, f.source["file"]) for f in frames] == [(0, "a.png"), (1, "d.png")]
    assert source.skipped == 2  # type: ignore[attr-defined]
    assert "b.png: not an image" in caplog.text and "c.png: the file is empty" in caplog.text


def test_subfolders_are_counted_when_skipped_and_read_with_recursive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _png(tmp_path / "top.png", 10)
    (tmp_path / "day2" / "x").mkdir(parents=True)
    (tmp_path / "day10").mkdir()
    (tmp_path / ".hidden").mkdir()
    _png(tmp_path / "day2" / "b.png", 20)
    _png(tmp_path / "day2" / "x" / "c.png", 30)
    _png(tmp_path / "day10" / "a.png", 40)
    _png(tmp_path / ".hidden" / "no.png", 50)
    with caplog.at_level(logging.WARNING), open_source(tmp_path) as source:
        assert [f.source["file"] for f in source] == ["top.png"]
    assert "skipped 2 subfolders" in caplog.text and "--recursive" in caplog.text
    with open_source(tmp_path, recursive=True) as source:
        files = [f.source["file"] for f in source]
    assert files == ["day2/b.png", "day2/x/c.png", "day10/a.png", "top.png"]


def test_recursive_and_live_mode_need_the_right_source(tmp_path: Path) -> None:
    image = _png(tmp_path / "a.png", 10)
    with pytest.raises(SourceError, match="--recursive reads the subfolders of a folder"):
        open_source(image, recursive=True)
    with pytest.raises(SourceError, match="--mode live needs a video, camera or stream"):
        open_source(tmp_path, mode="live")
    with pytest.raises(ValueError, match="mode must be one of file, live"):
        open_source(image, mode="fast")


def test_empty_folder_with_subfolders_suggests_recursive(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _png(tmp_path / "sub" / "a.png", 10)
    with pytest.raises(SourceError, match=r"no images in folder .*; its subfolders are read with --recursive"):
        open_source(tmp_path)


def test_single_image(shared_data: Path) -> None:
    with open_source(shared_data / "images" / "single_face.jpg") as source:
        frames = list(source)
    assert source.kind == "image" and source.fps is None and source.frame_count == 1
    assert len(frames) == 1 and frames[0].timestamp_ms == 0.0 and frames[0].image.ndim == 3


def test_grayscale_and_alpha_images_become_bgr(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "gray.png"), np.zeros((10, 12), np.uint8))
    cv2.imwrite(str(tmp_path / "rgba.png"), np.zeros((10, 12, 4), np.uint8))
    with open_source(tmp_path) as source:
        assert [f.image.shape for f in source] == [(10, 12, 3), (10, 12, 3)]


# -- errors ----------------------------------------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^no such file: .*missing\.mp4$"):
        open_source(tmp_path / "missing.mp4")


def test_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("definitely not a video\n" * 10)
    with pytest.raises(SourceError, match=r"cannot decode video .*fake\.mp4: not a video OpenCV/FFmpeg can read"):
        open_source(fake)


def test_undecodable_image_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"no jpeg")
    with pytest.raises(SourceError, match="cannot read image"):
        open_source(bad)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(SourceError, match="no images in folder"):
        open_source(tmp_path)


@pytest.mark.parametrize("spec", [99, "99"])
def test_camera_that_cannot_be_opened(spec: int | str) -> None:
    with pytest.raises(SourceError, match=r"^cannot open camera 99: is it connected and free\? try --camera 0$"):
        open_source(spec)


@pytest.mark.parametrize("spec", ["ftp://host/video.mp4", "", -1, 2.5, True, None])
def test_unsupported_specs(spec: object) -> None:
    with pytest.raises(SourceError, match="unsupported"):
        open_source(spec)  # type: ignore[arg-type]


def test_errors_are_one_line(tmp_path: Path) -> None:
    for spec in (tmp_path / "missing.mp4", "ftp://x/y", 99):
        with pytest.raises(SourceError) as info:
            open_source(spec)
        assert "\n" not in str(info.value)


def test_frame_source_is_iterable_of_frames(tiny_video) -> None:
    source = open_source(tiny_video(frames=2))
    assert isinstance(source, FrameSource)
    iterator: Iterator[Frame] = iter(source)
    assert next(iterator).index == 0
    source.close()


def test_zero_byte_image_is_one_clear_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with caplog.at_level(logging.WARNING), pytest.raises(SourceError) as info:
        open_source(empty)
    assert str(info.value) == f"cannot read image {empty}: the file is empty (0 bytes)"
    assert "Assertion" not in caplog.text and "\n" not in str(info.value)


def _cli_stderr(*args: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", *args, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("OPENCV_", "AFFECTLENS_"))},
    )
    assert run.returncode == 2
    return run.stderr.splitlines()


def test_bad_video_and_missing_camera_give_exactly_one_stderr_line(shared_data: Path, tmp_path: Path) -> None:
    # FFmpeg's "moov atom not found" and OpenCV's "[ WARN:0@0.05] global cap_v4l.cpp ..." came before our line
    corrupt = tmp_path / "cut.mp4"
    corrupt.write_bytes((shared_data / "videos" / "single_face.mp4").read_bytes()[:5000])
    assert _cli_stderr(str(corrupt)) == [
        f"affectlens: error: cannot decode video {corrupt}: not a video OpenCV/FFmpeg can read"
    ]
    assert _cli_stderr("--camera", "7") == [
        "affectlens: error: cannot open camera 7: is it connected and free? try --camera 0"
    ]
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert _cli_stderr(str(empty)) == [f"affectlens: error: cannot read image {empty}: the file is empty (0 bytes)"]


# -- Analyzer.analyze_image: paths and every common array layout -----------------------------------------------------
def test_analyze_image_accepts_a_path_gray_and_bgra(shared_data: Path, analyzer) -> None:
    path = shared_data / "images" / "single_face.jpg"
    bgr = cv2.imread(str(path))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    inputs = [path, str(path), gray, gray[..., None], cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)]
    results = [analyzer.analyze_image(image) for image in inputs]
    assert [len(r.faces) for r in results] == [1] * 5
    assert results[0].to_record()["file"] == "single_face.jpg" and results[0].frame.source["path"] == str(path)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            np.zeros((8, 8, 2), np.uint8),
            r"expected an \(H, W, 3\) BGR, \(H, W\) gray or \(H, W, 4\) BGRA image, got shape",
        ),
        (np.zeros((8, 8, 3), np.float32), "expected a uint8 image, got dtype float32"),
        (np.zeros(8, np.uint8), "got shape"),
        ([[0, 1]], "expected an image array or a file path, got list"),
    ],
)
def test_analyze_image_rejects_other_arrays_clearly(analyzer, image: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analyzer.analyze_image(image)


def test_analyze_image_of_a_missing_file(analyzer, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no such file: .*nope\.png"):
        analyzer.analyze_image(tmp_path / "nope.png")
