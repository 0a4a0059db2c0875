"""Compare two emotion models' raw probabilities on FER+ test (48x48 crops, main head): sums, differences, top labels.

Written to check that removing the INT8 model's last quantise/dequantise pair (float softmax outputs, issue 8) left
its probabilities where they were. The previous INT8 file is in git history:

    git show 0637584:src/affectlens/models/weights/affectlens_emotion_int8.onnx > /tmp/old_int8.onnx
    .venv/bin/python scripts/compare_probabilities.py /tmp/old_int8.onnx int8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from affectlens.modelcfg import MAIN_HEAD
from affectlens.models.runtime import EmotionModel
from affectlens.train.datasets.ferplus import load_ferplus_npz

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate_uncertain import DEFAULT_NPZ, head_probs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs=2, help="two models: default, int8, float32 or .onnx paths")
    parser.add_argument("--npz", type=Path, default=DEFAULT_NPZ)
    args = parser.parse_args()
    test = load_ferplus_npz(args.npz).subset("test")
    probs = []
    for name in args.models:
        model = EmotionModel(name)
        p = head_probs(model, test, MAIN_HEAD).astype(np.float64)
        probs.append(p)
        sums = p.sum(axis=1)
        print(
            f"{name} ({model.path.name}): {len(p)} FER+ test images; probability sums {sums.min():.4f} to "
            f"{sums.max():.4f}; accuracy {100 * np.mean(p.argmax(axis=1) == test.labels):.2f}%; "
            f"uncertain_below {model.cfg.uncertain_below}"
        )
    a, b = probs
    print(f"largest |difference| of a probability: {np.abs(a - b).max():.4f}")
    print(f"top labels that differ: {int(np.sum(a.argmax(axis=1) != b.argmax(axis=1)))}")


if __name__ == "__main__":
    main()
