"""Request bodies streamed to disk, counted as they arrive: an upload over the limit is refused after ``limit``
bytes, never read whole into memory.

A body is either ``multipart/form-data`` with the file in the field ``file``, or the raw bytes (any other content
type).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import IO

import anyio.to_thread
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

CHUNK = 1 << 20
MULTIPART_OVERHEAD = 64 * 1024
"""Bytes a multipart body may carry beyond the file itself (boundaries, part headers, small fields)."""


class UploadError(Exception):
    """A body that cannot be accepted: ``status`` (400, 413) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def receive_upload(request: Request, directory: Path, limit: int) -> Path:
    """Stream the uploaded file of ``request`` into a new temporary file in ``directory``; its path (the caller
    moves or removes it).

    Raises:
        UploadError: 413 for more than ``limit`` bytes (by ``Content-Length`` at once, else when counted), 400 for
            a zero-byte upload, a malformed multipart body or one without a ``file`` field.
    """
    declared = request.headers.get("content-length")
    multipart = request.headers.get("content-type", "").lower().startswith("multipart/form-data")
    allowed = limit + (MULTIPART_OVERHEAD if multipart else 0)
    if declared is not None and declared.isdigit() and int(declared) > allowed:
        raise UploadError(413, f"the upload is {int(declared)} bytes, over the limit of {limit} bytes")
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            if multipart:
                await _multipart_file(request, out, limit)
            else:
                async for chunk in _counted(request, limit):
                    out.write(chunk)
        if path.stat().st_size == 0:
            raise UploadError(400, "the upload is empty (0 bytes): send the file as the body or a multipart `file`")
        return path
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def _counted(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise UploadError(413, f"the upload is over the limit of {limit} bytes")
        yield chunk


async def _multipart_file(request: Request, out: IO[bytes], limit: int) -> None:
    parser = MultiPartParser(request.headers, _counted(request, limit + MULTIPART_OVERHEAD), max_files=1, max_fields=8)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise UploadError(400, f"malformed multipart body: {error.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadError(400, "the multipart body has no file in the field `file`")
        upload.file.seek(0, os.SEEK_END)
        if upload.file.tell() > limit:
            raise UploadError(413, f"the upload is over the limit of {limit} bytes")
        upload.file.seek(0)
        await anyio.to_thread.run_sync(shutil.copyfileobj, upload.file, out, CHUNK)
    finally:
        await form.close()
