"""Small helpers shared by tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test saying what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the shared data (../shared/data beside the repository) is absent")
    return path


def sigint_as_default() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: a job started in the background by a
    non-interactive shell (``cmd &``, nohup, some CI runners) inherits SIGINT ignored, and a program rightly keeps it
    ignored, so the test's Ctrl-C would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
