"""Sink basics: the ``Sink`` protocol, ``OutputFile`` (write beside, rename into place) and ``FileSink``.

Every output file is written under a temporary name in its own directory, ``<stem>.partial<suffix>`` (``out.jsonl``
-> ``out.partial.jsonl``; ``-2``, ``-3``... appended if that name is taken; it is created exclusively, so no existing
file is ever opened for writing), and renamed over ``path`` when the sink is closed. So an existing file is replaced
only by a finished one, a run that fails before its first frame leaves nothing behind, and a crash leaves the
previous file untouched and the new records, valid up to the last frame, in the ``.partial`` file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from affectlens import interrupts
from affectlens.core import FrameResult
from affectlens.io.errors import SinkError

#: The path that means standard output (JSONL and CSV only; see :func:`affectlens.io.output_paths.check_outputs`).
STDOUT = "-"


@runtime_checkable
class Sink(Protocol):
    """Anything that consumes :class:`~affectlens.core.FrameResult` s and can be closed."""

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


def os_reason(path: Path, exc: OSError) -> str:
    """Why ``exc`` happened to ``path``, in words (the OS's own reason, plus which directory when that helps)."""
    parent = path.parent if str(path.parent) not in ("", ".") else Path(".")
    if isinstance(exc, FileNotFoundError):
        if parent.is_dir():  # e.g. /proc, /sys: the directory exists but files cannot be created in it
            return f"cannot create files in {parent} ({exc.strerror})"
        return f"no such directory {parent}"
    if isinstance(exc, NotADirectoryError):
        return f"{parent} is not a directory"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or os.strerror(exc.errno or errno.EIO) or str(exc)


def sink_error(path: Path, exc: OSError) -> SinkError:
    return SinkError(f"cannot write {path}: {os_reason(path, exc)}")


def free_bytes(directory: Path) -> int | None:
    """Bytes this process may still write on ``directory``'s filesystem (root may use the reserved blocks)."""
    try:
        info = os.statvfs(directory)
    except (OSError, AttributeError):  # no statvfs on Windows
        return None
    blocks = info.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else info.f_bavail
    return blocks * info.f_frsize


class OutputFile:
    """The file behind one output: checked and created under a temporary name at once, renamed into place later.

    Args:
        path: the final path. A symbolic link is followed: its target is replaced, the link kept.

    Raises:
        SinkError: the directory is missing or not writable, ``path`` is a directory or read-only, the disk is full...

    Attributes:
        path: the final path as given; ``target``: it, resolved; ``temp``: where the data goes until :meth:`commit`.
        fd: the temporary file, open for writing (a sink may use it, or close it and write ``temp`` by name).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.target = Path(os.path.realpath(self.path))
        if self.target.is_dir():
            raise SinkError(f"cannot write {self.path}: it is a directory")
        parent = self.target.parent
        if not parent.is_dir():
            shown = self.path.parent if str(self.path.parent) else Path(".")
            reason = f"{shown} is not a directory" if parent.exists() else f"no such directory {shown}"
            raise SinkError(f"cannot write {self.path}: {reason}")
        if self.target.exists() and not os.access(self.target, os.W_OK):
            raise SinkError(f"cannot write {self.path}: permission denied")
        self.fd, self.temp = self._reserve()
        self.done = False

    def _reserve(self) -> tuple[int, Path]:
        stem, suffix = self.target.stem, self.target.suffix
        for n in range(1, 1000):
            temp = self.target.with_name(f"{stem}.partial{suffix}" if n == 1 else f"{stem}.partial-{n}{suffix}")
            try:
                return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), temp
            except FileExistsError:
                continue
            except OSError as exc:
                raise SinkError(f"cannot write {self.path}: {os_reason(temp, exc)}") from None
        raise SinkError(f"cannot write {self.path}: too many {stem}.partial-N{suffix} files in {self.target.parent}")

    def commit(self) -> None:
        """Rename the temporary file over ``path`` (keeping an existing file's permission bits). Idempotent."""
        if self.done:
            return
        self.done = True
        try:
            if self.target.exists():
                os.chmod(self.temp, stat.S_IMODE(os.stat(self.target).st_mode))
            os.replace(self.temp, self.target)
        except OSError as exc:
            self._remove()
            raise sink_error(self.path, exc) from None

    def discard(self) -> None:
        """Remove the temporary file; ``path`` is left as it was. Idempotent."""
        if not self.done:
            self.done = True
            self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.temp)


def write_file(path: str | Path, data: str | bytes) -> None:
    """Write a whole file (a report, a table) so that ``path`` holds either its old content or all of ``data``.

    ``data`` (str: UTF-8) goes to the temporary name of :class:`OutputFile`, which is then renamed over ``path``.

    Raises:
        SinkError: one line naming the file and the reason (missing directory, disk full...); ``path`` is untouched.
    """
    output = OutputFile(path)
    try:
        with open(output.fd, "wb") as file:
            file.write(data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as exc:
        output.discard()
        raise sink_error(Path(path), exc) from None
    output.commit()


class FileSink:
    """Base of the record sinks: an :class:`OutputFile` (or standard output for ``"-"``), written unbuffered.

    Every ``_emit`` reaches the OS before it returns, so the temporary file is valid up to the last frame at any
    moment (a crash leaves it readable; a power cut may not). A failed write (disk full...) raises a one-line
    :class:`SinkError` naming the file and the reason, and the file is cut back to its last complete frame.
    :meth:`close` keeps the output (renames it into place) if at least one frame was written and it is complete,
    else removes it. Subclasses override :meth:`_finish` to write a last row before closing.

    Attributes:
        path: the output path; ``temp_path``: where it is written until closed (None for standard output).
        frames_written: frames whose records are complete in the file.
        kept: after :meth:`close`, whether ``path`` now holds this sink's output.
    """

    def __init__(self, path: str | Path) -> None:
        self.to_stdout = str(path) == STDOUT
        self.path = Path(path)
        self.closed = False
        self.kept = False
        self.frames_written = 0
        self._error: SinkError | None = None
        self._good = 0  # file size after the last complete write: where a failed write is cut back to
        self._output: OutputFile | None = None
        if self.to_stdout:
            stdout = getattr(sys.stdout, "buffer", None)
            if stdout is None:
                raise SinkError("cannot write standard output: it takes no bytes here (give a file name)")
            self._file: IO[bytes] = stdout
        else:
            self._output = OutputFile(self.path)
            self._file = open(self._output.fd, "wb", buffering=0)  # noqa: SIM115 - closed by close()

    @property
    def temp_path(self) -> Path | None:
        return self._output.temp if self._output is not None else None

    @property
    def name(self) -> str:
        return "standard output" if self.to_stdout else str(self.path)

    def write(self, result: FrameResult) -> None:
        raise NotImplementedError

    def _emit(self, data: str | bytes, *, offset: int | None = None) -> None:
        """Write ``data`` (at ``offset``, else where the last write ended) so it reaches the OS before returning.

        Raises:
            SinkError: the sink is closed or failed before, or the OS refused (disk full...): the file is cut back to
                its last complete write and the error is remembered.
        """
        if self.closed:
            raise SinkError(f"cannot write {self.name}: the sink is closed")
        if self._error is not None:
            raise self._error
        raw = memoryview(data.encode("utf-8") if isinstance(data, str) else data)
        try:
            if offset is not None:
                self._file.seek(offset)
            while raw:
                count = self._file.write(raw)
                raw = raw[count if count is not None else len(raw) :]
            self._file.flush()
        except BrokenPipeError:
            self._error = SinkError(f"cannot write {self.name}: the reading end of the pipe was closed")
            raise  # the CLI ends quietly, as other tools do when their reader has what it wanted (`| head`)
        except OSError as exc:
            raise self._fail(exc) from None
        if not self.to_stdout:
            self._good = self._file.tell()

    def _fail(self, exc: OSError) -> SinkError:
        """Record the failed write as this sink's error (the file cut back to its last complete frame); returns it."""
        reason = os_reason(self.path, exc)
        after = f" after {self.frames_written} frames" if self.frames_written else ""
        hint = "; free some space or write elsewhere" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        error = self._error = SinkError(f"cannot write {self.name}: {reason}{after}{hint}")
        if self._output is not None:
            try:
                self._restore()
            except OSError:
                self.frames_written = 0  # not repairable: close() removes it
        return error

    def _restore(self) -> None:
        """Cut the file back to its state after the last complete write (JsonArraySink re-adds its closing ``]``)."""
        self._file.truncate(self._good)
        self._file.seek(self._good)

    def _finish(self) -> None:
        """Write what completes the file before it is closed (a header that was never written...)."""

    def close(self) -> None:
        """Finish the file and keep it (rename into place) if it holds a complete frame, else remove it. Idempotent.

        Raises:
            SinkError: finishing or renaming failed.
        """
        if self.closed:
            return
        with interrupts.deferred():
            error: SinkError | None = None
            if self._error is None and self.frames_written:
                try:
                    self._finish()
                except SinkError as exc:
                    error = exc
            self.closed = True
            if self._output is None:
                with contextlib.suppress(OSError):
                    self._file.flush()
                return
            try:
                self._file.close()
            except OSError as exc:
                error = error or sink_error(self.path, exc)
            if self.frames_written and (error is None or self._error is not None):
                self._output.commit()
                self.kept = True
            else:
                self._output.discard()
            if error is not None:
                raise error

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc: object) -> None:
        with interrupts.deferred():
            self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
