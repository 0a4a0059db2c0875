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

MAX_PLOTTED_TRACKS = 16
"""plot_timeline draws at most this many tracks (the longest ones, by frames) and says so in the figure."""

_RERUN = (
    "a video analysed with --no-tracking (re-run `affectlens analyze` without it for per-person tracks), or images "
    "from an older affectlens"
)
_FACE_FIELDS = ("emotion", "probs")  # valence/arousal are absent for models without a trained valence/arousal head


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
    try:
        with open(path, encoding="utf-8") as file:
            head = file.read(64).lstrip()
        # JsonArraySink writes a JSON array; JsonlSink one object per line.
        records = json.loads(path.read_text(encoding="utf-8")) if head.startswith("[") else read_jsonl(path)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not a text file (byte {error.start} is not UTF-8): give the JSONL that "
            "`affectlens analyze --jsonl` wrote"
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(records, list):
        raise ValueError(
            f"{path} holds one JSON {type(records).__name__}, not records: not an `affectlens analyze` file?"
        )
    _check_records(records)
    return records


def _is_still(record: dict[str, Any]) -> bool:
    """Records of still images (an image, a folder) name their file; their faces are never tracked."""
    return "file" in record


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
            elif first_untracked is None and not _is_still(record):
                first_untracked = number
    # A tracked run may leave a few faces untracked (a detection not yet confirmed), but not all of them.
    if first_untracked is not None and not any_tracked:
        raise ValueError(f"record {first_untracked} has no 'track_id' in its faces: {_RERUN}")


def _stats(values: list[float | None]) -> dict[str, float] | None:
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


def _face_stats(faces: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    """Statistics of some face records: ``dominant_emotion``, ``emotions`` (share per shown label, largest first),
    ``mean_probs``, and ``valence`` / ``arousal`` / ``engagement`` (``mean``, ``min``, ``max``; None when absent)."""
    shown = Counter(str(face["emotion"]) for face in faces)
    probs = np.asarray([[face["probs"].get(label, 0.0) for label in labels] for face in faces], np.float64)
    return {
        "dominant_emotion": shown.most_common(1)[0][0],
        "emotions": {label: round(count / len(faces), 4) for label, count in shown.most_common()},
        "mean_probs": {label: round(float(p), 4) for label, p in zip(labels, probs.mean(axis=0), strict=True)},
        "valence": _stats([face.get("valence") for face in faces]),
        "arousal": _stats([face.get("arousal") for face in faces]),
        "engagement": _stats([face.get("engagement") for face in faces]),
    }


def build_report(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-track statistics and totals of a session (records as :func:`load_records` returns them).

    Returns:
        A JSON-ready dict: ``frames``, ``frames_with_faces``, ``start_ms``, ``end_ms``, ``duration_s`` (first to
        last record), ``labels``, ``track_count``, ``untracked_faces`` and ``tracks``: track id (str) -> ``track_id``,
        ``first_ms``, ``last_ms``, ``duration_s``, ``frames``, ``dominant_emotion``, ``emotions`` (share of the
        track's frames per shown label, largest first), ``mean_probs`` (label -> mean smoothed probability),
        ``valence`` / ``arousal`` / ``engagement`` (``mean``, ``min``, ``max``; None when absent). Tracks are ordered
        by first appearance. Without tracks, ``tracks`` is ``{}`` and ``note`` says why. Records of still images
        (an image or a folder: they name their ``file``) have no tracks; their report has ``images`` (the number of
        image records) and ``all_faces``: the same statistics over every face of every image.
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
        report["tracks"][str(track_id)] = {
            "track_id": track_id,
            "first_ms": round(times[0], 3),
            "last_ms": round(times[-1], 3),
            "duration_s": round((times[-1] - times[0]) / 1e3, 3),
            "frames": len(faces),
            **_face_stats([face for _, face in faces], labels),
        }
    stills = [r for r in records if _is_still(r)]
    if stills:
        report["images"] = len(stills)
        still_faces = [face for r in stills for face in r["faces"]]
        if still_faces:
            report["all_faces"] = {"faces": len(still_faces), **_face_stats(still_faces, labels)}
    if not tracks:
        if not records:
            report["note"] = "no records: the run analysed no frame"
        elif report["frames_with_faces"] == 0:
            report["note"] = f"no face in any of the {len(records)} frames"
        elif stills:
            report["note"] = (
                f"{len(stills)} still images: faces are not tracked across images, so there are no per-person "
                f"tracks; all {untracked} faces are summarised together"
            )
        else:
            report["note"] = f"no tracked face in {len(records)} frames ({untracked} untracked faces)"
    return report


def _stats_lines(entry: dict[str, Any]) -> list[str]:
    shares = ", ".join(f"{label} {share * 100:.0f}%" for label, share in entry["emotions"].items() if share >= 0.01)
    lines = [f"  shown       {shares}"]
    for key in ("valence", "arousal", "engagement"):
        stats = entry.get(key)
        if stats is not None:
            lines.append(f"  {key:<11} mean {stats['mean']:+.2f}  (min {stats['min']:+.2f}, max {stats['max']:+.2f})")
    return lines


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
        lines += _stats_lines(track)
    if report.get("all_faces"):
        lines.append(f"all {report['all_faces']['faces']} faces of {report['images']} images:")
        lines += _stats_lines(report["all_faces"])
    return "\n".join(lines)


def write_report(
    jsonl_path: str | Path, json_path: str | Path | None = None, png_path: str | Path | None = None
) -> dict[str, Any]:
    """Load ``jsonl_path``, build the report, write it as JSON and/or a timeline PNG when paths are given; the JSON
    file holds either its old content or the whole report (written beside, then renamed)."""
    from affectlens.io.file_sink import write_file

    records = load_records(jsonl_path)
    report = build_report(records)
    if json_path is not None:
        write_file(json_path, json.dumps(report, indent=2) + "\n")
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


# Vertical layout of one person's row (axes units, 0 at the bottom): valence/arousal/engagement lines, then the
# shown-label strip, then the stacked emotion probabilities on top.
_LINES = (0.03, 0.33)
_STRIP = (0.37, 0.47)
_PROBS = (0.50, 1.0)


def _in_band(values: np.ndarray, band: tuple[float, float], low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """``values`` in [low, high] mapped into the vertical ``band`` of a row."""
    return band[0] + (np.clip(values, low, high) - low) / (high - low) * (band[1] - band[0])


def _draw_track(ax: Any, faces: list[tuple[float, dict[str, Any]]], labels: list[str], min_label_width: float) -> None:
    """One person's row on ``ax`` (y in [0, 1]): stacked probabilities, shown-label strip and valence, arousal and
    engagement lines, drawn only while the track was present (gaps where it was lost stay empty)."""
    times = np.asarray([t for t, _ in faces], np.float64) / 1e3
    probs = np.asarray([[f["probs"].get(label, 0.0) for label in labels] for _, f in faces], np.float64)
    shown = np.asarray([str(f["emotion"]) for _, f in faces])
    lines = np.asarray(
        [[np.nan if f.get(key) is None else f[key] for key in ("valence", "arousal", "engagement")] for _, f in faces],
        np.float64,
    )
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    p_low, p_high = _PROBS
    for part in _segments(times):
        rows = np.arange(part.start, part.stop)
        t = times[rows]
        if len(rows) == 1:  # a lone sample: draw it half a frame wide, or it would not show
            rows, t = rows[[0, 0]], np.array([t[0], t[0] + 0.5 * step])
        lower = np.full(len(t), p_low)
        for c, upper in enumerate(np.cumsum(probs[rows], axis=1).T):
            upper = p_low + np.clip(upper, 0.0, 1.0) * (p_high - p_low)
            ax.fill_between(t, lower, upper, color=_rgb(labels[c]), linewidth=0)
            lower = upper
        # label strip: one bar per run of the same shown label, each sample lasting until the next one
        runs = np.flatnonzero(shown[rows][1:] != shown[rows][:-1]) + 1
        for first, stop in itertools.pairwise([0, *runs.tolist(), len(rows)]):
            right = t[stop] if stop < len(t) else t[-1]
            label = str(shown[rows[first]])
            ax.broken_barh([(t[first], right - t[first])], (_STRIP[0], _STRIP[1] - _STRIP[0]), color=_rgb(label))
            if right - t[first] > min_label_width:  # name the label where the run is wide enough to read
                middle = (_STRIP[0] + _STRIP[1]) / 2
                ax.text(
                    (t[first] + right) / 2, middle, label, ha="center", va="center", fontsize=7, color=_text_rgb(label)
                )
        ax.fill_between(t, _LINES[0], _LINES[1], color="0.95", linewidth=0)  # where the lines may go
        ax.plot(t, _in_band(lines[rows, 0], _LINES), color="black", linewidth=1.3)
        ax.plot(t, _in_band(lines[rows, 1], _LINES), color="0.45", linewidth=1.0, linestyle=":")
        ax.plot(t, _in_band(lines[rows, 2], _LINES), color="#8c564b", linewidth=1.5, linestyle="--")
        ax.plot(t[[0, -1]], _in_band(np.zeros(2), _LINES), color="0.75", linewidth=0.6)  # the zero line


def _row_label(info: dict[str, Any]) -> str:
    dominant = info["dominant_emotion"]
    text = (
        f"track {info['track_id']}\n{info['duration_s']:.1f} s, {info['frames']} frames\n"
        f"mostly {dominant} ({info['emotions'][dominant] * 100:.0f}%)"
    )
    if info.get("engagement"):
        text += f"\nengagement {info['engagement']['mean']:.2f}"
    return text


def plot_timeline(
    records: Sequence[dict[str, Any]], report: dict[str, Any], path: str | Path, max_tracks: int = MAX_PLOTTED_TRACKS
) -> Path:
    """A PNG of the session: one row per person (track; the ``max_tracks`` longest) on one shared time axis.

    Each row shows, only while that person was present: the smoothed emotion probabilities as stacked areas (the
    overlay's colours), a strip of the label shown, and valence (solid), arousal (dotted) and engagement (dashed)
    as lines in [-1, 1] on a light band with its zero line. Rows are ordered by first appearance, so the figure
    reads like a schedule of who was there when; times without the person stay empty.
    """
    from affectlens.plots import _pyplot

    plt = _pyplot()
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    labels = report["labels"]
    tracks, _ = _track_faces(records)
    infos = sorted(report["tracks"].values(), key=lambda t: -t["frames"])[:max_tracks]
    infos.sort(key=lambda t: (t["first_ms"], t["track_id"]))
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
    row_h, top_h, bottom_h = 0.95, 0.85, 0.55  # inches
    fig_h = top_h + row_h * rows + bottom_h
    fig, axes = plt.subplots(rows, 1, figsize=(13, fig_h), dpi=100, sharex=True, squeeze=False)
    for ax, info in zip(axes[:, 0], infos, strict=True):
        _draw_track(ax, tracks[info["track_id"]], labels, min_label_width=0.06 * (end - start))
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_ylabel(_row_label(info), rotation=0, ha="right", va="center", fontsize=8, labelpad=8)
        ax.grid(axis="x", alpha=0.3)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    axes[0, 0].set_xlim(start, end)
    axes[-1, 0].set_xlabel("time (s)")

    handles: list[Artist] = [Patch(color=_rgb(label), label=label) for label in labels]
    handles.append(Patch(color=_rgb(UNCERTAIN), label=UNCERTAIN))
    handles += [
        Line2D([], [], color="black", linewidth=1.3, label="valence"),
        Line2D([], [], color="0.45", linewidth=1.0, linestyle=":", label="arousal"),
        Line2D([], [], color="#8c564b", linewidth=1.5, linestyle="--", label="engagement (0..1)"),
    ]
    shown_note = (
        f"showing the {rows} longest of {report['track_count']} tracks"
        if report["track_count"] > rows
        else f"{rows} track{'s' if rows != 1 else ''}"
    )
    fig.suptitle(
        f"affectlens session: {report['duration_s']:.1f} s, {report['frames']} frames; {shown_note}; "
        "each row: emotion probabilities, label shown, valence / arousal / engagement in [-1, 1]",
        y=1.0 - 0.12 / fig_h,
        fontsize=10,
    )
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=min(len(handles), 12),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, 1.0 - 0.38 / fig_h),
    )
    fig.subplots_adjust(left=0.15, right=0.99, top=1.0 - top_h / fig_h, bottom=bottom_h / fig_h, hspace=0.12)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
