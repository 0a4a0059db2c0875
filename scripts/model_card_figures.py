"""Print the model-card tables from ``affectlens evaluate --json`` reports (so the card holds only measured figures).

.venv/bin/python scripts/model_card_figures.py out/eval/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RARE = ("disgust", "fear", "contempt")


def main() -> None:
    print("| test set | images | accuracy | macro-F1 | recall disgust / fear / contempt | protocol |")
    print("|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        report = json.loads(Path(path).read_text())
        recalls = " / ".join(
            f"{report['per_class'][c]['recall'] * 100:.1f}%" if c in report["per_class"] else "n/a" for c in RARE
        )
        print(
            f"| {Path(path).stem} | {report['n']} | {report['accuracy'] * 100:.2f}% | {report['macro_f1'] * 100:.2f}% "
            f"| {recalls} | {report['protocol']} |"
        )
    for path in sys.argv[1:]:
        report = json.loads(Path(path).read_text())
        print(f"\n{Path(path).stem}: per class")
        print("| class | precision | recall | F1 | support |")
        print("|---|---|---|---|---|")
        for name, row in report["per_class"].items():
            print(
                f"| {name} | {row['precision'] * 100:.1f}% | {row['recall'] * 100:.1f}% | {row['f1'] * 100:.1f}% "
                f"| {row['support']} |"
            )


if __name__ == "__main__":
    main()
