"""``affectlens batch``: many videos, resumable, on every core (``local``) or a Ray cluster (``ray``).

    from affectlens.batch import BatchOptions, run_batch
    result = run_batch(["videos/"], "out/", BatchOptions(parquet=True), workers=2)
    print(result.count("done"), result.failed)

Modules, one job each: ``inputs`` (find the videos) and ``ids`` (their unique names), ``options`` (settings and their
hash), ``layout`` (the output folder, markers, lock), ``plan`` (skip, redo), ``job`` (one video), ``stats`` (its
summary figures), ``worker`` (an analyzer built once), ``engines`` (local process pool) and ``ray_engine``,
``summary`` (``summary.parquet``), ``progress`` (bars), ``run`` (the driver).
"""

from affectlens.batch.inputs import InputError, VideoInput, find_videos
from affectlens.batch.layout import BatchLayout, OutputDirError
from affectlens.batch.options import BatchOptions, config_hash
from affectlens.batch.run import BatchResult, run_batch

__all__ = [
    "BatchLayout",
    "BatchOptions",
    "BatchResult",
    "InputError",
    "OutputDirError",
    "VideoInput",
    "config_hash",
    "find_videos",
    "run_batch",
]
