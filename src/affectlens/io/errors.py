"""Typed, one-line errors of frame sources and record sinks.

Messages say what failed and what to do, so the CLI can print them as they are (no traceback).
"""

from __future__ import annotations


class AffectlensIOError(Exception):
    """Base class of the errors raised by :mod:`affectlens.io`."""


class SourceError(AffectlensIOError):
    """A source cannot be opened or read: missing file, undecodable video, busy camera, empty folder, bad spec."""


class SinkError(AffectlensIOError):
    """An output cannot be written: missing directory, permission denied, disk full, no video codec."""


class ExtraMissingError(AffectlensIOError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the ``pip install`` command."""


class RecordsError(AffectlensIOError, ValueError):
    """Records cannot be read as a table: unknown format, empty folder, a file that is not affectlens records."""
