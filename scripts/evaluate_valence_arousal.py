"""Valence/arousal of an exported model on the FER+ test split, against the targets derived from the FER+ votes
(see ``affectlens/train/valence_arousal.py``): MSE, MAE, Pearson r and CCC per dimension.

These targets are themselves derived from emotion votes, so the figures say how well the model reproduces that
mapping, not how well it matches human valence/arousal ratings (no such data is available here).

    .venv/bin/python scripts/evaluate_valence_arousal.py [--model m.onnx] [--split test] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from affectlens.metrics import regression_report
from affectlens.models.runtime import EmotionModel
from affectlens.train.datasets.ferplus import load_ferplus_npz

# the shared data beside the repository (whatever the working directory)
DEFAULT_NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013_ferplus_48x48.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--npz", default=DEFAULT_NPZ)
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    model = EmotionModel(args.model)
    faces = load_ferplus_npz(args.npz).subset(args.split)
    predictions = []
    for start in range(0, len(faces), 256):
        _, va = model.predict_crops([faces.image(i) for i in range(start, min(start + 256, len(faces)))])
        predictions.append(va)
    report = regression_report(np.concatenate(predictions), faces.valence_arousal)
    report["split"] = f"FER+ {args.split} ({len(faces)} images)"
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
