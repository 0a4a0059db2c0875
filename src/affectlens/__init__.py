"""affectlens: faces, emotions, valence and arousal from cameras, videos and images, offline on a CPU."""

from affectlens.core import Faces, Frame, FrameResult
from affectlens.emotions import EMOTIONS, canonical_emotion

__version__ = "0.1.0"

__all__ = ["EMOTIONS", "Faces", "Frame", "FrameResult", "__version__", "canonical_emotion"]
