"""Load test of ``affectlens serve`` (issue 12): image requests at a fixed concurrency, concurrent video jobs checked
against the CLI, and the server's memory over the run. Prints a Markdown summary for docs/BENCHMARKS.md.

Starts its own server (``--workers``, ``--queue-size``) on a free port of 127.0.0.1 with a temporary job store:

    .venv/bin/python scripts/loadtest_server.py                       # 500 images at concurrency 8, 2 workers
    .venv/bin/python scripts/loadtest_server.py --requests 100 --videos single_face.mp4 no_face.mp4

Images: ``../shared/data/images/multi_face.jpg`` by default. A 429 (queue full) is counted apart: it is the
server's deliberate answer, every other non-200 is an error. Videos: each clip of ``--videos`` (in
``../shared/data/videos``) is submitted as a job at the same time, then its records are compared with
``affectlens analyze --jsonl`` on the same clip (``timings_ms`` aside).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queue-size", type=int, default=8)
    parser.add_argument("--image", default=str(DATA / "images" / "multi_face.jpg"))
    parser.add_argument(
        "--videos",
        nargs="*",
        default=["single_face.mp4", "no_face.mp4", "short_hamilton_clip.mp4", "Megamind.avi"],
        help="clips of ../shared/data/videos submitted as concurrent jobs",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "store", args.workers, args.queue_size)
        try:
            warm_up(server["url"], Path(args.image).read_bytes())
            memory = RssSampler(server["process"].pid)
            memory.start()
            phases = {"after the warm-up": memory.now()}
            images = image_load(server["url"], Path(args.image).read_bytes(), args.requests, args.concurrency)
            phases[f"after {args.requests} images"] = memory.now()
            videos = video_jobs(server["url"], [DATA / "videos" / name for name in args.videos], Path(tmp))
            phases[f"after {len(videos)} video jobs"] = memory.now()
            again = image_load(server["url"], Path(args.image).read_bytes(), args.requests, args.concurrency)
            phases[f"after {args.requests} more images"] = memory.now()
            memory.stop()
            for key in ("ok", "rejected", "errors"):
                images[key] += again[key]
            memory.phases = phases
        finally:
            server["process"].terminate()
            server["process"].wait(timeout=30)
    print_summary(args, images, videos, memory)
    return 0 if images["errors"] == 0 and all(v["equal"] for v in videos) else 1


def start_server(store: Path, workers: int, queue_size: int) -> dict[str, Any]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "affectlens.cli", "serve", "--port", str(port), "--store", str(store)]
    cmd += ["--workers", str(workers), "--queue-size", str(queue_size)]
    process = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return {"process": process, "url": url}
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start within 120 s")


def warm_up(url: str, data: bytes) -> None:
    """A few requests first: the first ones load lazy parts of the models and allocate buffers (not a leak)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        for _ in range(8):
            client.post("/v1/analyze", content=data)


def image_load(url: str, data: bytes, requests: int, concurrency: int) -> dict[str, Any]:
    """``requests`` POST /v1/analyze at ``concurrency``; latencies (s) of the 200s, counts by status."""
    with httpx.Client(base_url=url, timeout=120) as client:

        def one(_: int) -> tuple[int, float]:
            started = time.perf_counter()
            try:
                status = client.post("/v1/analyze", content=data).status_code
            except httpx.TransportError:
                status = -1
            return status, time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(one, range(requests)))
        seconds = time.perf_counter() - started
    latencies = sorted(s for code, s in results if code == 200)
    codes = [code for code, _ in results]
    return {
        "ok": codes.count(200),
        "rejected": codes.count(429),
        "errors": sum(1 for code in codes if code not in (200, 429)),
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p95_ms": percentile(latencies, 95) * 1e3,
        "rps": len(results) / seconds,
        "seconds": seconds,
    }


def video_jobs(url: str, clips: list[Path], tmp: Path) -> list[dict[str, Any]]:
    """Submit every clip at once, wait for all, compare each job's records with the CLI's."""
    out = []
    with httpx.Client(base_url=url, timeout=120) as client:
        with ThreadPoolExecutor(len(clips)) as pool:
            created = list(pool.map(lambda clip: client.post("/v1/jobs", content=clip.read_bytes()), clips))
        started = time.perf_counter()
        for clip, response in zip(clips, created, strict=True):
            if response.status_code != 202:
                out.append({"clip": clip.name, "status": response.status_code, "equal": False, "frames": 0})
                continue
            job_id = response.json()["id"]
            while (status := client.get(f"/v1/jobs/{job_id}").json())["status"] not in ("done", "failed"):
                time.sleep(0.2)
            served = [json.loads(line) for line in client.get(f"/v1/jobs/{job_id}/records").text.splitlines()]
            cli = cli_records(clip, tmp)
            out.append(
                {
                    "clip": clip.name,
                    "status": status["status"],
                    "frames": len(served),
                    "equal": status["status"] == "done" and strip(served) == strip(cli),
                    "seconds": time.perf_counter() - started,
                }
            )
    return out


def cli_records(clip: Path, tmp: Path) -> list[dict[str, Any]]:
    path = tmp / f"{clip.stem}.cli.jsonl"
    cmd = [sys.executable, "-m", "affectlens.cli", "analyze", str(clip), "--jsonl", str(path), "--no-progress"]
    subprocess.run(cmd, check=True, capture_output=True)
    return [json.loads(line) for line in path.read_text().splitlines()]


def strip(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if k != "timings_ms"} for record in records]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


class RssSampler(threading.Thread):
    """The server's resident memory (MB), every 0.5 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[float] = []
        self.phases: dict[str, float] = {}
        self.done = threading.Event()

    def now(self) -> float:
        return float(self.process.memory_info().rss / 2**20)

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append(self.process.memory_info().rss / 2**20)
            self.done.wait(0.5)

    def stop(self) -> None:
        self.done.set()
        self.join()


def print_summary(args: argparse.Namespace, images: dict[str, Any], videos: list[dict[str, Any]], rss: Any) -> None:
    cpus = os.cpu_count()
    print(f"### affectlens serve under load ({args.workers} workers, queue {args.queue_size}, {cpus} CPUs)\n")
    command = " ".join([".venv/bin/python scripts/loadtest_server.py", *sys.argv[1:]])
    print(f"Command: `{command}`\n")
    print("Image requests: two rounds, before and after the video jobs; latencies of the first round.\n")
    print("| image requests | concurrency | 200 | 429 (queue full) | errors | p50 ms | p95 ms | requests/s |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {2 * args.requests} | {args.concurrency} | {images['ok']} | {images['rejected']} | {images['errors']} | "
        f"{images['p50_ms']:.0f} | {images['p95_ms']:.0f} | {images['rps']:.1f} |"
    )
    print("\n| video job (all submitted at once) | status | frames | records equal to the CLI's | done after s |")
    print("|---|---|---|---|---|")
    for video in videos:
        seconds = f"{video['seconds']:.1f}" if "seconds" in video else "-"
        print(f"| {video['clip']} | {video['status']} | {video['frames']} | {video['equal']} | {seconds} |")
    phases = ", ".join(f"{mb:.0f} MB {phase}" for phase, mb in rss.phases.items())
    peak = max(rss.samples, default=0.0)
    print(f"\nServer RSS: {phases}; {peak:.0f} MB peak ({len(rss.samples)} samples, every 0.5 s).")


if __name__ == "__main__":
    sys.exit(main())
