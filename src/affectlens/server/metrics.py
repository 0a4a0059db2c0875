"""Server metrics in the Prometheus text format (version 0.0.4), without a client library.

``affectlens_http_requests_total{method,route,status}``, ``affectlens_http_request_seconds`` (a histogram per
route), ``affectlens_frames_analyzed_total{kind}`` (image, job, stream), ``affectlens_queue_depth`` and
``affectlens_workers_busy`` (read from the pool when scraped), ``affectlens_jobs`` by status.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Latency histogram bounds in seconds (``le``), plus ``+Inf``."""


class Metrics:
    """Counters and histograms, safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.latency_count: dict[str, int] = defaultdict(int)
        self.frames: dict[str, int] = defaultdict(int)
        self.gauges: dict[str, Callable[[], float]] = {}

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request (``route``: the path template, e.g. ``/v1/jobs/{job_id}``) and its latency."""
        with self._lock:
            self.requests[(method, route, status)] += 1
            buckets = self.latency_buckets[route]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self.latency_sum[route] += seconds
            self.latency_count[route] += 1

    def frames_analyzed(self, kind: str, n: int = 1) -> None:
        """Count ``n`` analysed frames of ``kind`` (``image``, ``job`` or ``stream``)."""
        with self._lock:
            self.frames[kind] += n

    def render(self) -> str:
        """The exposition text."""
        lines = [
            "# HELP affectlens_http_requests_total HTTP requests by method, route and status.",
            "# TYPE affectlens_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                labels = f'method="{method}",route="{_escape(route)}",status="{status}"'
                lines.append(f"affectlens_http_requests_total{{{labels}}} {n}")
            lines += [
                "# HELP affectlens_http_request_seconds HTTP request latency by route.",
                "# TYPE affectlens_http_request_seconds histogram",
            ]
            for route in sorted(self.latency_count):
                label = f'route="{_escape(route)}"'
                for bound, n in zip(BUCKETS, self.latency_buckets[route], strict=True):
                    lines.append(f'affectlens_http_request_seconds_bucket{{{label},le="{bound}"}} {n}')
                lines.append(f'affectlens_http_request_seconds_bucket{{{label},le="+Inf"}} {self.latency_count[route]}')
                lines.append(f"affectlens_http_request_seconds_sum{{{label}}} {self.latency_sum[route]:.6f}")
                lines.append(f"affectlens_http_request_seconds_count{{{label}}} {self.latency_count[route]}")
            lines += [
                "# HELP affectlens_frames_analyzed_total Frames analysed, by kind (image, job, stream).",
                "# TYPE affectlens_frames_analyzed_total counter",
            ]
            for kind in ("image", "job", "stream"):
                lines.append(f'affectlens_frames_analyzed_total{{kind="{kind}"}} {self.frames[kind]}')
            gauges = dict(self.gauges)
        for name, read in sorted(gauges.items()):
            lines += [f"# TYPE {name} gauge", f"{name} {read():g}"]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
