"""Total frames per second of ``affectlens batch`` over the clips of ../shared/data/videos, with 1 and 2 workers, on
the local and the Ray engine (issue 13). Prints one JSON object. Run it on a quiet machine:

    .venv/bin/python scripts/bench_batch.py --repeat 3                  # the 8 clips, local and ray, 1 and 2 workers
    .venv/bin/python scripts/bench_batch.py --clips 2 --engines local   # a smoke run

Each configuration is a fresh ``--force`` batch into a temporary folder (one warm-up run first, not counted), run
``--repeat`` times, the configurations in a rotating order; medians are reported. Two rates per configuration:
``fps`` = decoded frames of all videos / wall-clock seconds of the whole command (start-up, model loading, Ray's
start and shutdown included: what a user waits for), and ``steady_fps`` = frames / (that wall time - the wall time
of the same command on a 2-frame clip), the rate once started, as docs/BENCHMARKS.md measures ``analyze`` against
the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"


def run(videos: list[Path], out: Path, engine: str, workers: int, extra: list[str]) -> float:
    command = [sys.executable, "-m", "affectlens.cli", "batch", *map(str, videos), "--out", str(out)]
    command += ["--engine", engine, "--workers", str(workers), "--no-progress", "--force", *extra]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"batch failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return seconds


def two_frame_clip(source: Path, path: Path) -> Path:
    """The first 2 frames of ``source`` as an .avi at ``path`` (a video that costs only the start-up)."""
    import cv2

    capture = cv2.VideoCapture(str(source))
    frames = [capture.read()[1] for _ in range(2)]
    capture.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=0, help="use only the first N clips (0: all)")
    parser.add_argument("--engines", default="local,ray", help="comma-separated: local, ray")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (medians are reported)")
    parser.add_argument("extra", nargs="*", help="more batch options after --, e.g. -- --every 2 --no-overlap")
    args = parser.parse_args()
    import cv2

    videos = sorted(p for p in VIDEOS.iterdir() if p.suffix.lower() in (".mp4", ".mov", ".avi"))
    videos = videos[: args.clips] if args.clips else videos
    frames = 0
    for video in videos:
        capture = cv2.VideoCapture(str(video))
        count = 0
        while capture.grab():
            count += 1
        capture.release()
        frames += count
    configs = [(e, int(w)) for e in args.engines.split(",") for w in args.workers.split(",")]
    walls: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    starts: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        tiny = two_frame_clip(videos[0], Path(tmp) / "two_frames.avi")
        run(videos[:1], Path(tmp) / "warmup", "local", 1, args.extra)
        for repeat in range(args.repeat):
            shift = repeat % len(configs)
            for engine, workers in configs[shift:] + configs[:shift]:
                out = Path(tmp) / f"{engine}-{workers}"
                walls[(engine, workers)].append(run(videos, out, engine, workers, args.extra))
                starts[(engine, workers)].append(
                    run([tiny], Path(tmp) / f"{engine}-{workers}-start", engine, workers, args.extra)
                )
    results = []
    for engine, workers in configs:
        wall, start = statistics.median(walls[(engine, workers)]), statistics.median(starts[(engine, workers)])
        results.append(
            {
                "engine": engine,
                "workers": workers,
                "seconds": round(wall, 2),
                "start_seconds": round(start, 2),
                "fps": round(frames / wall, 1),
                "steady_fps": round(frames / (wall - start), 1),
                "runs_seconds": [round(w, 2) for w in walls[(engine, workers)]],
            }
        )
    by = {(r["engine"], r["workers"]): r for r in results}
    engines = [e for e in args.engines.split(",") if (e, 1) in by and (e, 2) in by]
    print(
        json.dumps(
            {
                "videos": [v.name for v in videos],
                "frames": frames,
                "options": args.extra,
                "cpus": os.cpu_count(),
                "machine": platform.processor() or platform.machine(),
                "results": results,
                "speedup_2_vs_1": {e: round(by[(e, 2)]["fps"] / by[(e, 1)]["fps"], 2) for e in engines},
                "steady_speedup_2_vs_1": {
                    e: round(by[(e, 2)]["steady_fps"] / by[(e, 1)]["steady_fps"], 2) for e in engines
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
