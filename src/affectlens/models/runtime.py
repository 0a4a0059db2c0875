"""The emotion runtime: one ONNX Runtime session, configured by the cfg stored inside the model (no torch).

``EmotionModel.classify(image, faces)`` aligns every face of a frame to the model's template, preprocesses them with
the shared :func:`affectlens.preprocess.preprocess_batch`, and runs them as ONE batch.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from affectlens.core import Faces
from affectlens.models.config import CFG_METADATA_KEY, ModelConfig
from affectlens.preprocess import preprocess_batch

DEFAULT_MODEL_NAME = "affectlens_emotion.onnx"
# Names accepted instead of a path: the packaged models.
PACKAGED_MODELS = {"default": DEFAULT_MODEL_NAME, "int8": "affectlens_emotion_int8.onnx"}


class ModelError(Exception):
    """A model file that is missing, unreadable, or lacks the affectlens cfg."""


def default_model_path(name: str = "default") -> Path:
    """Path of a model shipped inside the package: ``default`` (float32) or ``int8`` (quantised, ~3x faster)."""
    return Path(str(resources.files("affectlens.models").joinpath("weights", PACKAGED_MODELS[name])))


def resolve_model_path(model: str | Path | None) -> Path:
    """None or a packaged name (``default``, ``int8``) -> its packaged path; anything else is a file path."""
    if model is None:
        return default_model_path()
    if isinstance(model, str) and model in PACKAGED_MODELS:
        return default_model_path(model)
    return Path(model)


def read_model_config(path: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` stored in an ONNX model's metadata (key ``affectlens_cfg``)."""
    session = _session(Path(path), threads=1)
    return _config_of(session, Path(path))


class EmotionModel:
    """8 emotion probabilities + valence/arousal per face, from an ONNX model.

    Args:
        path: ONNX file, or a packaged model's name (``default``, ``int8``); None is the packaged default.
        threads: ONNX Runtime intra-op threads (1 is fastest for one small model beside a detector on 2 cores).
    """

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        self.path = resolve_model_path(path)
        self.session = _session(self.path, threads)
        self.cfg = _config_of(self.session, self.path)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.cfg.labels

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 (N, C, S, S) preprocessed inputs -> probs (N, num_labels), valence_arousal (N, 2)."""
        if batch.shape[0] == 0:
            return np.zeros((0, len(self.labels)), np.float32), np.zeros((0, 2), np.float32)
        probs, valence_arousal = self.session.run(self.output_names[:2], {self.input_name: batch})
        return probs, valence_arousal

    def predict_crops(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Face crops (any size, gray or BGR uint8) -> probs (N, C), valence_arousal (N, 2)."""
        return self.predict(preprocess_batch(crops, self.cfg))

    def head_labels(self, head: str) -> tuple[str, ...]:
        """Class names of the extra head ``head`` (e.g. ``fer2013``: the original FER-2013 labels)."""
        if head not in self.cfg.extra_heads:
            heads = ", ".join(sorted(self.cfg.extra_heads)) or "none"
            raise ModelError(f"{self.path.name} has no head {head!r}; its extra heads: {heads}")
        return self.cfg.extra_heads[head]

    def predict_head(self, crops: list[np.ndarray], head: str) -> np.ndarray:
        """Face crops -> (N, K) probabilities of the extra head ``head`` (K = ``len(head_labels(head))``)."""
        labels = self.head_labels(head)
        if not crops:
            return np.zeros((0, len(labels)), np.float32)
        (probs,) = self.session.run([f"{head}_probs"], {self.input_name: preprocess_batch(crops, self.cfg)})
        return probs

    def classify(self, image: np.ndarray, faces: Faces) -> Faces:
        """Faces of one BGR frame -> the same faces with ``probs``, ``valence_arousal`` and ``labels`` filled."""
        from affectlens.align import align_faces

        if len(faces) == 0:
            return faces.with_emotions(
                np.zeros((0, len(self.labels)), np.float32), np.zeros((0, 2), np.float32), self.labels
            )
        probs, valence_arousal = self.predict_crops(align_faces(image, faces, self.cfg))
        return faces.with_emotions(probs, valence_arousal, self.labels)


def _session(path: Path, threads: int):
    import onnxruntime as ort

    if not path.exists():
        raise ModelError(
            f"emotion model not found: {path} (reinstall affectlens, or pass --model PATH to an exported .onnx)"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise ModelError(f"cannot load model {path}: {str(error).splitlines()[0]}") from error


def _config_of(session, path: Path) -> ModelConfig:
    metadata = session.get_modelmeta().custom_metadata_map
    if CFG_METADATA_KEY not in metadata:
        raise ModelError(
            f"{path} has no '{CFG_METADATA_KEY}' metadata: export it with `affectlens export` so its preprocessing "
            "travels with it"
        )
    return ModelConfig.from_json(metadata[CFG_METADATA_KEY])
