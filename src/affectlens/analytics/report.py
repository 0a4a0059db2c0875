"""Session reports from the JSONL records of ``affectlens analyze``: per-track statistics, a summary, a timeline.

    from affectlens.analytics import build_report, format_report, load_records, plot_timeline

    records = load_records("out.jsonl")       # list of frame records, checked for the fields a report needs
    report = build_report(records)            # JSON-ready dict: totals + one entry per track
    print(format_report(report))              # a few lines for the terminal
    plot_timeline(records, report, "out.png")  # one row per track: emotions, shown label, valence, engagement

Face records are read as ``Faces.to_records`` writes them: ``emotion`` is the label shown (after smoothing and
hysteresis, possibly ``uncertain``), ``probs`` / ``valence`` / ``arousal`` the smoothed values, ``engagement`` in
[0, 1] when it was computed, and ``track_id`` on tracked faces.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectlens.core import UNCERTAIN

MAX_PLOTTED_TRACKS = 6
"""plot_timeline draws at most this many tracks (the longest ones, by frames) and says so in the figure."""

_RERUN = "re-run `affectlens analyze` with tracking on (the default; not --no-tracking)"
_FACE_FIELDS = ("emotion", "probs", "valence", "arousal")


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """The frame records of a JSONL (or JSON array) file written by ``affectlens analyze``, checked for a report.

    A cut last line (a run killed mid-write) is skipped with a warning.

    Raises:
        ValueError: a record or face lacks a field the report needs (the message names the field and the record,
            1-based), e.g. a file from an older affectlens without ``track_id`` or from another tool; or the file is
            not JSON lines.
    """
    from affectlens.io.sinks import read_jsonl

    path = Path(path)
    with open(path, encoding="utf-8") as file:
        head = file.read(64).lstrip()
    # JsonArraySink writes a JSON array; JsonlSink one object per line.
    records = json.loads(path.read_text(encoding="utf-8")) if head.startswith("[") else read_jsonl(path)
    _check_records(records)
    return records


def _check_records(records: list[Any]) -> None:
    first_untracked: int | None = None
    any_tracked = False
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ValueError(f"record {number} is not a JSON object: not an `affectlens analyze` file?")
        for key in ("timestamp_ms", "faces"):
            if key not in record:
                raise ValueError(f"record {number} has no {key!r}: not an `affectlens analyze` file?")
        if not isinstance(record["faces"], list):
            raise ValueError(f"record {number} has a 'faces' that is not a list: not an `affectlens analyze` file?")
        for face in record["faces"]:
            if not isinstance(face, dict):
                raise ValueError(f"record {number} has a face that is not a JSON object")
            for key in _FACE_FIELDS:
                if key not in face:
                    raise ValueError(f"record {number} has no {key!r} in its faces: {_RERUN}")
            if "track_id" in face:
                any_tracked = True
            elif first_untracked is None:
                first_untracked = number
    # A tracked run may leave a few faces untracked (a detection not yet confirmed), but not all of them.
    if first_untracked is not None and not any_tracked:
        raise ValueError(f"record {first_untracked} has no 'track_id' in its faces: {_RERUN}")


def _stats(values: list[float]) -> dict[str, float] | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return None
    array = np.asarray(finite, np.float64)
    return {
        "mean": round(float(array.mean()), 4),
        "min": round(float(array.min()), 4),
        "max": round(float(array.max()), 4),
    }


def _labels_of(records: Sequence[dict[str, Any]]) -> list[str]:
    for record in records:
        for face in record["faces"]:
            return list(face["probs"])
    return []


def _track_faces(records: Sequence[dict[str, Any]]) -> tuple[dict[int, list[tuple[float, dict[str, Any]]]], int]:
    """track id -> [(timestamp ms, face record)] in record order, and the number of untracked faces."""
    tracks: dict[int, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    untracked = 0
    for record in records:
        timestamp = float(record["timestamp_ms"])
        for face in record["faces"]:
            track_id = face.get("track_id")
            if track_id is None or int(track_id) < 0:
                untracked += 1
            else:
                tracks[int(track_id)].append((timestamp, face))
    return dict(tracks), untracked


def build_report(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-track statistics and totals of a session (records as :func:`load_records` returns them).

    Returns:
        A JSON-ready dict: ``frames``, ``frames_with_faces``, ``start_ms``, ``end_ms``, ``duration_s`` (first to
        last record), ``labels``, ``track_count``, ``untracked_faces`` and ``tracks``: track id (str) -> ``track_id``,
        ``first_ms``, ``last_ms``, ``duration_s``, ``frames``, ``dominant_emotion``, ``emotions`` (share of the
        track's frames per shown label, largest first), ``mean_probs`` (label -> mean smoothed probability),
        ``valence`` / ``arousal`` / ``engagement`` (``mean``, ``min``, ``max``; None when absent). Tracks are ordered
        by first appearance. Without tracks, ``tracks`` is ``{}`` and ``note`` says why.
    """
    labels = _labels_of(records)
    tracks, untracked = _track_faces(records)
    stamps = [float(r["timestamp_ms"]) for r in records]
    report: dict[str, Any] = {
        "frames": len(records),
        "frames_with_faces": sum(1 for r in records if r["faces"]),
        "start_ms": round(min(stamps), 3) if stamps else None,
        "end_ms": round(max(stamps), 3) if stamps else None,
        "duration_s": round((max(stamps) - min(stamps)) / 1e3, 3) if stamps else 0.0,
        "labels": labels,
        "track_count": len(tracks),
        "untracked_faces": untracked,
        "tracks": {},
    }
    for track_id, faces in sorted(tracks.items(), key=lambda item: item[1][0][0]):
        times = [t for t, _ in faces]
        shown = Counter(str(face["emotion"]) for _, face in faces)
        probs = np.asarray([[face["probs"].get(label, 0.0) for label in labels] for _, face in faces], np.float64)
        engagement = [face["engagement"] for _, face in faces if "engagement" in face]
        report["tracks"][str(track_id)] = {
            "track_id": track_id,
            "first_ms": round(times[0], 3),
            "last_ms": round(times[-1], 3),
            "duration_s": round((times[-1] - times[0]) / 1e3, 3),
            "frames": len(faces),
            "dominant_emotion": shown.most_common(1)[0][0],
            "emotions": {label: round(count / len(faces), 4) for label, count in shown.most_common()},
            "mean_probs": {label: round(float(p), 4) for label, p in zip(labels, probs.mean(axis=0), strict=True)},
            "valence": _stats([face["valence"] for _, face in faces]),
            "arousal": _stats([face["arousal"] for _, face in faces]),
            "engagement": _stats(engagement),
        }
    if not tracks:
        if not records:
            report["note"] = "no records: the run analysed no frame"
        elif report["frames_with_faces"] == 0:
            report["note"] = f"no face in any of the {len(records)} frames"
        else:
            report["note"] = f"no tracked face in {len(records)} frames ({untracked} untracked faces)"
    return report


def format_report(report: dict[str, Any]) -> str:
    """A few human-readable lines summarising :func:`build_report`'s result, for the terminal."""
    count = report["track_count"]
    lines = [
        f"session: {report['duration_s']:.1f} s, {report['frames']} frames "
        f"({report['frames_with_faces']} with faces), {count} track{'s' if count != 1 else ''}"
        + (f", {report['untracked_faces']} untracked faces" if report.get("untracked_faces") else "")
    ]
    if report.get("note"):
        lines.append(f"  {report['note']}")
    for track in report["tracks"].values():
        first, last = track["first_ms"] / 1e3, track["last_ms"] / 1e3
        span = f"{first:.1f}-{last:.1f} s ({track['duration_s']:.1f} s, {track['frames']} frames)"
        lines.append(f"track {track['track_id']}: {span}")
        shares = ", ".join(f"{label} {share * 100:.0f}%" for label, share in track["emotions"].items() if share >= 0.01)
        lines.append(f"  shown       {shares}")
        for key in ("valence", "arousal", "engagement"):
            stats = track.get(key)
            if stats is not None:
                lines.append(
                    f"  {key:<11} mean {stats['mean']:+.2f}  (min {stats['min']:+.2f}, max {stats['max']:+.2f})"
                )
    return "\n".join(lines)


def write_report(
    jsonl_path: str | Path, json_path: str | Path | None = None, png_path: str | Path | None = None
) -> dict[str, Any]:
    """Load ``jsonl_path``, build the report, write it as JSON and/or a timeline PNG when paths are given."""
    records = load_records(jsonl_path)
    report = build_report(records)
    if json_path is not None:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if png_path is not None:
        plot_timeline(records, report, png_path)
    return report


# -- timeline plot ---------------------------------------------------------------------------------------------------
def _rgb(label: str) -> tuple[float, float, float]:
    from affectlens.render.colors import emotion_color

    b, g, r = emotion_color(label)
    return (r / 255.0, g / 255.0, b / 255.0)


def _text_rgb(label: str) -> tuple[float, float, float]:
    from affectlens.render.colors import emotion_color, text_color_on

    b, g, r = text_color_on(emotion_color(label))
    return (r / 255.0, g / 255.0, b / 255.0)


def _segments(times: np.ndarray) -> list[slice]:
    """Runs of samples without a gap longer than 3 typical frame intervals (the track was lost in between)."""
    if len(times) < 2:
        return [slice(0, len(times))]
    steps = np.diff(times)
    gap = max(3.0 * float(np.median(steps)), 0.25)
    cuts = [0, *(np.flatnonzero(steps > gap) + 1).tolist(), len(times)]
    return [slice(a, b) for a, b in itertools.pairwise(cuts)]


def _draw_track(
    ax_p: Any,
    ax_s: Any,
    ax_l: Any,
    faces: list[tuple[float, dict[str, Any]]],
    labels: list[str],
    min_label_width: float,
) -> None:
    """One track's stacked probabilities (ax_p), shown-label strip (ax_s) and valence/arousal/engagement (ax_l)."""
    times = np.asarray([t for t, _ in faces], np.float64) / 1e3
    probs = np.asarray([[f["probs"].get(label, 0.0) for label in labels] for _, f in faces], np.float64)
    shown = np.asarray([str(f["emotion"]) for _, f in faces])
    lines = np.asarray(
        [[np.nan if f.get(key) is None else f[key] for key in ("valence", "arousal", "engagement")] for _, f in faces],
        np.float64,
    )
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    for part in _segments(times):
        rows = np.arange(part.start, part.stop)
        t = times[rows]
        if len(rows) == 1:  # a lone sample: draw it half a frame wide, or it would not show
            rows, t = rows[[0, 0]], np.array([t[0], t[0] + 0.5 * step])
        lower = np.zeros(len(t))
        for c, upper in enumerate(np.cumsum(probs[rows], axis=1).T):
            ax_p.fill_between(t, lower, upper, color=_rgb(labels[c]), linewidth=0)
            lower = upper
        # label strip: one bar per run of the same shown label, each sample lasting until the next one
        runs = np.flatnonzero(shown[rows][1:] != shown[rows][:-1]) + 1
        for first, stop in itertools.pairwise([0, *runs.tolist(), len(rows)]):
            right = t[stop] if stop < len(t) else t[-1]
            label = str(shown[rows[first]])
            ax_s.broken_barh([(t[first], right - t[first])], (0, 1), color=_rgb(label))
            if right - t[first] > min_label_width:  # name the label where the run is wide enough to read
                ax_s.text(
                    (t[first] + right) / 2, 0.5, label, ha="center", va="center", fontsize=7, color=_text_rgb(label)
                )
        ax_l.plot(t, lines[rows, 0], color="black", linewidth=1.4)
        ax_l.plot(t, lines[rows, 1], color="0.45", linewidth=1.0, linestyle=":")
        ax_l.plot(t, lines[rows, 2], color="#8c564b", linewidth=1.6, linestyle="--")


def plot_timeline(
    records: Sequence[dict[str, Any]], report: dict[str, Any], path: str | Path, max_tracks: int = MAX_PLOTTED_TRACKS
) -> Path:
    """A PNG of the session: one row per track (the ``max_tracks`` longest), time in seconds on x.

    Each row: the smoothed emotion probabilities as stacked areas (the overlay's colours), a strip of the label
    shown, and valence, arousal and engagement as lines in [-1, 1]. Gaps where the track was lost stay empty.
    """
    from affectlens.plots import _pyplot

    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    labels = report["labels"]
    tracks, _ = _track_faces(records)
    infos = sorted(report["tracks"].values(), key=lambda t: -t["frames"])[:max_tracks]
    infos.sort(key=lambda t: t["first_ms"])
    if not infos:
        fig, ax = plt.subplots(figsize=(8, 2.5), dpi=100)
        ax.axis("off")
        ax.text(0.5, 0.5, report.get("note", "no tracked faces"), ha="center", va="center", fontsize=13)
        fig.savefig(path)
        plt.close(fig)
        return Path(path)

    start = (report["start_ms"] or 0.0) / 1e3
    end = max((report["end_ms"] or 0.0) / 1e3, start + 1e-3)
    rows = len(infos)
    fig = plt.figure(figsize=(13, 1.2 + 3.3 * rows), dpi=100)
    outer = fig.add_gridspec(rows, 1, hspace=0.32)
    bottom_ax = None
    for row, info in enumerate(infos):
        grid = outer[row].subgridspec(3, 1, height_ratios=[3.0, 0.35, 1.5], hspace=0.06)
        ax_p = fig.add_subplot(grid[0], sharex=bottom_ax)
        ax_s = fig.add_subplot(grid[1], sharex=ax_p)
        ax_l = fig.add_subplot(grid[2], sharex=ax_p)
        bottom_ax = bottom_ax or ax_p
        _draw_track(ax_p, ax_s, ax_l, tracks[info["track_id"]], labels, min_label_width=0.06 * (end - start))
        dominant = info["dominant_emotion"]
        title = (
            f"track {info['track_id']}: {info['duration_s']:.1f} s, {info['frames']} frames, "
            f"mostly {dominant} ({info['emotions'][dominant] * 100:.0f}% of frames)"
        )
        if info.get("engagement"):
            title += f", mean engagement {info['engagement']['mean']:.2f}"
        ax_p.set_title(title, loc="left", fontsize=11)
        ax_p.set_ylim(0, 1)
        ax_p.set_ylabel("emotion\nprobability", fontsize=9)
        ax_s.set_ylim(0, 1)
        ax_s.set_yticks([])
        ax_s.set_ylabel("shown", fontsize=8, rotation=0, ha="right", va="center")
        ax_l.set_ylim(-1.05, 1.05)
        ax_l.axhline(0, color="0.7", linewidth=0.6)
        ax_l.set_yticks([-1, 0, 1])
        ax_l.set_ylabel("valence /\nengagement", fontsize=9)
        ax_l.grid(axis="x", alpha=0.3)
        for ax in (ax_p, ax_s):
            ax.tick_params(labelbottom=False)
    assert bottom_ax is not None
    bottom_ax.set_xlim(start, end)
    fig.axes[-1].set_xlabel("time (s)")

    handles = [Patch(color=_rgb(label), label=label) for label in labels]
    handles.append(Patch(color=_rgb(UNCERTAIN), label=UNCERTAIN))
    handles += [
        Line2D([], [], color="black", linewidth=1.4, label="valence"),
        Line2D([], [], color="0.45", linewidth=1.0, linestyle=":", label="arousal"),
        Line2D([], [], color="#8c564b", linewidth=1.6, linestyle="--", label="engagement (0..1)"),
    ]
    shown_note = (
        f"showing the {rows} longest of {report['track_count']} tracks"
        if report["track_count"] > rows
        else f"{rows} track{'s' if rows != 1 else ''}"
    )
    fig.suptitle(f"affectlens session: {report['duration_s']:.1f} s, {report['frames']} frames; {shown_note}", y=0.995)
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=min(len(handles), 12),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, 1.0 - 0.3 / fig.get_figheight()),
    )
    fig.subplots_adjust(left=0.08, right=0.98, top=1.0 - 0.95 / fig.get_figheight(), bottom=0.45 / fig.get_figheight())
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
