"""The README's Python example runs as written (from the repository root, with ../shared/data beside it)."""

import re
import subprocess
import sys

from helpers import REPO, shared_path


def test_readme_python_example_runs_and_leaves_nothing_in_the_repository():
    shared_path("images", "multi_face.jpg")
    text = (REPO / "README.md").read_text()
    example = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    before = set(REPO.iterdir())
    try:
        proc = subprocess.run([sys.executable, "-c", example], cwd=REPO, capture_output=True, text=True, timeout=120)
        left = sorted(p.name for p in set(REPO.iterdir()) - before)
    finally:  # a copy of the repository stays clean even when this fails
        for path in set(REPO.iterdir()) - before:
            if path.is_file() and not path.name.startswith("."):
                path.unlink()
    assert proc.returncode == 0, proc.stderr
    assert "72 frames at" in proc.stdout
    assert len(proc.stdout.splitlines()) == 6  # five faces + the summary line
    assert left == [], f"the example wrote {left} into the repository"


def test_readme_stream_example_runs_its_own_stage():
    text = (REPO / "README.md").read_text()
    example = re.search(r"### Streaming, and plugging in your own stage\n.*?```python\n(.*?)```", text, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", example], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["0", "24", "48"]  # frames 0, 24, 48 of the 72-frame clip
    assert all(float(line.split()[1]) > 0 for line in lines)  # the stage's output reached the record
    assert "'happy'" in lines[-1]  # the man smiles by the end of the clip


def test_readme_dataframe_example_runs():
    text = (REPO / "README.md").read_text()
    section = re.search(r"### Records as dataframes.*?```python\n(.*?)```", text, re.S)
    proc = subprocess.run(
        [sys.executable, "-c", section.group(1)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first.startswith("71 face rows, 1 track(s); happy at the end"), first  # 72 frames, the first has no face
    assert "'happy'" in second
