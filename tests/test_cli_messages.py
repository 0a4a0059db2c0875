"""CLI messages and exit codes: bad input (2) vs bugs (1), a closed pipe, --version, conflicting options, and the
messages of `report` and `evaluate`."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

import affectlens
from affectlens import cli
from affectlens.cli import main
from helpers import REPO, shared_path

SAMPLE = REPO / "samples" / "single_face.mp4"
EXIT_ERROR, EXIT_BUG, EXIT_BROKEN_PIPE = 2, 1, 141  # bad input, a bug, a reader that went away (128 + SIGPIPE)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "affectlens.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("affectlens: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# -- bugs vs bad input -----------------------------------------------------------------------------------------------
def test_an_unexpected_exception_says_it_is_a_bug_and_exits_1(monkeypatch, capsys):
    def broken(args):
        return {}["missing"]  # a KeyError: nothing the user could have done

    monkeypatch.setattr(cli, "cmd_info", broken)
    assert main(["info"]) == EXIT_BUG
    line = one_error_line(capsys.readouterr().err)
    assert "KeyError" in line and "this is a bug (set AFFECTLENS_DEBUG=1 for the traceback)" in line


def test_a_value_error_from_inside_numpy_is_a_bug(monkeypatch, capsys):
    monkeypatch.setattr(cli, "cmd_info", lambda args: np.zeros(3) + np.zeros(4))
    assert main(["info"]) == EXIT_BUG
    assert "this is a bug" in capsys.readouterr().err


def test_bad_input_keeps_exit_2_without_calling_it_a_bug(tmp_path, capsys):
    cases = [
        ["analyze", str(SAMPLE), "--every", "0"],  # a ValueError of affectlens's own option checks
        ["analyze", str(tmp_path / "nope.mp4")],  # a SourceError
        ["evaluate", "--data", str(tmp_path / "nowhere")],  # FileNotFoundError of a dataset path
        ["report", str(tmp_path)],  # a folder given as the records file
    ]
    for argv in cases:
        assert main(argv) == EXIT_ERROR, argv
        line = one_error_line(capsys.readouterr().err)
        assert "bug" not in line, argv


def test_the_train_extra_hint_names_the_pip_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    assert main(["train", "--config", "configs/none.yaml"]) == EXIT_ERROR
    assert "pip install 'affectlens[train]'" in one_error_line(capsys.readouterr().err)


# -- small things ----------------------------------------------------------------------------------------------------
def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"affectlens {affectlens.__version__}"


def test_a_closed_pipe_is_quiet():
    proc = subprocess.Popen(
        [sys.executable, "-m", "affectlens.cli", "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader goes away before anything is printed, like `affectlens info | head -0`
    _, err = proc.communicate(timeout=120)
    assert err.decode() == ""
    assert proc.returncode == EXIT_BROKEN_PIPE


def test_a_closed_pipe_in_process(monkeypatch, capsys):
    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["info"]) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("off", ["--no-smoothing", "--no-tracking"])
def test_conflicting_smoothing_options_are_refused(off, tmp_path, capsys):
    jsonl = tmp_path / "x.jsonl"
    assert main(["analyze", str(SAMPLE), off, "--smoothing", "3", "--jsonl", str(jsonl)]) == EXIT_ERROR
    line = one_error_line(capsys.readouterr().err)
    assert "--smoothing 3" in line and off in line
    assert not jsonl.exists()


# -- report ----------------------------------------------------------------------------------------------------------
def test_report_on_binary_data_names_the_file(tmp_path, capsys):
    data = tmp_path / "clip.mp4"
    data.write_bytes(SAMPLE.read_bytes()[:4096])
    assert main(["report", str(data)]) == EXIT_ERROR
    line = one_error_line(capsys.readouterr().err)
    assert "clip.mp4" in line and "not a text file" in line


def test_report_checks_both_outputs_before_writing_either(tmp_path, capsys):
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text(json.dumps({"frame": 0, "timestamp_ms": 0.0, "faces": []}) + "\n")
    target = tmp_path / "r.json"
    assert main(["report", str(jsonl), "--json", str(target), "--png", str(tmp_path / "nodir" / "t.png")]) == 2
    assert not target.exists()  # was written before the PNG failed
    assert "no such directory" in one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_report_of_a_folder_run_summarises_its_faces(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("single_face.jpg", "multi_face.jpg"):
        cv2.imwrite(str(folder / name), cv2.imread(str(shared_path("images", name))))
    jsonl = tmp_path / "photos.jsonl"
    proc = run_cli("analyze", str(folder), "--jsonl", str(jsonl), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("report", str(jsonl))
    assert proc.returncode == 0, proc.stderr  # was: "re-run `affectlens analyze` with tracking on"
    assert "tracking" not in proc.stderr + proc.stdout
    assert "not tracked across images" in proc.stdout and "faces of 2 images" in proc.stdout
    report = json.loads((tmp_path / "photos.report.json").read_text())
    assert report["all_faces"]["faces"] == 6  # 1 + 5


# -- evaluate --------------------------------------------------------------------------------------------------------
def test_evaluate_no_progress_and_the_protocol_in_output_and_json(tmp_path):
    crop = cv2.resize(cv2.imread(str(shared_path("images", "single_face.jpg")), cv2.IMREAD_GRAYSCALE), (48, 48))
    data = tmp_path / "faces"
    (data / "happy").mkdir(parents=True)
    cv2.imwrite(str(data / "happy" / "0.png"), crop)
    proc = run_cli("evaluate", "--data", str(data), "--json", str(tmp_path / "r.json"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "evaluate:" not in proc.stderr and "img/s" not in proc.stderr  # no progress bar
    assert "only one class" in proc.stderr  # the warning
    assert "all 8 model classes" in proc.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["all_model_classes"] and "all 8 model classes" in report["protocol"]
    proc = run_cli("evaluate", "--data", str(data), "--json", str(tmp_path / "s.json"), "--shared-classes-only")
    assert proc.returncode == 0, proc.stderr
    assert "--shared-classes-only" in json.loads((tmp_path / "s.json").read_text())["protocol"]
    assert run_cli("evaluate", "--data", str(data), "--all-model-classes", "--no-progress").returncode == 0


def test_evaluate_refuses_an_unwritable_output_before_scoring(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path), "--plot", str(tmp_path / "nodir" / "c.png")]) == EXIT_ERROR
    assert "no such directory" in one_error_line(capsys.readouterr().err)
