"""The job store: one folder per video job under the store root, surviving restarts.

Layout of ``<store>/<id>/``: ``input.<ext>`` (the upload, removed when the job ends), ``status.json`` (always
present, replaced atomically), and once done ``records.jsonl``, ``records.csv``, ``report.json`` and, when asked for,
``annotated.mp4``. ``status.json`` says ``done`` only after every output is in place (written last, like the batch's
``done.json``).

Ids are server-generated ``uuid4().hex`` (32 lowercase hex digits); :meth:`JobStore.folder` checks an id against
:data:`ID_PATTERN` before any path is built, so a client-given id (``../../etc/passwd``) can never address a file.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from affectlens.io.file_sink import write_file

ID_PATTERN = re.compile(r"[0-9a-f]{32}")
STATUS_JSON = "status.json"
RECORDS_JSONL = "records.jsonl"
RECORDS_CSV = "records.csv"
REPORT_JSON = "report.json"
ANNOTATED_MP4 = "annotated.mp4"
UNFINISHED = ("queued", "running")
RESTARTED = "server restarted while the job ran"
_TRASH_PREFIX = ".deleted-"


class UnknownJob(LookupError):
    """No job with this id (or an id that is not a job id at all)."""


def valid_id(job_id: str) -> bool:
    """Whether ``job_id`` has the form of a job id (32 lowercase hex digits); nothing else may become a path."""
    return ID_PATTERN.fullmatch(job_id) is not None


class JobStore:
    """Job folders under ``root`` (created). Thread-safe: status writes and deletions hold one lock.

    On creation, jobs left ``queued`` or ``running`` by a previous server process (killed, crashed) are marked
    ``failed`` with error :data:`RESTARTED` (they are not re-queued: their client may be gone); finished jobs are
    kept as they are, and folders of deletions that were cut short are removed.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.recovered = self._recover()

    def folder(self, job_id: str) -> Path:
        """The folder of job ``job_id``.

        Raises:
            UnknownJob: ``job_id`` is not a job id, or no such job exists.
        """
        if not valid_id(job_id):
            raise UnknownJob(job_id)
        folder = self.root / job_id
        if not (folder / STATUS_JSON).is_file():
            raise UnknownJob(job_id)
        return folder

    def create(self, *, video: bool, suffix: str) -> tuple[str, Path]:
        """A new ``queued`` job: (its id, the path its input must be written to)."""
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir()
        status = {
            "id": job_id,
            "status": "queued",
            "created_at": _now(),
            "started_at": None,
            "finished_at": None,
            "progress": {"frames": 0, "total_frames": None, "fraction": 0.0},
            "video": video,
            "error": None,
            "warning": None,
        }
        self._write(folder, status)
        return job_id, folder / f"input{suffix}"

    def status(self, job_id: str) -> dict[str, Any]:
        """The job's ``status.json``.

        Raises:
            UnknownJob: no such job.
        """
        folder = self.folder(job_id)
        try:
            return dict(json.loads((folder / STATUS_JSON).read_text()))
        except FileNotFoundError:  # deleted meanwhile
            raise UnknownJob(job_id) from None

    def update(self, job_id: str, **fields: Any) -> dict[str, Any] | None:
        """Merge ``fields`` into the job's status (atomically); None when the job was deleted meanwhile."""
        with self.lock:
            try:
                status = self.status(job_id)
            except UnknownJob:
                return None
            status.update(fields)
            self._write(self.root / job_id, status)
            return status

    def delete(self, job_id: str) -> None:
        """Remove a job: renamed out of sight at once (it is unknown from now on), then removed from disk. A worker
        still writing into it notices (:meth:`update` returns None) and stops.

        Raises:
            UnknownJob: no such job.
        """
        with self.lock:
            folder = self.folder(job_id)
            trash = self.root / f"{_TRASH_PREFIX}{job_id}"
            folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)

    def ids(self) -> list[str]:
        """The ids of every job in the store."""
        return sorted(p.name for p in self.root.iterdir() if valid_id(p.name) and (p / STATUS_JSON).is_file())

    def _write(self, folder: Path, status: dict[str, Any]) -> None:
        write_file(folder / STATUS_JSON, json.dumps(status, indent=2) + "\n")

    def _recover(self) -> list[str]:
        """Mark the unfinished jobs of a previous process failed; remove cut-short deletions. Returns those ids."""
        failed = []
        for path in self.root.iterdir():
            if path.name.startswith(_TRASH_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                continue
            if not valid_id(path.name):
                continue
            try:
                status = json.loads((path / STATUS_JSON).read_text())
            except (OSError, ValueError):  # a folder whose status never got written: an upload cut short
                shutil.rmtree(path, ignore_errors=True)
                continue
            if status.get("status") in UNFINISHED:
                for leftover in path.iterdir():  # partial outputs and the input: nothing of the cut-short run stays
                    if leftover.name != STATUS_JSON:
                        leftover.unlink(missing_ok=True) if leftover.is_file() else shutil.rmtree(leftover, True)
                status.update(status="failed", error=RESTARTED, finished_at=_now())
                self._write(path, status)
                failed.append(path.name)
        return failed


def _now() -> float:
    """Seconds since the epoch (UTC), rounded to ms."""
    return round(time.time(), 3)
