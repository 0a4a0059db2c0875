"""The CLI on good and bad input: bad input gives one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from affectlens.cli import main
from helpers import REPO, shared_path, sigint_as_default

SAMPLE = REPO / "samples" / "single_face.mp4"


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "affectlens.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("affectlens: error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr


@pytest.mark.slow
def test_analyze_the_sample_clip_writes_every_output(tmp_path):
    out = {k: tmp_path / f"x.{k}" for k in ("jsonl", "csv", "json", "mp4")}
    proc = run_cli(
        "analyze",
        str(SAMPLE),
        "--jsonl",
        str(out["jsonl"]),
        "--csv",
        str(out["csv"]),
        "--json",
        str(out["json"]),
        "--output",
        str(out["mp4"]),
        "--metrics",
        str(tmp_path / "m.csv"),
    )
    assert proc.returncode == 0, proc.stderr
    lines = out["jsonl"].read_text().splitlines()
    assert len(lines) == 72
    assert len(json.loads(out["json"].read_text())) == 72
    assert len(out["csv"].read_text().splitlines()) >= 1 + 0.95 * 72  # header + a row per face
    video = cv2.VideoCapture(str(out["mp4"]))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 72
    assert (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (640, 360)
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0, abs=0.01)
    assert "second,frames,fps,cpu_percent,rss_mb,faces" in (tmp_path / "m.csv").read_text()


def test_missing_file(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.mp4"), "--jsonl", str(tmp_path / "x.jsonl")]) != 0
    err = capsys.readouterr().err
    assert err.startswith("affectlens: error:") and "nope.mp4" in err
    assert not (tmp_path / "x.jsonl").exists()  # nothing created for a source that failed


def test_corrupt_video(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    assert main(["analyze", str(bad)]) != 0
    assert "bad.mp4" in capsys.readouterr().err


def test_unwritable_output_fails_before_any_work():
    proc = run_cli("analyze", str(SAMPLE), "--jsonl", "/nonexistent-dir/x.jsonl")
    assert_one_line_error(proc, "/nonexistent-dir/x.jsonl")


def test_camera_that_cannot_be_opened():
    proc = run_cli("analyze", "--camera", "97")
    assert_one_line_error(proc, "camera 97")


def test_source_and_camera_are_exclusive(capsys):
    assert main(["analyze", str(SAMPLE), "--camera", "0"]) != 0
    assert "exactly one of SOURCE or --camera" in capsys.readouterr().err


def test_bad_option_values(capsys):
    assert main(["analyze", str(SAMPLE), "--every", "0"]) != 0
    assert "--every" in capsys.readouterr().err
    assert main(["analyze", str(SAMPLE), "--detector", "yolo"]) != 0
    assert "yolo" in capsys.readouterr().err


def test_folder_with_a_non_image_file_skips_it_with_a_warning(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    image = cv2.imread(str(shared_path("images", "single_face.jpg")))
    cv2.imwrite(str(folder / "a.jpg"), image)
    (folder / "notes.txt").write_text("not an image")
    cv2.imwrite(str(folder / "b.png"), np.zeros((120, 160, 3), np.uint8))
    proc = run_cli("analyze", str(folder), "--jsonl", str(tmp_path / "x.jsonl"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "notes.txt" in proc.stderr
    records = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert [len(r["faces"]) for r in records] == [1, 0]


@pytest.mark.slow
def test_header_that_overstates_its_frames_is_a_warning_not_a_failure(tmp_path):
    proc = run_cli("analyze", str(shared_path("videos", "no_face.mp4")), "--jsonl", str(tmp_path / "x.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert "stopped at frame 95" in proc.stderr
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == 95


@pytest.mark.slow
def test_ctrl_c_leaves_valid_records_up_to_the_last_frame(tmp_path):
    jsonl, array = tmp_path / "x.jsonl", tmp_path / "x.json"
    video = shared_path("videos", "vtest.avi")  # 795 frames: long enough to interrupt
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "affectlens.cli",
            "analyze",
            str(video),
            "--jsonl",
            str(jsonl),
            "--json",
            str(array),
            "--no-progress",
        ],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_default,
    )
    deadline = time.time() + 60
    partial = tmp_path / "x.partial.jsonl"  # renamed to x.jsonl when the run ends
    while time.time() < deadline and (not partial.exists() or len(partial.read_text().splitlines()) < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) >= 5 and [r["frame"] for r in records] == list(range(len(records)))
    assert len(json.loads(array.read_text())) == len(records)


def test_info_lists_detectors_and_the_model():
    proc = run_cli("info")
    assert proc.returncode == 0, proc.stderr
    assert "mediapipe" in proc.stdout and "haar" in proc.stdout
    assert "neutral happy sad surprise fear disgust angry contempt" in proc.stdout


def test_evaluate_on_a_tiny_image_folder(tmp_path):
    data = tmp_path / "faces"
    crop = cv2.cvtColor(cv2.imread(str(shared_path("images", "single_face.jpg"))), cv2.COLOR_BGR2GRAY)
    for name in ("happiness", "sadness", "bored"):  # synonyms accepted; a class the model lacks is reported
        (data / name).mkdir(parents=True)
        cv2.imwrite(str(data / name / "0.png"), cv2.resize(crop, (48, 48)))
    proc = run_cli("evaluate", "--data", str(data), "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n"] == 2 and set(report) >= {"n", "accuracy", "macro_f1", "labels", "per_class", "confusion"}
    assert report["skipped_classes"] == {"bored": 1}
    assert "bored" in proc.stdout


def test_evaluate_a_head_the_model_lacks(tmp_path):
    data = tmp_path / "faces" / "happy"
    data.mkdir(parents=True)
    cv2.imwrite(str(data / "0.png"), np.zeros((48, 48), np.uint8))
    assert_one_line_error(run_cli("evaluate", "--data", str(tmp_path / "faces"), "--head", "posture"), "no head")


def test_evaluate_missing_folder():
    assert_one_line_error(run_cli("evaluate", "--data", "/nonexistent/faces"), "/nonexistent/faces")


def test_export_without_a_checkpoint(tmp_path):
    assert_one_line_error(run_cli("export", str(tmp_path / "best.pt"), "--onnx", str(tmp_path / "m.onnx")), "best.pt")


def test_the_demo_clip_ships_with_its_licence():
    assert SAMPLE.exists() and (SAMPLE.parent / "LICENSE_pyfeat_MIT.txt").exists()


@pytest.mark.slow
def test_report_on_a_clip_writes_json_and_png(tmp_path):
    jsonl = tmp_path / "w.jsonl"
    proc = run_cli(
        "analyze", str(shared_path("videos", "WolfgangLanger_Pexels.mp4")), "--jsonl", str(jsonl), "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("report", str(jsonl))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "w.report.json").read_text())
    assert len(report["tracks"]) == 1
    assert (tmp_path / "w.timeline.png").stat().st_size > 20_000


def test_report_without_faces_says_so_and_exits_0(tmp_path):
    jsonl = tmp_path / "empty.jsonl"
    jsonl.write_text("".join(json.dumps({"frame": i, "timestamp_ms": i * 40.0, "faces": []}) + "\n" for i in range(5)))
    proc = run_cli("report", str(jsonl))
    assert proc.returncode == 0, proc.stderr
    assert "0 tracks" in proc.stdout


def test_report_on_another_tools_records_names_the_missing_field(tmp_path):
    jsonl = tmp_path / "other.jsonl"
    jsonl.write_text(json.dumps({"frame": 0, "faces": [{"bbox": [1, 2, 3, 4]}]}) + "\n")
    assert_one_line_error(run_cli("report", str(jsonl)), "timestamp_ms")
