"""What a batch computes, and its hash: a finished video is reused only when the hash in its marker is the same.

The hash covers the :class:`~affectlens.pipeline.AnalyzerConfig` (all fields but ``model_threads`` and ``overlap``,
which change the speed, not the records), the model file's content (not its path), the outputs asked for, and the
record schema version (:data:`affectlens.core.SCHEMA_VERSION`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectlens.core import SCHEMA_VERSION
from affectlens.pipeline import AnalyzerConfig

#: AnalyzerConfig fields that change how fast a video is analysed, never its records.
SPEED_ONLY_FIELDS = ("model_threads", "overlap")


@dataclass(frozen=True)
class BatchOptions:
    """Settings of one batch run, sent to every worker.

    Attributes:
        config: the analyzer settings (``model_threads`` is 1 in workers: one process per core).
        jsonl: write ``videos/<id>/records.jsonl``.
        parquet: write the Parquet dataset ``records/<id>/part-*.parquet``.
        video: write ``videos/<id>/annotated.mp4``.
    """

    config: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    jsonl: bool = True
    parquet: bool = True
    video: bool = False

    def outputs(self) -> dict[str, bool]:
        return {"jsonl": self.jsonl, "parquet": self.parquet, "video": self.video}


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def config_hash(options: BatchOptions) -> str:
    """The hex SHA-256 identifying what ``options`` computes (see the module docstring).

    Raises:
        OSError: the model file cannot be read.
    """
    from affectlens.models.runtime import resolve_model_path

    fields = dataclasses.asdict(options.config)
    for name in SPEED_ONLY_FIELDS:
        fields.pop(name, None)
    fields["model"] = file_sha256(resolve_model_path(options.config.model))
    payload: dict[str, Any] = {"analyzer": fields, "outputs": options.outputs(), "schema": SCHEMA_VERSION}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
