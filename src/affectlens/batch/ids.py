"""Unique, readable video ids: the file's stem, with parent folders (then the extension) added only where needed.

    assign_ids(["/a/talk.mp4", "/b/talk.mp4", "/b/intro.mov"])  ->  ["a__talk", "b__talk", "intro"]

Ids name folders (``out/records/<id>``, ``out/videos/<id>``), so they keep only ``A-Z a-z 0-9 . _ -`` and are unique
without regard to case (two ids never share a folder on a case-insensitive file system). The same list of inputs
always gives the same ids, so a rerun finds the outputs of the last one.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import PurePosixPath
from urllib.parse import urlsplit

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Joins the parts of an id taken from several path components (``folder__stem``).
SEPARATOR = "__"


def safe_name(text: str) -> str:
    """``text`` with every run of characters other than ``A-Z a-z 0-9 . _ -`` replaced by ``_`` (never empty, never
    hidden: no leading dot)."""
    name = _UNSAFE.sub("_", text).lstrip(".")
    return name or "video"


def _components(path: str) -> list[str]:
    """Path components, last first: the stem, then parent folders; the extension as a last resort."""
    if "://" in path:
        parts = urlsplit(path)
        pure = PurePosixPath(parts.path or "/")
        parents = [p for p in reversed(pure.parent.parts) if p != "/"] + ([parts.netloc] if parts.netloc else [])
    else:
        pure = PurePosixPath(path.replace("\\", "/"))
        parents = [p for p in reversed(pure.parent.parts) if p != "/"]
    return [pure.stem or pure.name or "video", *parents]


def assign_ids(paths: Sequence[str]) -> list[str]:
    """One id per path (paths are distinct), unique without regard to case; stable for the same list.

    Each id starts as the stem; where stems collide, parent folders are prepended (``parent__stem``) one level at a
    time, then the extension is added (``stem_mp4``), and as a last resort a short hash of the whole path.
    """
    components = [_components(p) for p in paths]
    suffixes = [safe_name(PurePosixPath(urlsplit(p).path if "://" in p else p).suffix.lstrip(".")) for p in paths]
    depth = [1] * len(paths)
    with_suffix = [False] * len(paths)
    ids = [""] * len(paths)
    for _ in range(max((len(c) for c in components), default=1) + 2):
        for i, parts in enumerate(components):
            name = SEPARATOR.join(safe_name(p) for p in reversed(parts[: depth[i]]))
            ids[i] = f"{name}_{suffixes[i]}" if with_suffix[i] and suffixes[i] != "video" else name
        clashes = _clashes(ids)
        if not clashes:
            return ids
        for i in clashes:
            if depth[i] < len(components[i]):
                depth[i] += 1
            else:
                with_suffix[i] = True
    for i in _clashes(ids):  # identical up to case in every component and extension
        ids[i] = f"{ids[i]}-{hashlib.sha1(paths[i].encode('utf-8')).hexdigest()[:8]}"
    return ids


def _clashes(ids: Sequence[str]) -> list[int]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(ids):
        groups[name.lower()].append(i)
    return sorted(i for members in groups.values() if len(members) > 1 for i in members)
