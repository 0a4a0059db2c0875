"""Benchmark: faces found in group photos and crowds by ``affectlens analyze`` (tiled detection), and what it costs.

Builds three inputs from ``../shared/data/images/multi_face.jpg`` (1000x667, 5 faces ~90-120 px wide) in a temporary
folder (nothing is written into the repository):

- ``mosaic.png``: 3 x 2 copies at the original size, 3000x1334, 30 faces;
- ``mosaic.mp4``: 10 s (250 frames at 25 fps, mp4v) of that mosaic panning slowly (up to +-40 px across, +-20 px
  down, on a grey border) so that faces cross the tile edges;
- ``crowd8k.png``: 8 x 7 copies (8000x4669) resized to 7680x4320 (x0.96 across, x0.925 down), 280 faces ~85-115 px.

Runs the CLI on each (``affectlens analyze IN --json`` for images, ``--jsonl`` for the video) with the default detector,
with ``--detect-tiles off`` (the detector as it was before tiling) and with Haar, and prints a Markdown table: faces
reported, how many of them lie on a known face (IoU >= 0.3 with one of the 5 faces of multi_face.jpg, as found by
BlazeFace full range on the original image, moved to each copy), and wall time of the whole command. In the video,
faces are reported once on a confirmed track, so the count is per frame: frames with >= 27 of the 30 faces.

``--speed`` instead times the default detector alone (pre-decoded frames, median of 5 passes after a warm-up) on the
640x360 clips, the common case that tiling must not slow down; it uses only ``create_detector``, so it also runs
against an older checkout (``PYTHONPATH=old/src``).

    .venv/bin/python scripts/bench_crowd_detection.py
    .venv/bin/python scripts/bench_crowd_detection.py --speed
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
AFFECTLENS = [shutil.which("affectlens", path=str(Path(sys.executable).parent)) or "affectlens"]  # the venv's CLI
MOSAIC_GRID = (3, 2)  # columns, rows of multi_face.jpg copies
CROWD_GRID = (8, 7)
CROWD_SIZE = (7680, 4320)
VIDEO_FPS, VIDEO_SECONDS, PAN = 25, 10, (40, 20)


def known_faces(image: np.ndarray) -> np.ndarray:
    """(5, 4) xyxy of the faces of multi_face.jpg: BlazeFace full range on the original image (no tiling there)."""
    from affectlens.detect import create_detector

    with create_detector("mediapipe-full") as detector:
        boxes = detector.detect(image).xyxy
    if len(boxes) != 5:
        raise SystemExit(f"expected the 5 faces of multi_face.jpg, BlazeFace full range found {len(boxes)}")
    return boxes


def grid_boxes(faces: np.ndarray, grid: tuple[int, int], tile: tuple[int, int], scale=(1.0, 1.0), shift=(0, 0)):
    """Boxes of ``faces`` in every copy of a ``grid`` of ``tile`` (w, h) images, scaled then shifted: (N, 4)."""
    cols, rows = grid
    boxes = [faces + np.array([c * tile[0], r * tile[1]] * 2) for r in range(rows) for c in range(cols)]
    sx, sy = scale
    return np.concatenate(boxes) * np.array([sx, sy, sx, sy]) + np.array(list(shift) * 2)


def matched(found: np.ndarray, truth: np.ndarray, iou: float = 0.3) -> int:
    """How many ``truth`` boxes have a ``found`` box with IoU >= ``iou`` (each counted once)."""
    if len(found) == 0:
        return 0
    a, b = found[:, None, :], truth[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    overlap = inter / (area(a) + area(b) - inter)
    return int(np.count_nonzero(overlap.max(axis=0) >= iou))


def pan_offset(index: int) -> tuple[int, int]:
    """Frame ``index`` of the video shows the mosaic shifted by this (dx, dy) in pixels."""
    t = index / (VIDEO_FPS * VIDEO_SECONDS)
    return round(PAN[0] * math.sin(2 * math.pi * t)), round(PAN[1] * math.sin(4 * math.pi * t))


def build_inputs(folder: Path) -> dict[str, object]:
    """Write mosaic.png, mosaic.mp4 and crowd8k.png into ``folder``; returns the known face boxes of each."""
    original = cv2.imread(str(DATA / "images" / "multi_face.jpg"))
    if original is None:
        raise SystemExit(f"{DATA / 'images' / 'multi_face.jpg'} not found: the shared data is absent")
    height, width = original.shape[:2]
    faces = known_faces(original)

    cols, rows = MOSAIC_GRID
    mosaic = np.tile(original, (rows, cols, 1))
    cv2.imwrite(str(folder / "mosaic.png"), mosaic)
    mosaic_truth = grid_boxes(faces, MOSAIC_GRID, (width, height))

    writer = cv2.VideoWriter(
        str(folder / "mosaic.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, mosaic.shape[1::-1]
    )
    for index in range(VIDEO_FPS * VIDEO_SECONDS):
        dx, dy = pan_offset(index)
        shifted = cv2.warpAffine(
            mosaic, np.float32([[1, 0, dx], [0, 1, dy]]), mosaic.shape[1::-1], borderValue=(114, 114, 114)
        )
        writer.write(shifted)
    writer.release()

    cols, rows = CROWD_GRID
    crowd = cv2.resize(np.tile(original, (rows, cols, 1)), CROWD_SIZE, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(folder / "crowd8k.png"), crowd)
    scale = (CROWD_SIZE[0] / (cols * width), CROWD_SIZE[1] / (rows * height))
    crowd_truth = grid_boxes(faces, CROWD_GRID, (width, height), scale)
    return {"mosaic.png": mosaic_truth, "mosaic.mp4": mosaic_truth, "crowd8k.png": crowd_truth}


def run_cli(source: Path, records: Path, options: list[str]) -> float:
    """Run ``affectlens analyze`` and return its wall time in seconds (exit on failure)."""
    flag = "--jsonl" if records.suffix == ".jsonl" else "--json"
    command = [*AFFECTLENS, "analyze", str(source), flag, str(records), "--no-progress", *options]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds


def read_records(path: Path) -> list[dict]:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines() if line]


def count_faces() -> None:
    configurations = [
        ("default (`mediapipe`, tiles auto)", []),
        ("`--detect-tiles off` (as before)", ["--detect-tiles", "off"]),
        ("`--detector haar`", ["--detector", "haar"]),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truth = build_inputs(folder)
        for name in ("mosaic.png", "mosaic.mp4", "crowd8k.png"):
            expected = len(truth[name])
            for label, options in configurations:
                records_path = folder / ("records.jsonl" if name.endswith(".mp4") else "records.json")
                seconds = run_cli(folder / name, records_path, options)
                records = read_records(records_path)
                if name.endswith(".mp4"):
                    counts = [len(r["faces"]) for r in records]
                    hits = [
                        matched(
                            np.array([f["bbox"] for f in r["faces"]]).reshape(-1, 4),
                            truth[name] + np.array(list(pan_offset(r["frame"])) * 2),
                        )
                        for r in records
                    ]
                    scores = [f["score"] for r in records for f in r["faces"]]
                    frames_ok = sum(c >= 27 for c in counts)
                    found = (
                        f"frames with >= 27 faces: {frames_ok}/{len(records)} ({100 * frames_ok / len(records):.1f}%); "
                        f"faces per frame median {statistics.median(counts):.0f}, min {min(counts)}"
                    )
                    real = f"median {statistics.median(hits):.0f}, min {min(hits)}"
                    low = f"{sum(s < 0.7 for s in scores)}/{len(scores)}" if scores else "-"
                    speed = f"{seconds:.1f} s ({len(records) / seconds:.1f} frames/s)"
                else:
                    faces = records[0]["faces"]
                    boxes = np.array([f["bbox"] for f in faces]).reshape(-1, 4)
                    found = f"{len(faces)} of {expected}"
                    real = str(matched(boxes, truth[name]))
                    low = f"{sum(f['score'] < 0.7 for f in faces)}/{len(faces)}" if faces else "-"
                    speed = f"{seconds:.1f} s"
                rows.append((name, label, found, real, low, speed))
                print(f"{name} | {label} | {found} | {real} | {low} | {speed}", file=sys.stderr)
        timings = detect_times(folder)
    print("| input | detector | faces reported | on a known face | score < 0.7 | wall time of the command |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("| input | tiles run | default detector alone, ms per frame (median of 3): tiles auto / off |")
    print("|---|---|---|")
    for row in timings:
        print("| " + " | ".join(row) + " |")


def detect_times(folder: Path, repeats: int = 3) -> list[tuple[str, str, str]]:
    """The default detector's own time on each image (in process, after a warm-up), with and without tiles."""
    from affectlens.detect import create_detector

    rows = []
    for name in ("mosaic.png", "crowd8k.png"):
        image = cv2.imread(str(folder / name))
        times = {}
        for tiles in ("auto", "off"):
            with create_detector("mediapipe", tiles=tiles) as detector:
                detector.detect(image)
                passes = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    detector.detect(image)
                    passes.append((time.perf_counter() - started) * 1e3)
                times[tiles] = statistics.median(passes)
                if tiles == "auto":
                    tile_count = detector.tile_passes // (repeats + 1)
        size = f"{image.shape[1]}x{image.shape[0]}"
        rows.append((f"{name} ({size})", str(tile_count), f"{times['auto']:.0f} / {times['off']:.0f}"))
    return rows


def time_detector(repeats: int = 5) -> None:
    import affectlens
    from affectlens.detect import create_detector

    print(f"affectlens from {Path(affectlens.__file__).parent}")
    print("| clip | frames | default detector, ms per frame (median of 5) | passes |")
    print("|---|---|---|---|")
    for clip in ("WolfgangLanger_Pexels.mp4", "short_hamilton_clip.mp4"):
        capture = cv2.VideoCapture(str(DATA / "videos" / clip))
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
        with create_detector("mediapipe") as detector:
            passes = []
            for _ in range(repeats + 1):
                started = time.perf_counter()
                for frame in frames:
                    detector.detect(frame)
                passes.append((time.perf_counter() - started) / len(frames) * 1e3)
        runs = ", ".join(f"{p:.2f}" for p in passes[1:])
        print(f"| {clip} | {len(frames)} | **{statistics.median(passes[1:]):.2f}** | {runs} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="time the default detector on the 640x360 clips instead")
    args = parser.parse_args()
    if args.speed:
        time_detector()
    else:
        count_faces()


if __name__ == "__main__":
    main()
