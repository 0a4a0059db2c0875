"""Which videos a batch runs: a video is skipped when its marker exists, holds the same config hash and every output
it lists is still there; anything else (no marker: never run or interrupted; another hash: settings changed; a
listed output gone) is redone from scratch. ``force`` redoes everything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from affectlens.batch.inputs import VideoInput
from affectlens.batch.layout import BatchLayout


@dataclass
class Plan:
    """``todo``: the videos to analyse, in input order; ``finished``: id -> summary row (status ``skipped``) of the
    videos an earlier run finished with the same settings; ``reasons``: id -> why a video is (re)done."""

    todo: list[VideoInput] = field(default_factory=list)
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def make_plan(videos: Sequence[VideoInput], layout: BatchLayout, config_hash: str, force: bool = False) -> Plan:
    """Sort ``videos`` into finished (skipped) and to do (see the module docstring)."""
    plan = Plan()
    for video in videos:
        reason = "forced" if force else _reason(layout, video, config_hash)
        if reason is None:
            marker = layout.read_marker(video.id) or {}
            plan.finished[video.id] = {**marker.get("summary", {}), "status": "skipped", "path": video.path}
        else:
            plan.todo.append(video)
            plan.reasons[video.id] = reason
    return plan


def _reason(layout: BatchLayout, video: VideoInput, config_hash: str) -> str | None:
    """Why ``video`` must be analysed, or None when its finished outputs can be reused."""
    marker = layout.read_marker(video.id)
    if marker is None:
        left = (layout.videos(video.id), layout.records(video.id), layout.work(video.id))
        started = any(p.exists() for p in left)
        return "partial" if started else "new"
    if marker.get("config_hash") != config_hash:
        return "changed"
    if marker.get("path") != video.path:
        return "other input"  # the id now names another file
    if not isinstance(marker.get("summary"), dict) or any(
        not (layout.root / name).exists() for name in marker.get("outputs", [])
    ):
        return "outputs missing"
    return None
