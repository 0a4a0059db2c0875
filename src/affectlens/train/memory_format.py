"""Which tensor memory format the trainer uses: ``channels_last`` only where its backward pass is known not to crash.

torch 2.13.0's oneDNN backward of strided 1x1 convolutions in ``channels_last`` kills the process (SIGSEGV) on some
AVX-512 CPUs (e.g. a 2-core AMD EPYC), for some channel counts only (``mini_xception`` and the tiny test networks,
not ``resnet_se`` width 24). A crash cannot be caught, so :func:`choose_memory_format` tries the pattern in a child
process first: the known crash pattern, then one training step of the very network to be trained, at the batch
sizes it will see. Verdicts are cached per process. On CUDA ``channels_last`` is used without a probe (the crash is
in the CPU backend).

Measured on that 2-core EPYC, ``resnet_se`` width 24, batch 128, one thread: a training step in ``channels_last``
processes about 20 % more images per CPU-second than in the default (contiguous) format, so it is kept wherever the
probe passes.

``python -m affectlens.train.memory_format SPEC_JSON`` runs the probe (exit code 0 and ``ok`` when it passes).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from affectlens.train.config import MEMORY_FORMATS

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 300.0
# the reproduction of the crash: a strided 1x1 convolution, 8 -> 16 channels, on a (32, 8, 48, 48) batch
CRASH_PATTERN = {"pattern": True}


def run_probe(spec: dict[str, Any], memory_format: str = "channels_last") -> None:
    """Forward and backward in ``memory_format`` of the crash pattern (``spec == CRASH_PATTERN``) or of one network.

    A network spec holds :func:`~affectlens.models.registry.create_model`'s arguments (``name``, ``num_classes``,
    ``in_channels``, ``valence_arousal``, ``extra_heads``, ``dropout``, ``kwargs``) plus ``input_size`` (pixels) and
    ``batch_sizes`` (one step each). Crashes the process where the backend is broken: run it in a child process.
    """
    fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    torch.manual_seed(0)
    if spec.get("pattern"):
        x = torch.randn(32, 8, 48, 48).contiguous(memory_format=fmt)
        conv = torch.nn.Conv2d(8, 16, 1, 2, bias=False).to(memory_format=fmt)  # type: ignore[call-overload]
        conv(x).sum().backward()
        return
    from affectlens.models.registry import create_model

    net = create_model(
        spec["name"],
        num_classes=spec["num_classes"],
        in_channels=spec["in_channels"],
        valence_arousal=spec["valence_arousal"],
        extra_heads=spec["extra_heads"],
        dropout=spec["dropout"],
        **spec["kwargs"],
    ).to(memory_format=fmt)
    net.train()
    size = spec["input_size"]
    for batch in spec["batch_sizes"]:
        x = torch.randn(batch, spec["in_channels"], size, size).contiguous(memory_format=fmt)
        sum(value.float().sum() for value in net(x).values()).backward()


def probe_passes(spec: dict[str, Any], memory_format: str = "channels_last", threads: int = 0) -> tuple[bool, str]:
    """Run :func:`run_probe` in a child process; (passed, what happened: ``ok``, a signal or the error's last line)."""
    command = [sys.executable, "-m", __name__, json.dumps(spec, sort_keys=True), memory_format, str(threads)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, env=_child_env())
    except subprocess.TimeoutExpired:
        return False, f"no answer within {PROBE_TIMEOUT_S:.0f} s"
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return True, "ok"
    if proc.returncode < 0:
        return False, f"killed by signal {-proc.returncode}"
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return False, f"exit code {proc.returncode}: {lines[-1] if lines else 'no message'}"


def _child_env() -> dict[str, str]:
    """This environment, with the folder this affectlens is imported from first on PYTHONPATH (the child imports
    the same code, installed or not)."""
    import affectlens

    root = str(Path(affectlens.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


@functools.cache
def _cached_verdict(spec_json: str, threads: int) -> tuple[bool, str]:
    return probe_passes(json.loads(spec_json), "channels_last", threads)


def channels_last_is_safe(spec: dict[str, Any] | None = None) -> bool:
    """Whether the CPU backend survives ``channels_last`` training: the crash pattern, then ``spec``'s network (see
    :func:`run_probe`); each verdict is measured once per process."""
    threads = torch.get_num_threads()
    for item in (CRASH_PATTERN, spec):
        if item is None:
            continue
        passed, outcome = _cached_verdict(json.dumps(item, sort_keys=True), threads)
        if not passed:
            what = "the known crash pattern" if item is CRASH_PATTERN else f"a training step of {item['name']}"
            log.info("channels_last is off: %s in channels_last failed on this CPU (%s)", what, outcome)
            return False
    return True


def choose_memory_format(
    device: torch.device, requested: str = "auto", spec: dict[str, Any] | None = None
) -> torch.memory_format:
    """The memory format for training on ``device``.

    Args:
        device: where the network trains.
        requested: ``auto`` (channels_last on CUDA, and on CPU where :func:`channels_last_is_safe`), ``channels_last``
            (no probe: the caller takes the risk) or ``contiguous``.
        spec: the network to probe on CPU (see :func:`run_probe`); None probes only the crash pattern.
    """
    if requested not in MEMORY_FORMATS:
        raise ValueError(f"unknown memory_format {requested!r}; choose {', '.join(MEMORY_FORMATS)}")
    if requested == "contiguous":
        return torch.contiguous_format
    if requested == "channels_last" or device.type == "cuda":
        return torch.channels_last
    if device.type == "cpu" and channels_last_is_safe(spec):
        return torch.channels_last
    return torch.contiguous_format


def format_name(memory_format: torch.memory_format) -> str:
    """``channels_last`` or ``contiguous``."""
    return "channels_last" if memory_format == torch.channels_last else "contiguous"


if __name__ == "__main__":
    if len(sys.argv) > 3 and int(sys.argv[3]) > 0:
        torch.set_num_threads(int(sys.argv[3]))
    run_probe(json.loads(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "channels_last")
    print("ok")
