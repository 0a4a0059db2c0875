"""What a request may be: the API key check (constant time), and content sniffing by magic bytes.

Sniffing looks at the first bytes only; decoding (images) and opening (videos) happen later and turn a corrupt file
that passed the sniff into a 422.
"""

from __future__ import annotations

import hmac

IMAGE_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", ".jpg"),
    (0, b"\x89PNG\r\n\x1a\n", ".png"),
    (0, b"GIF87a", ".gif"),
    (0, b"GIF89a", ".gif"),
    (0, b"BM", ".bmp"),
    (0, b"II*\x00", ".tif"),
    (0, b"MM\x00*", ".tif"),
)
"""(offset, magic bytes, suffix) of the image formats accepted by ``POST /v1/analyze``."""

MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
"""ISO base media (mp4, mov, m4v, 3gp) files start with one of these boxes (at byte 4)."""

SNIFF_BYTES = 189
"""Bytes needed to sniff a type (an MPEG-TS packet and the next sync byte)."""


def image_suffix(head: bytes) -> str | None:
    """The suffix of the image format whose magic bytes start ``head`` (``.jpg``...), None for anything else."""
    for offset, magic, suffix in IMAGE_SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return suffix
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return None


def video_suffix(head: bytes) -> str | None:
    """The suffix of the video container whose magic bytes start ``head`` (``.mp4``, ``.mkv``, ``.avi``...), None for
    anything else."""
    if head[4:8] in MP4_BOXES:
        return ".mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return ".mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    if head[:3] == b"FLV":
        return ".flv"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return ".mpg"
    if len(head) > 188 and head[0] == head[188] == 0x47:  # MPEG-TS: a sync byte every 188 bytes
        return ".ts"
    return None


def key_matches(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time (no timing leak of how much matched)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
