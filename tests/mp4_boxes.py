"""Edit the boxes of an MP4 written by ``cv2.VideoWriter`` (no ffmpeg or PyAV needed): real files with a variable
frame rate or a rotation stored as metadata, the way phones and screen recorders write them.

Only what the tests need: the file must have one video track and its ``moov`` box after ``mdat`` (what OpenCV's
FFmpeg muxer writes), so that resizing ``moov`` moves no sample data.
"""

from __future__ import annotations

import struct
from pathlib import Path

_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def _children(data: bytes | bytearray, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """Box type -> (offset, size) of the boxes in ``data[start:end]`` (first of each type)."""
    found: dict[bytes, tuple[int, int]] = {}
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        if size < 8:
            raise ValueError(f"unsupported box size {size} at {start}")
        found.setdefault(kind, (start, size))
        start += size
    return found


def _path(data: bytes | bytearray, *kinds: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each box along ``kinds`` (e.g. moov, trak, tkhd)."""
    chain, start, end = [], 0, len(data)
    for kind in kinds:
        offset, size = _children(data, start, end)[kind]
        chain.append((offset, size))
        start, end = offset + 8, offset + size
    return chain


def set_rotation(path: Path, degrees: int) -> None:
    """Store a display rotation of ``degrees`` (90, 180 or 270) in the track header's matrix, like a phone does."""
    data = bytearray(path.read_bytes())
    (offset, _), *_ = reversed(_path(data, b"moov", b"trak", b"tkhd"))
    version = data[offset + 8]
    matrix_at = offset + 8 + 4 + (32 if version == 1 else 20) + 16  # after times, ids, duration, reserved, layer...
    one, width, height = 1 << 16, *struct.unpack(">II", data[matrix_at + 36 : matrix_at + 44])
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    w, h = width >> 16, height >> 16
    tx = {90: h, 180: w, 270: 0}[degrees] << 16
    ty = {90: 0, 180: h, 270: w}[degrees] << 16
    values = (cos * one, sin * one, 0, -sin * one, cos * one, 0, tx, ty, 1 << 30)
    data[matrix_at : matrix_at + 36] = struct.pack(">9i", *values)
    path.write_bytes(bytes(data))


def media_timescale(path: Path) -> tuple[int, list[int]]:
    """(timescale of the video track in ticks per second, duration of each sample in ticks)."""
    data = path.read_bytes()
    mdhd, _ = _path(data, b"moov", b"trak", b"mdia", b"mdhd")[-1]
    at = mdhd + 12 + (16 if data[mdhd + 8] == 1 else 8)  # after the full-box header and the two dates
    (timescale,) = struct.unpack(">I", data[at : at + 4])
    stts, _ = _path(data, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts")[-1]
    (entries,) = struct.unpack(">I", data[stts + 12 : stts + 16])
    deltas: list[int] = []
    for i in range(entries):
        count, delta = struct.unpack(">II", data[stts + 16 + 8 * i : stts + 24 + 8 * i])
        deltas += [delta] * count
    return timescale, deltas


def set_sample_durations(path: Path, deltas: list[int]) -> None:
    """Give each frame its own duration (ticks of the track's timescale): a variable-frame-rate file.

    The total must equal the original one, so the header and edit-list durations stay right.
    """
    _, old = media_timescale(path)
    if len(deltas) != len(old) or sum(deltas) != sum(old):
        raise ValueError(f"need {len(old)} durations summing to {sum(old)}, got {len(deltas)} summing to {sum(deltas)}")
    data = bytearray(path.read_bytes())
    chain = _path(data, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts")
    mdat, _ = _children(data, 0, len(data))[b"mdat"]
    if chain[0][0] < mdat:
        raise ValueError("moov before mdat: resizing it would move the samples")
    runs: list[list[int]] = []
    for delta in deltas:
        if runs and runs[-1][1] == delta:
            runs[-1][0] += 1
        else:
            runs.append([1, delta])
    body = struct.pack(">4xI", len(runs)) + b"".join(struct.pack(">II", c, d) for c, d in runs)
    stts, size = chain[-1]
    new_box = struct.pack(">I4s", 8 + len(body), b"stts") + body
    grow = len(new_box) - size
    data[stts : stts + size] = new_box
    for offset, old_size in chain[:-1]:  # every parent grows by the same amount
        data[offset : offset + 4] = struct.pack(">I", old_size + grow)
    path.write_bytes(bytes(data))
