"""How often video records read ``uncertain``: runs ``affectlens analyze CLIP --jsonl`` and counts the faces.

Prints, per clip, the face-frames (faces in the records), the share whose ``emotion`` is ``uncertain`` (the threshold
applied by the smoother to the smoothed probabilities), and the share whose raw per-frame top probability
(``raw.probs``) is below the threshold (the model's own ``uncertain_below`` for its main head, or ``--below``).

    .venv/bin/python scripts/uncertain_in_video.py ../shared/data/videos/WolfgangLanger_Pexels.mp4 \
        ../shared/data/videos/short_hamilton_clip.mp4 [--model float32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from affectlens.modelcfg import MAIN_HEAD
from affectlens.models.runtime import EmotionModel

CLI = Path(sys.executable).with_name("affectlens")


def count(jsonl: Path, below: float) -> tuple[int, int, int]:
    """(faces, faces reading ``uncertain``, faces whose raw top probability is below ``below``)."""
    faces = uncertain = raw_below = 0
    for line in jsonl.read_text().splitlines():
        for face in json.loads(line).get("faces", []):
            if "emotion" not in face:
                continue
            faces += 1
            uncertain += face["emotion"] == "uncertain"
            raw = face.get("raw", {}).get("probs", face["probs"])
            raw_below += max(raw.values()) < below
    return faces, uncertain, raw_below


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--model", default="default", help="default, int8, float32 or an .onnx path")
    parser.add_argument("--below", type=float, help="raw threshold (default: the model's own for its main head)")
    args = parser.parse_args()
    model = EmotionModel(args.model)
    below = args.below if args.below is not None else model.cfg.uncertain_below[MAIN_HEAD]
    print(f"model {model.path.name}; uncertain_below {model.cfg.uncertain_below[MAIN_HEAD]}; raw threshold {below}")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            jsonl = Path(tmp) / "records.jsonl"
            cmd = [str(CLI), "analyze", clip, "--jsonl", str(jsonl), "--model", str(model.path), "--no-progress"]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            faces, uncertain, raw_below = count(jsonl, below)
            n = max(faces, 1)
            print(
                f"{Path(clip).name}: {faces} face-frames, uncertain {uncertain} ({100 * uncertain / n:.1f}%), "
                f"raw top probability below {below}: {raw_below} ({100 * raw_below / n:.1f}%)"
            )


if __name__ == "__main__":
    main()
