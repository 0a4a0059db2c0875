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


def float_probabilities(model: object) -> int:
    """Drop the QuantizeLinear/DequantizeLinear pair that static quantisation puts after each output ``Softmax`` of
    ``model`` (an ``onnx.ModelProto``, changed in place), so that the probabilities leave the model in float32: summing
    to 1 and finer than the 1/255 steps of a uint8 tensor (the argmax is unchanged). Returns the outputs rewired."""
    graph = model.graph  # type: ignore[attr-defined]
    producer = {name: node for node in graph.node for name in node.output}
    rewired = 0
    for output in graph.output:
        dequantize = producer.get(output.name)
        if dequantize is None or dequantize.op_type != "DequantizeLinear":
            continue
        quantize = producer.get(dequantize.input[0])
        if quantize is None or quantize.op_type != "QuantizeLinear":
            continue
        softmax = producer.get(quantize.input[0])
        if softmax is None or softmax.op_type != "Softmax":
            continue
        readers = [n for n in graph.node if any(i in (softmax.output[0], quantize.output[0]) for i in n.input)]
        if readers != [quantize, dequantize]:
            continue  # the quantised probabilities feed something else too: leave the graph as it is
        graph.node.remove(quantize)
        graph.node.remove(dequantize)
        softmax.output[0] = output.name
        rewired += 1
    used = {name for node in graph.node for name in node.input}
    for initializer in [i for i in graph.initializer if i.name not in used]:  # the pairs' scales and zero points
        graph.initializer.remove(initializer)
    return rewired


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
    float_probabilities(model)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = CFG_METADATA_KEY, cfg.to_json()
    onnx.save(model, str(out_path))
    return out_path
