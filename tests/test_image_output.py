"""Annotated still images (``ImageSink``, ``--output x.jpg``, ``--output DIR``), ``--draw``, and folder videos that
keep each image's aspect ratio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.cli import main
from affectlens.core import Faces, Frame, FrameResult
from affectlens.emotions import EMOTIONS
from affectlens.io import SinkError, VideoSink
from helpers import shared_path


def ImageSink(*args, **kwargs):
    from affectlens.io import ImageSink as sink

    return sink(*args, **kwargs)


def still(image: np.ndarray, file: str | None = None, index: int = 0) -> FrameResult:
    source = {"kind": "folder" if file else "image", "file": file} if file else {"kind": "image"}
    return FrameResult(Frame(image, index, index * 1000.0, source), Faces.empty(EMOTIONS))


def pattern(height: int = 60, width: int = 80) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (0, 0, 255)
    image[:, width // 2 :] = (255, 0, 0)
    return image


def test_one_image_is_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with ImageSink(target) as sink:
        assert target.read_bytes() == b"old"  # replaced only by a finished image
        sink.write(still(pattern()))
        with pytest.raises(SinkError, match=r"holds one picture.*write a video"):
            sink.write(still(pattern(), index=1))
    assert sink.kept and sink.frames_written == 1
    assert np.array_equal(cv2.imread(str(target)), pattern())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary file left
    for suffix in (".jpg", ".webp"):
        with ImageSink(tmp_path / f"out{suffix}") as sink:
            sink.write(still(pattern()))
        assert cv2.imread(str(tmp_path / f"out{suffix}")).shape == (60, 80, 3)


def test_an_unwritten_image_leaves_nothing(tmp_path: Path) -> None:
    with ImageSink(tmp_path / "never.jpg"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_bad_image_outputs_fail_with_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match=r"\.gif is not an image format we can write"):
        ImageSink(tmp_path / "x.gif")
    with pytest.raises(SinkError, match="no such directory"):
        ImageSink(tmp_path / "missing" / "x.jpg")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SinkError, match="it is a file, not a folder"):
        ImageSink(tmp_path / "file", folder=True)


def test_a_folder_of_images_gives_one_annotated_image_per_input(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    out = tmp_path / "out"
    with ImageSink(out, folder=True, inputs=(inputs,)) as sink:
        for index, name in enumerate(["a.jpg", "sub/b.png", "c.jp2", "../evil.png"]):
            sink.write(still(pattern(), file=name, index=index))
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.jpg", "c.png", "evil.png", "sub/b.png"]  # .jp2 cannot be written: PNG; nothing outside
    assert np.array_equal(cv2.imread(str(out / "sub" / "b.png")), pattern())
    with pytest.raises(SinkError, match="input folder"):
        ImageSink(inputs, folder=True, inputs=(inputs,))
    source = inputs / "a.jpg"
    cv2.imwrite(str(source), pattern())
    with pytest.raises(SinkError, match="holds input images"):  # refused before any work
        ImageSink(tmp_path, folder=True, inputs=(source,))
    assert np.array_equal(cv2.imread(str(source)).shape, (60, 80, 3))


def test_output_folder_inside_the_input_never_replaces_an_input_image(tmp_path: Path) -> None:
    """`analyze photos --recursive -o photos/sub` once replaced photos/sub/y.png by the annotated photos/y.png."""
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    cv2.imwrite(str(photos / "y.png"), pattern())
    inner = np.full((60, 80, 3), 10, np.uint8)
    cv2.imwrite(str(photos / "sub" / "y.png"), inner)
    proc = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", str(photos), "--recursive", "-o", str(photos / "sub")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "holds input images" in proc.stderr, proc.stderr
    assert np.array_equal(cv2.imread(str(photos / "sub" / "y.png")), inner)


def test_folder_video_keeps_each_image_aspect_ratio(tmp_path: Path) -> None:
    """A folder of differently sized images written as one video: each image is fitted with black borders, not
    stretched to the video's size."""
    path = tmp_path / "folder.avi"
    square = np.full((100, 100, 3), 255, np.uint8)
    with VideoSink(path, 5.0, (200, 100)) as sink:
        sink.write(square)
        sink.write(square)
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (100, 200, 3)
    assert frame[:, :40].max() < 30 and frame[:, -40:].max() < 30  # black borders left and right
    assert frame[:, 60:140].min() > 220  # the square, still square, in the middle


def test_output_kinds_that_cannot_work_are_refused_before_any_work(tmp_path: Path, capsys) -> None:
    video = shared_path("videos", "single_face.mp4")
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), pattern())
    cases = [
        ([str(video), "--output", str(tmp_path / "x.jpg")], "is an image but the source is a video"),
        ([str(folder), "--output", str(tmp_path / "x.jpg")], "is one image but the source is a folder of images"),
        ([str(video), "--output", str(tmp_path / "dir") + "/"], "is a folder but the source is a video"),
        ([str(video), "--output", str(tmp_path / "x.txt")], ".txt is neither a video"),
        ([str(folder), "--output", str(tmp_path / "o"), "--draw", "boxes,nose"], "unknown part to draw 'nose'"),
        ([str(folder), "--jsonl", str(tmp_path / "r.jsonl"), "--draw", "boxes"], "--draw chooses what --output"),
    ]
    for argv, needle in cases:
        assert main(["analyze", *argv, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("affectlens: error:") == 1 and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]  # nothing written


def test_annotated_still_image_and_draw_option(tmp_path: Path, capsys) -> None:
    photo = shared_path("images", "multi_face.jpg")
    original = cv2.imread(str(photo))
    full, boxes = tmp_path / "full.jpg", tmp_path / "boxes.png"
    assert main(["analyze", str(photo), "--output", str(full), "--no-progress"]) == 0
    assert main(["analyze", str(photo), "--output", str(boxes), "--draw", "boxes", "--no-progress"]) == 0
    assert f"wrote {full}" in capsys.readouterr().err
    annotated, only_boxes = cv2.imread(str(full)), cv2.imread(str(boxes))
    assert annotated.shape == only_boxes.shape == original.shape
    drawn = (np.abs(only_boxes.astype(int) - original).max(axis=2) > 40).mean()
    assert 0.002 < drawn < 0.03  # five thin box outlines (PNG of the JPEG-decoded input: lossless)
    assert (np.abs(annotated.astype(int) - original).max(axis=2) > 40).mean() > 3 * drawn  # labels and panels
    out = tmp_path / "annotated"
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("one.jpg", "two.png"):
        cv2.imwrite(str(folder / name), original)
    assert main(["analyze", str(folder), "--output", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.jpg", "two.png"]


def test_open_sink_names_an_image_sink_by_extension(tmp_path: Path) -> None:
    from affectlens.io import open_sink

    sink = open_sink(tmp_path / "still.webp")
    with sink:
        sink.write(still(pattern()))
    assert type(sink).__name__ == "ImageSink" and cv2.imread(str(tmp_path / "still.webp")).shape == (60, 80, 3)
