"""Choose each head's ``uncertain`` threshold on validation data, report calibration (ECE), and store the thresholds in
the model's cfg.

Per head, on raw per-image probabilities of 48x48 FER-2013 crops (the crops the model was trained on, so no detection
or alignment): the threshold is the top probability below which the top label is wrong more often than right on the
validation split (PublicTest), estimated with an isotonic accuracy curve (``affectlens.calibration``). The test split
(PrivateTest) is only reported, never used to choose. ECE: 15 equal-width bins of the top probability.

Heads and their data: ``emotion`` (main head) = FER+ majority labels (rows with a unique emotion majority), ``fer2013``
= the original FER-2013 labels (all rows). Other heads have no labelled data here and are skipped.

    .venv/bin/python scripts/calibrate_uncertain.py [--model default|int8|m.onnx] [--json out.json] [--write]
        [--share-below 0.3 ...]

It also prints, per head and split, the mean raw top probability and (``--share-below T``) the share of images whose
raw top probability is below T (what a fixed threshold T would mark ``uncertain``).

``--write`` rewrites the model file's ``affectlens_cfg`` metadata (with the ``onnx`` package, weights untouched):
``uncertain_below`` per head and a provenance line in ``info``; ``--valence-arousal true|false`` also sets
``ModelConfig.valence_arousal`` (for models exported before that field existed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from affectlens.calibration import ECE_BINS, WRONG_SHARE, calibration_summary, choose_uncertain_threshold
from affectlens.models.config import CFG_METADATA_KEY, MAIN_HEAD, ModelConfig
from affectlens.models.runtime import EmotionModel
from affectlens.train.datasets.ferplus import load_fer2013_npz, load_ferplus_npz
from affectlens.train.faceset import FaceSet

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NPZ = REPO.parent / "shared" / "data" / "fer2013" / "fer2013_ferplus_48x48.npz"
HEAD_DATA = {MAIN_HEAD: ("FER+ majority labels", load_ferplus_npz), "fer2013": ("original labels", load_fer2013_npz)}
SPLIT_NAMES = {"val": "validation (PublicTest)", "test": "test (PrivateTest)"}


def head_probs(model: EmotionModel, faces: FaceSet, head: str, batch: int = 512) -> np.ndarray:
    """(N, K) raw probabilities of ``head`` for every image of ``faces``."""
    chunks = []
    for start in range(0, len(faces), batch):
        crops = [faces.image(i) for i in range(start, min(start + batch, len(faces)))]
        chunks.append(model.predict_head(crops, head))
    return np.concatenate(chunks)


def top_figures(probs: np.ndarray, share_below: list[float]) -> dict:
    """Mean raw top probability, and the share of images whose top probability is below each of ``share_below``."""
    top = probs.max(axis=1)
    return {
        "mean_top_probability": float(top.mean()),
        "share_below": {str(t): float(np.mean(top < t)) for t in share_below},
    }


def calibrate(model: EmotionModel, npz: Path, share_below: list[float] = ()) -> dict[str, dict]:
    """Per head with data: the threshold chosen on validation and the figures of validation and test."""
    results: dict[str, dict] = {}
    for head in [MAIN_HEAD, *sorted(model.cfg.extra_heads)]:
        if head not in HEAD_DATA:
            print(f"skipped head {head!r}: no labelled data for it here", file=sys.stderr)
            continue
        labels_name, loader = HEAD_DATA[head]
        faces = loader(npz)
        if faces.classes != model.head_labels(head):
            raise SystemExit(f"head {head!r} has classes {model.head_labels(head)}, the data {faces.classes}")
        val, test = faces.subset("val"), faces.subset("test")
        val_probs, test_probs = head_probs(model, val, head), head_probs(model, test, head)
        threshold = choose_uncertain_threshold(val_probs.max(axis=1), val_probs.argmax(axis=1) == val.labels)
        results[head] = {
            "labels": labels_name,
            "threshold": threshold,
            "val": calibration_summary(val_probs, val.labels, threshold),
            "test": calibration_summary(test_probs, test.labels, threshold),
            "top": {"val": top_figures(val_probs, share_below), "test": top_figures(test_probs, share_below)},
        }
    return results


def write_config(path: Path, cfg: ModelConfig) -> None:
    """Replace the ``affectlens_cfg`` metadata of the ONNX file ``path`` (atomically: a temporary file, renamed)."""
    import onnx

    proto = onnx.load(str(path))
    entries = [entry for entry in proto.metadata_props if entry.key == CFG_METADATA_KEY]
    if len(entries) != 1:
        raise SystemExit(f"{path} has {len(entries)} '{CFG_METADATA_KEY}' entries, expected 1")
    entries[0].value = cfg.to_json()
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)


def format_table(results: dict[str, dict]) -> str:
    rows = [
        "| head (labels) | split | images | accuracy | ECE | threshold | uncertain | top label right, uncertain "
        "| shown accuracy | shown ECE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for head, result in results.items():
        for split in ("val", "test"):
            s = result[split]
            wrong = "n/a" if s["uncertain_accuracy"] is None else f"{100 * s['uncertain_accuracy']:.1f}%"
            rows.append(
                f"| {head} ({result['labels']}) | {SPLIT_NAMES[split]} | {s['n']:,} | {100 * s['accuracy']:.2f}% "
                f"| {s['ece']:.4f} | {s['threshold']:.3f} | {100 * s['uncertain_share']:.1f}% | {wrong} "
                f"| {100 * s['shown_accuracy']:.2f}% | {s['shown_ece']:.4f} |"
            )
    return "\n".join(rows)


def format_top(results: dict[str, dict]) -> str:
    lines = []
    for head, result in results.items():
        for split in ("val", "test"):
            top = result["top"][split]
            shares = "".join(
                f"; top probability below {t}: {100 * share:.1f}%" for t, share in top["share_below"].items()
            )
            accuracy = 100 * result[split]["accuracy"]
            lines.append(
                f"{head}, {SPLIT_NAMES[split]}: mean top probability {top['mean_top_probability']:.3f} "
                f"(accuracy {accuracy:.2f}%){shares}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="default, int8 or an .onnx path")
    parser.add_argument("--npz", type=Path, default=DEFAULT_NPZ, help="fer2013_ferplus_48x48.npz")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    parser.add_argument("--write", action="store_true", help="store the thresholds in the model file's cfg")
    parser.add_argument(
        "--share-below",
        type=float,
        nargs="+",
        default=[],
        metavar="T",
        help="also print the share of images whose raw top probability is below T",
    )
    parser.add_argument("--valence-arousal", choices=("true", "false"), help="with --write: set cfg.valence_arousal")
    args = parser.parse_args()
    if args.valence_arousal and not args.write:
        parser.error("--valence-arousal needs --write")

    model = EmotionModel(args.model)
    results = calibrate(model, args.npz, args.share_below)
    print(
        f"model {model.path.name}; threshold: raw top probability below which the top label is wrong more than "
        f"{WRONG_SHARE:.0%} of the time on validation; ECE with {ECE_BINS} bins"
    )
    print(format_table(results))
    print(format_top(results))
    if args.json:
        args.json.write_text(json.dumps({"model": model.path.name, "heads": results}, indent=2) + "\n")
    if args.write:
        info = dict(model.cfg.info)
        info["uncertain_below"] = (
            "chosen per head on FER-2013 PublicTest by scripts/calibrate_uncertain.py: below it the raw top label is "
            "wrong more often than right"
        )
        changes: dict = {"uncertain_below": {h: r["threshold"] for h, r in results.items()}, "info": info}
        if args.valence_arousal:
            changes["valence_arousal"] = args.valence_arousal == "true"
        write_config(model.path, dataclasses.replace(model.cfg, **changes))
        print(f"wrote uncertain_below {changes['uncertain_below']} into {model.path}")


if __name__ == "__main__":
    main()
