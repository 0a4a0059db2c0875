"""Sink basics: the ``Sink`` protocol and ``FileSink``, which opens its file up front and flushes every write."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from affectlens.core import FrameResult
from affectlens.io.errors import SinkError


@runtime_checkable
class Sink(Protocol):
    """Anything that consumes :class:`~affectlens.core.FrameResult` s and can be closed."""

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


def _reason(path: Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"no such directory {path.parent}" if str(path.parent) not in ("", ".") else "no such file or directory"
    if isinstance(exc, NotADirectoryError):
        return f"{path.parent} is not a directory"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return exc.strerror or str(exc)


def sink_error(path: Path, exc: OSError) -> SinkError:
    return SinkError(f"cannot write {path}: {_reason(path, exc)}")


class FileSink:
    """Base of the file sinks: opens ``path`` at construction, maps OS errors to one-line :class:`SinkError` s."""

    def __init__(self, path: str | Path, *, binary: bool = False) -> None:
        self.path = Path(path)
        try:
            if binary:
                self._file: IO[Any] = open(self.path, "wb")  # noqa: SIM115 - closed by close()
            else:
                self._file = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise sink_error(self.path, exc) from None
        self.closed = False
        self.frames_written = 0

    def write(self, result: FrameResult) -> None:
        raise NotImplementedError

    def _emit(self, data: str | bytes) -> None:
        """Write and flush ``data``; an OS error (disk full...) becomes a SinkError."""
        if self.closed:
            raise SinkError(f"cannot write {self.path}: the sink is closed")
        try:
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            raise sink_error(self.path, exc) from None

    def close(self) -> None:
        """Flush and close the file. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._file.close()
        except OSError as exc:
            raise sink_error(self.path, exc) from None

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
