"""Benchmark: emotion-model latency per face in ONNX Runtime (batch 1 and batch 8), after warm-up.

.venv/bin/python scripts/bench_model.py                 # the packaged default model (INT8)
.venv/bin/python scripts/bench_model.py --model float32 # the packaged float32 model
.venv/bin/python scripts/bench_model.py --model m.onnx --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from affectlens.models.runtime import EmotionModel


def time_batch(model: EmotionModel, batch: int, iterations: int) -> float:
    """Median milliseconds per face for batches of ``batch``."""
    size, channels = model.cfg.input_size, model.cfg.channels
    x = np.random.default_rng(0).standard_normal((batch, channels, size, size)).astype(np.float32)
    for _ in range(20):
        model.predict(x)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        model.predict(x)
        samples.append((time.perf_counter() - start) * 1e3 / batch)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="an .onnx file, `int8` or `float32` (default: packaged INT8)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()
    model = EmotionModel(args.model, threads=args.threads)
    print(
        json.dumps(
            {
                "model": str(model.path),
                "threads": args.threads,
                "ms_per_face_batch1": round(time_batch(model, 1, args.iterations), 3),
                "ms_per_face_batch8": round(time_batch(model, 8, args.iterations // 4), 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
