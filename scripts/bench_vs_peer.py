"""Benchmark: `affectlens analyze` against the `fer` package's own pipeline, in the same run, as steady frames/s.

Both tools run as the user runs them, one process per run, decode included, one JSON line per frame written:

- ours: ``affectlens analyze VIDEO --jsonl x.jsonl --no-progress`` (the defaults), and the same with
  ``--output annotated.mp4 --draw all`` (the annotated video with the full HUD);
- the peer: ``peer_fer_pipeline.py --tflite emotion_model_quantized.tflite VIDEO --jsonl peer.jsonl`` (Haar cascade +
  fer's quantised mini-Xception through the TFLite runtime, in its own venv: ``../shared/tools/peer_setup.sh`` once).

Steady frames/s = frames / (wall time on the clip - wall time on one image), so that start-up (imports, model
loading) counts for neither. The image is the clip's first frame. Each round runs every configuration on the clip and
on the image, in an order that rotates from round to round; the figures are medians over ``--repeats`` rounds, after
one warm-up round. Prints a Markdown table with the ratio to the peer (targets: >= 6x with the defaults, >= 4x with
``--output`` and the full HUD).

    ../shared/tools/peer_setup.sh
    .venv/bin/python scripts/bench_vs_peer.py ../shared/data/videos/WolfgangLanger_Pexels.mp4 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
PEER_SCRIPT = ROOT.parent / "shared" / "tools" / "peer_fer_pipeline.py"
PEER_PYTHON = Path("/tmp/fervenv/bin/python")
PEER_TFLITE = Path("/tmp/ferwheel/fer/data/emotion_model_quantized.tflite")
#: configuration -> the ratio to the peer that issue 8 asks for
PEER_IO = ["SOURCE", "--jsonl", "JSONL"]
TARGETS = {"affectlens": 6.0, "affectlens --output --draw all": 4.0}


@dataclass
class Config:
    """One tool setting: how to run it on a source, writing its records to ``jsonl``."""

    name: str
    command: list[str]  # SOURCE and JSONL are placeholders
    clip_walls: list[float] = field(default_factory=list)
    image_walls: list[float] = field(default_factory=list)
    frames: int = 0

    def argv(self, source: Path, jsonl: Path, out_dir: Path, image: bool) -> list[str]:
        suffix = ".png" if image else ".mp4"
        swap = {"SOURCE": str(source), "JSONL": str(jsonl), "ANNOTATED": str(out_dir / f"annotated{suffix}")}
        return [swap.get(part, part) for part in self.command]

    def steady_fps(self) -> list[float]:
        """Frames per second of each round: frames / (clip wall - image wall); NaN if the clip took no longer."""
        return [
            self.frames / (clip - image) if clip > image else math.nan
            for clip, image in zip(self.clip_walls, self.image_walls, strict=True)
        ]


def run_once(argv: list[str], jsonl: Path) -> tuple[float, int]:
    """Wall seconds of one process run and the JSON lines it wrote; exits with its stderr if it fails."""
    jsonl.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.strip()}")
    with jsonl.open() as file:
        lines = sum(1 for line in file if line.strip())
    return wall, lines


def first_frame(video: Path, out: Path) -> Path:
    """The first frame of ``video`` written as ``out`` (a PNG both tools read as one image)."""
    capture = cv2.VideoCapture(str(video))
    ok, image = capture.read()
    capture.release()
    if not ok:
        sys.exit(f"cannot decode {video}")
    cv2.imwrite(str(out), image)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (after one warm-up round)")
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument("--peer-script", type=Path, default=PEER_SCRIPT)
    parser.add_argument("--tflite", type=Path, default=PEER_TFLITE)
    parser.add_argument("--ours", default=str(Path(sys.executable).with_name("affectlens")), help="affectlens CLI")
    parser.add_argument(
        "--ours-args", default="", help="extra options for every affectlens run, e.g. '--model float32'"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    for path, hint in [
        (args.video, "give the clip"),
        (args.peer_python, "run ../shared/tools/peer_setup.sh"),
        (args.tflite, "run ../shared/tools/peer_setup.sh"),
        (args.peer_script, "the peer pipeline lives in ../shared/tools"),
    ]:
        if not path.exists():
            sys.exit(f"missing {path}: {hint}")

    extra = args.ours_args.split()
    ours = [args.ours, "analyze", "SOURCE", "--jsonl", "JSONL", "--no-progress", *extra]
    configs = [
        Config("affectlens", ours),
        Config("affectlens --output --draw all", [*ours, "--output", "ANNOTATED", "--draw", "all"]),
        Config("fer (peer)", [str(args.peer_python), str(args.peer_script), "--tflite", str(args.tflite), *PEER_IO]),
    ]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        image = first_frame(args.video, tmp_dir / "first_frame.png")
        jsonl = tmp_dir / "records.jsonl"
        for round_ in range(args.repeats + 1):
            shift = round_ % len(configs)
            for config in configs[shift:] + configs[:shift]:  # a different tool goes first in each round
                clip_wall, frames = run_once(config.argv(args.video, jsonl, tmp_dir, image=False), jsonl)
                image_wall, _ = run_once(config.argv(image, jsonl, tmp_dir, image=True), jsonl)
                if round_ == 0:
                    config.frames = frames
                    continue  # warm-up: file cache, first imports
                if frames != config.frames:
                    sys.exit(f"{config.name}: {frames} records in round {round_}, {config.frames} before")
                config.clip_walls.append(clip_wall)
                config.image_walls.append(image_wall)
            print(f"round {round_}/{args.repeats} done", file=sys.stderr)
    load_after = os.getloadavg()

    peer = configs[-1]
    peer_fps = statistics.median(peer.steady_fps())
    rows = []
    print(
        f"\n{args.video.name}: {configs[0].frames} frames; {os.cpu_count()} CPUs; load average (1 min) "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; median of {args.repeats} rounds\n"
    )
    print(
        "| configuration | frames | wall on the clip, s | wall on one image, s | steady frames/s | vs peer "
        "| median of the rounds' ratios | target |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for config in configs:
        fps = statistics.median(config.steady_fps())
        ratio = fps / peer_fps
        # each round's ratio compares runs made seconds apart: steadier when the machine's load changes during the run
        round_ratios = [ours / theirs for ours, theirs in zip(config.steady_fps(), peer.steady_fps(), strict=True)]
        target = TARGETS.get(config.name)
        verdict = "" if target is None else f">= {target:g}x: {'met' if ratio >= target else 'not met'}"
        print(
            f"| {config.name} | {config.frames} | {statistics.median(config.clip_walls):.2f} | "
            f"{statistics.median(config.image_walls):.2f} | **{fps:.1f}** | {ratio:.2f}x | "
            f"{statistics.median(round_ratios):.2f}x | {verdict} |"
        )
        rows.append(
            {
                "name": config.name,
                "command": config.command,
                "frames": config.frames,
                "clip_walls_s": config.clip_walls,
                "image_walls_s": config.image_walls,
                "steady_fps": config.steady_fps(),
                "steady_fps_median": fps,
                "ratio_to_peer": ratio,
                "round_ratios": round_ratios,
                "target": target,
            }
        )
    if args.json:
        report = {"video": str(args.video), "repeats": args.repeats, "cpus": os.cpu_count()}
        report |= {"load_before": load_before, "load_after": load_after, "configs": rows}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
