"""How often the original FER-2013 label agrees with the FER+ majority vote, per original class (all splits).

Explains why a model trained on FER+ labels scores low against the original labels.

    .venv/bin/python scripts/label_agreement.py
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from affectlens.emotions import EMOTIONS, canonical_emotion
from affectlens.train.datasets.ferplus import ferplus_majority

# the shared data beside the repository (whatever the working directory)
DEFAULT_NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013_ferplus_48x48.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", default=DEFAULT_NPZ)
    args = parser.parse_args()
    data = np.load(args.npz)
    columns = [str(c) for c in data["ferplus_vote_columns"]]
    names = [canonical_emotion(str(n)) for n in data["fer_label_names"]]
    emotion_columns = np.array([i for i, c in enumerate(columns) if c.lower() not in ("unknown", "nf")])
    majority = ferplus_majority(data["ferplus_votes"].astype(np.int64), emotion_columns)
    majority_names = np.array(["none" if k < 0 else canonical_emotion(columns[k]) for k in majority])
    print("| original label | images | FER+ majority agrees | most common FER+ majorities |")
    print("|---|---|---|---|")
    for label in (e for e in EMOTIONS if e in names):
        rows = data["fer_label"] == names.index(label)
        counts = Counter(majority_names[rows])
        top = ", ".join(f"{name} {n}" for name, n in counts.most_common(3))
        print(f"| {label} | {rows.sum()} | {counts[label] / rows.sum() * 100:.1f}% | {top} |")


if __name__ == "__main__":
    main()
