"""The videos of a batch: files, folders (recursive, by video extension) and text files listing paths or URLs.

    videos = find_videos(["talks/", "extra.mp4", "more.txt"])   # -> [VideoInput(id, path), ...], ids unique

A folder is searched at any depth for files whose extension is a video extension of :mod:`affectlens.io` (the
formats the annotated-video writer knows: .mp4, .m4v, .mov, .avi, .mkv); hidden files and folders are skipped, linked
folders are not followed. A ``.txt``/``.lst``/``.list`` file lists one path or URL per line (blank lines and lines
starting with ``#`` ignored; relative paths are relative to the list's folder). A file named on the command line is
taken as a video whatever its extension: if it is not one, that video's error says so and the batch goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from affectlens.batch.ids import assign_ids
from affectlens.io.video_sink import VIDEO_FOURCC

#: Extensions searched for in folders: the video formats affectlens writes (and reads).
VIDEO_EXTENSIONS = frozenset(VIDEO_FOURCC)
#: Extensions of text files that list inputs, one path or URL per line.
LIST_EXTENSIONS = frozenset({".txt", ".lst", ".list"})


class InputError(ValueError):
    """The inputs name no video, or an input does not exist: one line saying what to give instead."""


@dataclass(frozen=True)
class VideoInput:
    """One video of a batch.

    Attributes:
        id: unique, readable, file-system-safe name (the file's stem unless two videos share it; see
            :func:`affectlens.batch.ids.assign_ids`), used for ``out/records/<id>`` and ``out/videos/<id>``.
        path: a local path (absolute) or a URL.
    """

    id: str
    path: str

    @property
    def is_url(self) -> bool:
        return is_url(self.path)


def is_url(text: str) -> bool:
    """Whether ``text`` is a URL (``scheme://...``) other than ``file://``."""
    return "://" in text and text.split("://", 1)[0].lower() != "file"


def find_videos(inputs: Sequence[str | Path], exclude: str | Path | None = None) -> list[VideoInput]:
    """The videos named by ``inputs``, in the order given (folders: sorted by path), each once, with unique ids.

    ``exclude``: a folder never searched (the batch's own ``--out``, whose annotated videos are not inputs).

    Raises:
        InputError: an input that does not exist, or no video found at all (the message says where it looked).
    """
    skip = os.path.realpath(exclude) if exclude is not None else None
    found: list[str] = []
    for item in inputs:
        found += _expand(str(item), skip)
    unique = list(dict.fromkeys(found))  # the same file named twice (or listed and found in a folder) runs once
    if not unique:
        where = ", ".join(str(i) for i in inputs) or "no inputs"
        known = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise InputError(f"no videos in {where}: folders are searched (with subfolders) for {known} files")
    ids = assign_ids(unique)
    return [VideoInput(id=video_id, path=path) for video_id, path in zip(ids, unique, strict=True)]


def _expand(item: str, skip: str | None) -> list[str]:
    if is_url(item):
        return [item]
    path = Path(item.removeprefix("file://")).expanduser()
    if path.is_dir():
        return [os.path.abspath(p) for p in _videos_in(path, skip)]
    if not path.exists():
        raise InputError(f"no such file or folder: {item}")
    if path.suffix.lower() in LIST_EXTENSIONS:
        return _read_list(path, skip)
    return [os.path.abspath(path)]


def _videos_in(folder: Path, skip: str | None = None) -> list[Path]:
    """Video files under ``folder`` at any depth, sorted by path; hidden entries, linked folders and ``skip``
    (a real path) left out."""
    videos: list[Path] = []
    for root, dirs, files in os.walk(folder):
        if skip is not None and os.path.realpath(root) == skip:
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        videos += [Path(root) / f for f in files if not f.startswith(".") and _is_video_name(f)]
    return sorted(videos)


def _is_video_name(name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS


def _read_list(path: Path, skip: str | None) -> list[str]:
    """The entries of a list file: URLs as they are, paths made absolute (relative ones from the list's folder);
    a listed folder is searched like one on the command line. Listed files that are missing are kept: they are
    recorded as failed videos (a path may come and go on shared storage)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text file: a list of inputs has one path or URL per line") from None
    entries: list[str] = []
    for line in _entries(lines):
        if is_url(line):
            entries.append(line)
            continue
        listed = Path(line.removeprefix("file://")).expanduser()
        listed = listed if listed.is_absolute() else path.parent / listed
        found = _videos_in(listed, skip) if listed.is_dir() else [listed]
        entries += [os.path.abspath(p) for p in found]
    return entries


def _entries(lines: Iterable[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
