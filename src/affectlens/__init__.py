"""affectlens: faces, emotions, valence and arousal from cameras, videos and images, offline on a CPU."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from affectlens.core import Faces, Frame, FrameResult
    from affectlens.emotions import EMOTIONS, canonical_emotion

__version__ = "0.1.0"

__all__ = ["EMOTIONS", "Faces", "Frame", "FrameResult", "__version__", "canonical_emotion", "read_records"]

# Imported on first use (PEP 562), so that `import affectlens.cli` does not load numpy: the CLI must be able to take
# Ctrl-C cleanly from its first moment, and it installs its handlers only once its module is imported.
_LAZY = {
    "Faces": "affectlens.core",
    "Frame": "affectlens.core",
    "FrameResult": "affectlens.core",
    "EMOTIONS": "affectlens.emotions",
    "canonical_emotion": "affectlens.emotions",
    "read_records": "affectlens.records",  # pandas/polars/pyarrow only when called
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'affectlens' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
