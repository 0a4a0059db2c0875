"""``check_outputs``: refuse output paths that would overwrite an input or each other, before anything is opened."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from affectlens.io.errors import SinkError
from affectlens.io.file_sink import STDOUT


def _same_file(a: str | Path, b: str | Path) -> bool:
    """Whether paths ``a`` and ``b`` name one file: the same resolved path (symlinks followed), or, where both
    exist, the same inode (hard links, case-insensitive filesystems, bind mounts)."""
    if os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b)):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_outputs(
    outputs: Mapping[str, str | Path | None], inputs: Iterable[str | Path] = (), stdout_ok: Iterable[str] = ()
) -> None:
    """Refuse an output that is an input, or that another output also writes.

    Args:
        outputs: option name -> path (None or "": not given), e.g. ``{"--jsonl": "a.jsonl", "--output": "a.mp4"}``.
        inputs: local files (or folders) read by the run; URLs and camera indices are simply left out.
        stdout_ok: the options that may be ``-`` (standard output); at most one output may be.

    Raises:
        SinkError: one line naming the options and paths involved and what to do.
    """
    inputs = [str(p) for p in inputs]
    allowed = set(stdout_ok)
    seen: list[tuple[str, str]] = []
    to_stdout: str | None = None
    for option, value in outputs.items():
        if not value:
            continue
        path = str(value)
        if path == STDOUT:
            if option not in allowed:
                can = " and ".join(f"{o} -" for o in sorted(allowed)) or "no option"
                raise SinkError(f"{option} cannot write to standard output ('-'): give a file name ({can} can)")
            if to_stdout is not None:
                raise SinkError(f"{to_stdout} and {option} both write to standard output: give one of them a file")
            to_stdout = option
            continue
        for source in inputs:
            if _same_file(path, source):
                raise SinkError(
                    f"{option} {path} is the input {source}: it would be overwritten; give the output another name"
                )
        for other_option, other in seen:
            if _same_file(path, other):
                raise SinkError(f"{other_option} and {option} both write {path}: give each output its own file")
        seen.append((option, path))
