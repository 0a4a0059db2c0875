"""Native libraries' own log lines (C++ writing straight to file descriptor 2), kept off the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

#: Set to keep every native log line (and tracebacks, see the CLI).
DEBUG_VARIABLE = "AFFECTLENS_DEBUG"


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Silence file descriptor 2 while a native library starts up or connects.

    MediaPipe prints INFO/WARNING lines there when it starts a graph (XNNPACK delegate, feedback tensors, absl), and
    Ray's C++ client prints one line per retry while it tries a cluster address that answers but is not Ray; no
    environment variable turns either off and they tell a user nothing. Python exceptions are unaffected (raised after
    the descriptor is restored); ``AFFECTLENS_DEBUG=1`` keeps the lines.
    """
    if os.environ.get(DEBUG_VARIABLE):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
