"""Frame sources: real clips, synthetic videos, folders, errors, live dropping and clean shutdown."""

from __future__ import annotations

import contextlib
import http.server
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.core import Frame
from affectlens.io import FrameSource, SourceError, open_source
from affectlens.io.sources import redact_url


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


def test_http_stream_with_password_is_redacted(shared_data: Path) -> None:
    data = (shared_data / "videos" / "single_face.mp4").read_bytes()

    class RangeHandler(http.server.BaseHTTPRequestHandler):  # FFmpeg seeks in mp4: it needs Range requests
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
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
    try:
        url = f"http://user:secret@127.0.0.1:{server.server_port}/clip.mp4"
        with open_source(url, live=False) as source:
            assert source.kind == "stream" and "secret" not in source.name and "user:***@" in source.name
            frames = list(source)
    finally:
        server.shutdown()
    assert len(frames) == 72 and "secret" not in str(frames[0].source)
    assert frames[30].timestamp_ms == pytest.approx(1000.0)  # not live: media time


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


def test_live_source_drops_oldest_frames_for_a_slow_consumer(tiny_video) -> None:
    path = tiny_video(frames=40, fps=100.0)  # played back in real time: 0.4 s
    with open_source(path, live=True, queue_size=2) as source:
        indices = []
        for frame in source:
            time.sleep(0.03)  # ~33 frames/s against 100 produced per second
            indices.append(frame.index)
    assert source.live and len(indices) < 40 and source.dropped > 0
    assert len(indices) + source.dropped == source.frames_read == 40
    assert indices == sorted(set(indices))  # in order, no repeats
    assert indices[-1] == 39  # the newest frame is never the one dropped: the consumer stays current


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
    (tmp_path / "sub").mkdir()
    with caplog.at_level(logging.WARNING), open_source(tmp_path) as source:
        frames = list(source)
    assert source.kind == "folder" and source.fps is None and source.frame_count == 3 and source.size == (32, 24)
    assert [Path(f.source["path"]).name for f in frames] == ["frame1.png", "frame2.png", "frame10.png"]
    assert [_gray(f.image) for f in frames] == [10, 20, 30]
    assert [f.timestamp_ms for f in frames] == [0.0, 1000.0, 2000.0]
    assert "notes.txt" in caplog.text and ".DS_Store" not in caplog.text


def test_folder_skips_undecodable_image_keeping_listing_index(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _png(tmp_path / "a.png", 10)
    (tmp_path / "b.png").write_bytes(b"this is no png")
    _png(tmp_path / "c.png", 30)
    with caplog.at_level(logging.WARNING), open_source(tmp_path) as source:
        frames = list(source)
    assert [f.index for f in frames] == [0, 2]
    assert "b.png" in caplog.text


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
