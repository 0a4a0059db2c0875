"""The emotion runtime: one ONNX Runtime session, configured by the cfg stored inside the model (no torch).

``EmotionModel.classify(image, faces)`` aligns every face of a frame to the model's template, preprocesses them with
the shared :func:`affectlens.preprocess.preprocess_batch`, and runs them as ONE batch. One head drives the faces'
``probs`` (the main ``emotion`` head, or another one chosen with ``head=``); every other head's probabilities come
along in ``Faces.data`` (records: ``heads``). Valence/arousal are NaN for a model whose VA head was not trained.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from affectlens.align import align_faces
from affectlens.core import Faces
from affectlens.modelcfg import CFG_METADATA_KEY, MAIN_HEAD, VALENCE_AROUSAL_OUTPUT, ModelConfig, ModelKind
from affectlens.preprocess import preprocess_batch

FLOAT32_MODEL_NAME = "affectlens_emotion.onnx"
INT8_MODEL_NAME = "affectlens_emotion_int8.onnx"
# The INT8 model is the default: within 0.3 points of float32 on FER+ test and FER-2013 test, ~3x faster per face.
DEFAULT_MODEL_NAME = INT8_MODEL_NAME
# Names accepted instead of a path: the packaged models (``default`` is the INT8 one, ``float32`` the float one).
PACKAGED_MODELS = {"default": DEFAULT_MODEL_NAME, "int8": INT8_MODEL_NAME, "float32": FLOAT32_MODEL_NAME}


class ModelError(Exception):
    """A model file that is missing, unreadable, or lacks the affectlens cfg."""


def default_model_path(name: str = "default") -> Path:
    """Path of a model shipped inside the package: ``default`` = ``int8`` (statically quantised) or ``float32``
    (~3x slower per face, the same accuracy within 0.1 point; see MODEL_CARD.md)."""
    return Path(str(resources.files("affectlens.models").joinpath("weights", PACKAGED_MODELS[name])))


def resolve_model_path(model: str | Path | None) -> Path:
    """None or a packaged name (``default``, ``int8``, ``float32``) -> its packaged path; anything else is a file
    path."""
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
    """Emotion probabilities (8 for the packaged model) + valence/arousal per face, from an ONNX model.

    Args:
        path: ONNX file, or a packaged model's name (``default`` = ``int8``, ``float32``); None is the packaged
            default (INT8).
        threads: ONNX Runtime intra-op threads (1 is fastest for one small model beside a detector on 2 cores).
        head: the head whose classes :meth:`classify` puts in ``Faces.probs`` / ``labels`` (None or ``"emotion"``:
            the main head; e.g. ``"fer2013"`` for the packaged model's original FER-2013 labels, 7 classes). The
            other heads' outputs come along in ``Faces.data``.

    Raises:
        ModelError: the file is missing, not an ONNX model, lacks the affectlens cfg, or has no head ``head``.
    """

    def __init__(self, path: str | Path | None = None, threads: int = 1, head: str | None = None) -> None:
        self.path = resolve_model_path(path)
        self.session = _session(self.path, threads)
        self.cfg = _config_of(self.session, self.path)
        if self.cfg.kind != ModelKind.FACE_CROP:
            raise ModelError(
                f"{self.path.name} is a {self.cfg.kind.value} model (window {self.cfg.window}); EmotionModel runs "
                f"{ModelKind.FACE_CROP.value} models, one face crop per sample"
            )
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.head = MAIN_HEAD if head is None else head
        self.head_labels(self.head)  # fails early, naming the heads the model has

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names of ``Faces.probs`` after :meth:`classify`: those of the chosen ``head``."""
        return self.head_labels(self.head)

    @property
    def valence_arousal(self) -> bool:
        """The model's valence/arousal head was trained (``cfg.valence_arousal``); else valence/arousal are NaN."""
        return self.cfg.valence_arousal

    @property
    def uncertain_below(self) -> float | None:
        """The chosen head's ``uncertain`` threshold from the model's cfg (chosen on validation data), or None."""
        return self.cfg.uncertain_below.get(self.head)

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 (N, C, S, S) preprocessed inputs -> probs (N, len(cfg.labels)) of the main head, valence_arousal
        (N, 2) (NaN when the model's valence/arousal head was not trained)."""
        if batch.shape[0] == 0:
            return np.zeros((0, len(self.cfg.labels)), np.float32), np.zeros((0, 2), np.float32)
        probs, valence_arousal = self.session.run(self.output_names[:2], {self.input_name: batch})
        return probs, self._valence_arousal(valence_arousal)

    def predict_heads(self, batch: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """float32 (N, C, S, S) preprocessed inputs -> every head's probabilities in ONE run, as ``{head: (N, K)}``
        (the main head under ``"emotion"``), and valence_arousal (N, 2) (NaN when not trained)."""
        heads = [MAIN_HEAD, *sorted(self.cfg.extra_heads)]
        if batch.shape[0] == 0:
            empty = {head: np.zeros((0, len(self.head_labels(head))), np.float32) for head in heads}
            return empty, np.zeros((0, 2), np.float32)
        names = [self.cfg.output_name(MAIN_HEAD), VALENCE_AROUSAL_OUTPUT, *map(self.cfg.output_name, heads[1:])]
        outputs = self.session.run(names, {self.input_name: batch})
        probs = dict(zip(heads, [outputs[0], *outputs[2:]], strict=True))
        return probs, self._valence_arousal(outputs[1])

    def predict_crops(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Face crops (any size, gray or BGR uint8) -> probs (N, C), valence_arousal (N, 2)."""
        return self.predict(preprocess_batch(crops, self.cfg))

    def head_labels(self, head: str) -> tuple[str, ...]:
        """Class names of the head ``head``: ``"emotion"`` (the main head) or an extra head (e.g. ``fer2013``: the
        original FER-2013 labels)."""
        if head != MAIN_HEAD and head not in self.cfg.extra_heads:
            heads = ", ".join([MAIN_HEAD, *sorted(self.cfg.extra_heads)])
            raise ModelError(f"{self.path.name} has no head {head!r}; its heads: {heads}")
        return self.cfg.head_labels(head)

    def predict_head(self, crops: list[np.ndarray], head: str) -> np.ndarray:
        """Face crops -> (N, K) probabilities of the extra head ``head`` (K = ``len(head_labels(head))``)."""
        labels = self.head_labels(head)
        if not crops:
            return np.zeros((0, len(labels)), np.float32)
        output = self.cfg.output_name(head)
        (probs,) = self.session.run([output], {self.input_name: preprocess_batch(crops, self.cfg)})
        return probs

    def classify(self, image: np.ndarray, faces: Faces) -> Faces:
        """Faces of one BGR frame -> the same faces with ``probs`` and ``labels`` of the chosen head,
        ``valence_arousal`` (NaN when the model's VA head was not trained) and the other heads' probabilities
        (``Faces.head_labels``, ``data[HEAD_PROBS + name]``)."""
        batch = (
            preprocess_batch(align_faces(image, faces, self.cfg), self.cfg)
            if len(faces)
            else np.zeros((0, self.cfg.channels, self.cfg.input_size, self.cfg.input_size), np.float32)
        )
        probs, valence_arousal = self.predict_heads(batch)
        others = {head: (self.head_labels(head), p) for head, p in probs.items() if head != self.head}
        return faces.with_emotions(probs[self.head], valence_arousal, self.labels, heads=others)

    def _valence_arousal(self, values: np.ndarray) -> np.ndarray:
        if self.cfg.valence_arousal:
            return values
        return np.full(values.shape, np.nan, np.float32)


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
    if path.is_dir():
        raise ModelError(f"{path} is a directory; {ACCEPTED_MODELS}")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        raise ModelError(f"{path} is not a readable ONNX model{_looks_like(path)}; {ACCEPTED_MODELS}") from error


ACCEPTED_MODELS = (
    "a model is an .onnx file written by `affectlens export CHECKPOINT --onnx FILE`, or `int8` (the default) / "
    "`float32` (the packaged ones)"
)


def _looks_like(path: Path) -> str:
    """`` (it looks like ...)`` for files people mistake for ONNX models, from their first bytes; else ``""``."""
    try:
        with path.open("rb") as file:
            head = file.read(8)
    except OSError:
        return ""
    if head.startswith(b"PK\x03\x04") or path.suffix.lower() in (".pt", ".pth", ".ckpt", ".torchscript"):
        return " (it looks like a PyTorch checkpoint or TorchScript file)"
    if head.startswith(b"\x80"):
        return " (it looks like a Python pickle)"
    if len(head) == 0:
        return " (the file is empty)"
    return ""


def _config_of(session, path: Path) -> ModelConfig:
    metadata = session.get_modelmeta().custom_metadata_map
    if CFG_METADATA_KEY not in metadata:
        raise ModelError(
            f"{path} has no '{CFG_METADATA_KEY}' metadata: export it with `affectlens export` so its preprocessing "
            "travels with it"
        )
    try:
        return ModelConfig.from_json(metadata[CFG_METADATA_KEY])
    except (ValueError, TypeError) as error:  # TypeError: a field of the wrong JSON type
        raise ModelError(f"{path} has an unusable '{CFG_METADATA_KEY}': {error}") from error
