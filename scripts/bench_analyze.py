"""Benchmark: end-to-end ``analyze`` speed on a video (decode + detect + align + emotion + JSONL records).

No display and no video output, as in docs/BENCHMARKS.md. Runs the whole clip ``--repeats`` times after one warm-up
pass and prints the median frames per second and the mean per-stage milliseconds. ``--overlay`` also draws the full
HUD into every frame (what ``--output`` and ``--show`` add, minus the encoder / window).

    .venv/bin/python scripts/bench_analyze.py ../shared/data/videos/WolfgangLanger_Pexels.mp4 --repeats 5
    .venv/bin/python scripts/bench_analyze.py ../shared/data/videos/WolfgangLanger_Pexels.mp4 --repeats 5 --overlay
    .venv/bin/python scripts/bench_analyze.py ../shared/data/videos/WolfgangLanger_Pexels.mp4 --model float32
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

from affectlens.io import JsonlSink
from affectlens.pipeline import Analyzer, AnalyzerConfig


class StageTimes:
    """A sink that sums the per-stage timings of every record."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.frames = 0

    def write(self, result) -> None:
        self.frames += 1
        for key, value in result.timings_ms.items():
            self.sums[key] = self.sums.get(key, 0.0) + value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--detector", default="mediapipe")
    parser.add_argument("--model", default=None, help="an .onnx file, `int8` or `float32` (default: packaged INT8)")
    parser.add_argument("--overlay", action="store_true", help="draw the HUD into every frame")
    parser.add_argument("--no-overlap", action="store_true", help="detect and classify on one thread")
    args = parser.parse_args()

    analyzer = Analyzer(AnalyzerConfig(detector=args.detector, model=args.model, overlap=not args.no_overlap))
    annotated = [StageTimes()] if args.overlay else []  # a sink that wants annotated frames, and drops them
    fps_runs, stages = [], StageTimes()
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeats + 1):
            with JsonlSink(os.path.join(tmp, "records.jsonl")) as sink:
                timer = StageTimes()
                summary = analyzer.run(args.video, [sink, timer], annotated=annotated)
            if run == 0:
                continue  # warm-up
            fps_runs.append(summary.fps)
            for key, value in timer.sums.items():
                stages.sums[key] = stages.sums.get(key, 0.0) + value
            stages.frames += timer.frames
    result = {
        "video": args.video,
        "frames": summary.frames_read,
        "detector": args.detector,
        "model": str(analyzer.emotion_model.path.name),
        "overlay": args.overlay,
        "overlap": not args.no_overlap,
        "cpu_count": os.cpu_count(),
        "fps_median": round(statistics.median(fps_runs), 1),
        "fps_runs": [round(f, 1) for f in fps_runs],
        "ms_per_frame_by_stage": {k: round(v / max(stages.frames, 1), 3) for k, v in stages.sums.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
