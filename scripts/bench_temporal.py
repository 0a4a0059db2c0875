"""Benchmark: cost of the per-video stages (scene-cut check, tracker, smoother, engagement) per face per frame.

Detection and classification run once over the clip; the classified faces are then replayed through the stages
``--repeats`` times, timing each stage. Prints the mean microseconds per frame and per face of each stage.

    .venv/bin/python scripts/bench_temporal.py ../shared/data/videos/WolfgangLanger_Pexels.mp4
    .venv/bin/python scripts/bench_temporal.py ../shared/data/videos/short_hamilton_clip.mp4
"""

from __future__ import annotations

import argparse
import json
import time

from affectlens.io import open_source
from affectlens.pipeline import Analyzer, AnalyzerConfig, EngagementStage, SmoothStage, TrackStage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    config = AnalyzerConfig()
    with Analyzer(config) as analyzer, open_source(args.video) as source:
        frames = [(frame, analyzer.process(frame, "image").faces) for frame in source]
        cuts = analyzer.cuts.detector
        tracker = next(s for s in analyzer.builtin if isinstance(s, TrackStage)).tracker
        smoother = next(s for s in analyzer.builtin if isinstance(s, SmoothStage)).smoother
        engagement = next(s for s in analyzer.builtin if isinstance(s, EngagementStage)).scorer
    faces_total = sum(len(faces) for _, faces in frames) * args.repeats
    spent = {"scene_cut": 0.0, "tracker": 0.0, "smoother": 0.0, "engagement": 0.0}
    for _ in range(args.repeats):
        analyzer.reset()
        for frame, faces in frames:
            t0 = time.perf_counter()
            cut = cuts.update(frame.image)
            t1 = time.perf_counter()
            tracked = tracker.update(faces, frame.timestamp_ms, scene_cut=cut)
            t2 = time.perf_counter()
            smoothed = smoother.update(tracked, frame.timestamp_ms, scene_cut=cut)
            t3 = time.perf_counter()
            engagement.update(smoothed, frame.timestamp_ms, scene_cut=cut)
            t4 = time.perf_counter()
            for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spent[key] += dt
    n_frames = len(frames) * args.repeats
    per_face_stages = ("tracker", "smoother", "engagement")
    print(
        json.dumps(
            {
                "video": args.video,
                "frames": len(frames),
                "faces_per_frame": round(faces_total / n_frames, 2),
                "us_per_frame": {k: round(v / n_frames * 1e6, 1) for k, v in spent.items()},
                "us_per_face_tracking_smoothing_engagement": round(
                    sum(spent[k] for k in per_face_stages) / max(faces_total, 1) * 1e6, 1
                ),
                "us_per_face_including_scene_cut": round(sum(spent.values()) / max(faces_total, 1) * 1e6, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
