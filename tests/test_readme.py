"""The README's Python example runs as written (from the repository root, with ../shared/data beside it)."""

import re
import subprocess
import sys

from helpers import REPO, shared_path


def test_readme_python_example_runs(tmp_path):
    shared_path("images", "multi_face.jpg")
    text = (REPO / "README.md").read_text()
    example = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    example = example.replace('"out.jsonl"', repr(str(tmp_path / "out.jsonl")))
    proc = subprocess.run([sys.executable, "-c", example], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "72 frames at" in proc.stdout
    assert len(proc.stdout.splitlines()) == 6  # five faces + the summary line
