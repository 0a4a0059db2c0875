"""Shared test fixtures: the real data in ``../shared/data`` (skipped when absent) and tiny synthetic videos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data`` (see its README); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found: {SHARED_DATA} (real videos and images for tests)")
    return SHARED_DATA


def frame_value(index: int) -> int:
    """Gray level of synthetic frame ``index`` (distinct for 28 consecutive frames, survives lossy codecs)."""
    return 16 + (index * 8) % 224


def write_video(
    path: Path, *, frames: int = 12, fps: float = 30.0, size: tuple[int, int] = (64, 48), fourcc: str = "mp4v"
) -> Path:
    """Write a synthetic video: frame i is uniform gray ``frame_value(i)`` with a white square moving right.

    Args:
        path: output file (``.mp4`` with ``mp4v``, ``.avi`` with ``MJPG``).
        frames: number of frames.
        fps: frames per second stored in the header.
        size: (width, height) in pixels.
    """
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"cv2.VideoWriter cannot write {path} with {fourcc}"
    side = max(4, height // 6)
    for i in range(frames):
        image = np.full((height, width, 3), frame_value(i), np.uint8)
        x = (i * 2) % max(1, width - side)
        image[2 : 2 + side, x : x + side] = 255
        writer.write(image)
    writer.release()
    return path


@pytest.fixture
def tiny_video(tmp_path: Path) -> Callable[..., Path]:
    """A factory: ``tiny_video(frames=12, fps=30.0, size=(64, 48), name="tiny.mp4")`` writes into ``tmp_path``."""

    def make(*, frames: int = 12, fps: float = 30.0, size: tuple[int, int] = (64, 48), name: str = "tiny.mp4") -> Path:
        fourcc = "MJPG" if name.lower().endswith(".avi") else "mp4v"
        return write_video(tmp_path / name, frames=frames, fps=fps, size=size, fourcc=fourcc)

    return make
