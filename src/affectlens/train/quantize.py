"""INT8 ONNX: static quantisation (QDQ, per-channel weights) calibrated on training images.

The calibration images go through the same :func:`affectlens.preprocess.preprocess_batch` as at run time, and the
model cfg is copied into the quantised file's metadata, so the INT8 model is a drop-in replacement.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from affectlens.models.config import CFG_METADATA_KEY
from affectlens.models.runtime import read_model_config
from affectlens.preprocess import preprocess_batch
from affectlens.train.faceset import FaceSet


def quantize_int8(
    onnx_path: str | Path, out_path: str | Path, calibration: FaceSet, images: int = 512, seed: int = 0
) -> Path:
    """Write an INT8 copy of ``onnx_path`` calibrated on ``images`` random training images of ``calibration``."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cfg = read_model_config(onnx_path)
    pool = np.flatnonzero(calibration.split == "train")
    if len(pool) == 0:
        pool = np.arange(len(calibration))
    chosen = np.random.default_rng(seed).choice(pool, size=min(images, len(pool)), replace=False)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                preprocess_batch([calibration.image(int(i)) for i in chosen[start : start + 32]], cfg)
                for start in range(0, len(chosen), 32)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"input": batch}

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared))
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    model = onnx.load(str(out_path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = CFG_METADATA_KEY, cfg.to_json()
    onnx.save(model, str(out_path))
    return out_path
