"""Export a trained model: ONNX (cfg in the metadata, dynamic batch axis), TorchScript, and INT8 ONNX."""

from __future__ import annotations

from pathlib import Path

import torch

from affectlens.models.config import CFG_METADATA_KEY, ModelConfig
from affectlens.models.multitask import InferenceWrapper


def output_names(model_cfg: ModelConfig) -> list[str]:
    """ONNX output names: ``probs``, ``valence_arousal``, then ``<head>_probs`` per extra head (sorted)."""
    return ["probs", "valence_arousal", *[f"{name}_probs" for name in sorted(model_cfg.extra_heads)]]


def export_onnx(net: torch.nn.Module, model_cfg: ModelConfig, path: str | Path, opset: int = 17) -> Path:
    """Write ``net`` (a MultiTaskNet) as ONNX with ``model_cfg`` in its metadata; input ``input`` (N, C, S, S)."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = InferenceWrapper(net.cpu().eval()).eval()
    dummy = torch.zeros(1, model_cfg.channels, model_cfg.input_size, model_cfg.input_size)
    names = output_names(model_cfg)
    torch.onnx.export(
        wrapper,
        (dummy,),
        str(path),
        input_names=["input"],
        output_names=names,
        dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in names}},
        opset_version=opset,
        dynamo=False,
    )
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = CFG_METADATA_KEY, model_cfg.to_json()
    model.producer_name = "affectlens"
    onnx.save(model, str(path))
    return path


def export_torchscript(net: torch.nn.Module, model_cfg: ModelConfig, path: str | Path) -> Path:
    """Write a traced TorchScript module; the cfg JSON travels as the ``cfg.json`` extra file."""
    path = Path(path)
    wrapper = InferenceWrapper(net.cpu().eval()).eval()
    dummy = torch.zeros(1, model_cfg.channels, model_cfg.input_size, model_cfg.input_size)
    traced = torch.jit.trace(wrapper, dummy)
    torch.jit.save(traced, str(path), _extra_files={"cfg.json": model_cfg.to_json()})
    return path


class CheckpointError(ValueError):
    """A file that is not a training checkpoint of affectlens (or whose weights do not fit its own config)."""


def load_checkpoint_net(checkpoint: str | Path) -> tuple[torch.nn.Module, ModelConfig]:
    """Rebuild the EMA network of a ``best.pt`` / ``last.pt`` checkpoint and its ModelConfig.

    Raises:
        CheckpointError: ``checkpoint`` is not a training checkpoint (one line that says so).
    """
    from affectlens.models.registry import create_model

    path = Path(checkpoint)
    hint = "expected best.pt or last.pt from the out_dir of `affectlens train`"
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (IsADirectoryError, FileNotFoundError, PermissionError):
        raise
    except Exception as error:  # text, ONNX, a truncated file: the unpickler's words ("invalid load key") help nobody
        kind = "an ONNX model (already exported)" if path.suffix.lower() == ".onnx" else "not a training checkpoint"
        raise CheckpointError(f"{path} is {kind}: torch cannot read it ({type(error).__name__}); {hint}") from None
    if not isinstance(state, dict) or not {"ema", "model_cfg", "train_cfg"} <= set(state):
        raise CheckpointError(f"{path} is not a training checkpoint (no ema/model_cfg/train_cfg entries); {hint}")
    model_cfg = ModelConfig.from_json(state["model_cfg"])
    train_cfg = state["train_cfg"]
    net = create_model(
        train_cfg["model"],
        num_classes=len(model_cfg.labels),
        in_channels=model_cfg.channels,
        valence_arousal=train_cfg.get("valence_arousal", True),
        extra_heads={k: len(v) for k, v in model_cfg.extra_heads.items()},
        dropout=train_cfg.get("dropout", 0.0),
        **(train_cfg.get("model_kwargs") or {}),
    )
    try:
        net.load_state_dict(state["ema"])
    except RuntimeError:
        raise CheckpointError(f"{path}: its weights do not fit the network its own config describes") from None
    return net.eval(), model_cfg
