"""Session reports: loading and checking records, per-track statistics, the terminal summary and the timeline PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from affectlens.analytics import build_report, format_report, load_records, plot_timeline, write_report
from affectlens.emotions import EMOTIONS


def face(track_id: int | None, emotion: str, valence: float, engagement: float = 0.5, p: float = 0.8) -> dict:
    """One face record as ``Faces.to_records`` writes it (smoothed values on top, raw below)."""
    probs = {label: round((1 - p) / (len(EMOTIONS) - 1), 4) for label in EMOTIONS}
    if emotion in probs:
        probs[emotion] = p
    record = {"bbox": [0.0, 0.0, 50.0, 60.0], "score": 0.9}
    if track_id is not None:
        record["track_id"] = track_id
    record |= {"emotion": emotion, "confidence": p, "probs": probs, "valence": valence, "arousal": 0.2}
    record |= {
        "engagement": engagement,
        "raw": {"emotion": emotion, "probs": probs, "valence": valence, "arousal": 0.2},
    }
    return record


def session() -> list[dict]:
    """4 s at 10 fps: track 0 all along (happy, then sad for the last second), track 5 from 1.0 to 1.5 s (sad)."""
    records = []
    for i in range(41):
        t = i * 100.0
        faces = [face(0, "happy" if t < 3000 else "sad", valence=0.5 if t < 3000 else -0.5, engagement=0.8)]
        if 1000 <= t <= 1500:
            faces.append(face(5, "sad", valence=-0.2 - 0.1 * (t - 1000) / 500, engagement=0.2))
        if i == 20:
            faces.append(face(None, "neutral", valence=0.0))  # a detection the tracker did not confirm
        records.append({"frame": i, "timestamp_ms": t, "faces": faces, "timings_ms": {"total": 5.0}})
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_report_of_two_tracks():
    report = build_report(session())
    assert report["frames"] == 41 and report["frames_with_faces"] == 41
    assert report["duration_s"] == pytest.approx(4.0)
    assert report["track_count"] == 2 and report["untracked_faces"] == 1
    assert report["labels"] == list(EMOTIONS)
    assert list(report["tracks"]) == ["0", "5"]
    first, second = report["tracks"]["0"], report["tracks"]["5"]
    assert first["frames"] == 41 and first["duration_s"] == pytest.approx(4.0)
    assert (first["first_ms"], first["last_ms"]) == (0.0, 4000.0)
    assert first["emotions"] == {"happy": pytest.approx(30 / 41, abs=1e-4), "sad": pytest.approx(11 / 41, abs=1e-4)}
    assert first["dominant_emotion"] == "happy"
    assert first["valence"]["mean"] == pytest.approx((30 * 0.5 - 11 * 0.5) / 41, abs=1e-4)
    assert (first["valence"]["min"], first["valence"]["max"]) == (-0.5, 0.5)
    assert first["engagement"]["mean"] == pytest.approx(0.8)
    assert sum(first["mean_probs"].values()) == pytest.approx(1.0, abs=1e-3)
    assert second["frames"] == 6 and second["duration_s"] == pytest.approx(0.5)
    assert second["emotions"] == {"sad": 1.0}
    assert second["valence"]["mean"] == pytest.approx(-0.25) and second["valence"]["min"] == pytest.approx(-0.3)
    assert second["arousal"] == {"mean": 0.2, "min": 0.2, "max": 0.2}
    assert "note" not in report
    json.dumps(report)  # JSON-ready


def test_report_without_tracks_says_so():
    no_faces = [{"frame": i, "timestamp_ms": i * 40.0, "faces": []} for i in range(10)]
    for records, words in ((no_faces, "no face"), ([], "no records")):
        report = build_report(records)
        assert report["tracks"] == {} and report["track_count"] == 0
        assert words in report["note"]
        assert words in format_report(report)
    untracked = [{"frame": 0, "timestamp_ms": 0.0, "faces": [face(-1, "happy", 0.3)]}]
    assert "untracked" in build_report(untracked)["note"]


def test_format_report_summarises_each_track():
    text = format_report(build_report(session()))
    assert "2 tracks" in text and "1 untracked" in text
    assert "track 0: 0.0-4.0 s (4.0 s, 41 frames)" in text
    assert "happy 73%, sad 27%" in text
    assert "track 5" in text and "engagement" in text


def test_load_records_reads_jsonl_and_json_arrays(tmp_path):
    records = session()
    assert load_records(write_jsonl(tmp_path / "s.jsonl", records)) == records
    (tmp_path / "s.json").write_text(json.dumps(records))
    assert load_records(tmp_path / "s.json") == records
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"frame": 41, "timest')
    assert len(load_records(cut)) == 41


def test_load_records_names_the_missing_field(tmp_path):
    old = session()
    for record in old:  # affectlens 0.1: no tracking
        for f in record["faces"]:
            f.pop("track_id", None)
    old[0]["faces"] = []
    with pytest.raises(ValueError, match=r"record 2 has no 'track_id' in its faces: a video analysed with --no-track"):
        load_records(write_jsonl(tmp_path / "old.jsonl", old))
    other = session()
    del other[3]["faces"][0]["probs"]
    with pytest.raises(ValueError, match="record 4 has no 'probs'"):
        load_records(write_jsonl(tmp_path / "other.jsonl", other))
    with pytest.raises(ValueError, match="record 1 has no 'timestamp_ms'"):
        load_records(write_jsonl(tmp_path / "tool.jsonl", [{"time": 0, "faces": []}]))
    with pytest.raises(ValueError, match="record 1 is not a JSON object"):
        load_records(write_jsonl(tmp_path / "list.jsonl", [[1, 2]]))
    # files without any face have nothing to track: fine
    assert load_records(write_jsonl(tmp_path / "empty.jsonl", [{"frame": 0, "timestamp_ms": 0.0, "faces": []}]))


def test_load_records_of_binary_data_names_the_file(tmp_path):
    path = tmp_path / "clip.jsonl"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))
    with pytest.raises(ValueError, match=r"clip\.jsonl is not a text file .*affectlens analyze --jsonl"):
        load_records(path)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"frame": 0,')
    with pytest.raises(ValueError, match=r"broken\.json:1: not valid JSON"):
        load_records(broken)


def still_images() -> list[dict]:
    """Records of a folder of two images as ``affectlens analyze photos/`` writes them: a ``file`` per image, no
    track ids, and no valence/arousal (a model without a trained valence/arousal head)."""
    records = []
    for i, (name, emotions) in enumerate((("a.jpg", ["happy", "happy", "sad"]), ("b.png", ["neutral"]))):
        faces = [face(None, e, valence=0.0) for e in emotions]
        for f in faces:
            for key in ("valence", "arousal", "engagement", "raw"):
                del f[key]
        records.append({"frame": i, "timestamp_ms": 0.0, "file": name, "faces": faces, "timings_ms": {}})
    return records


def test_report_of_still_images_summarises_all_faces(tmp_path):
    records = load_records(write_jsonl(tmp_path / "photos.jsonl", still_images()))  # no "re-run with tracking"
    report = build_report(records)
    assert report["tracks"] == {} and report["images"] == 2
    assert "still images" in report["note"] and "not tracked" in report["note"]
    summary = report["all_faces"]
    assert summary["faces"] == 4 and summary["dominant_emotion"] == "happy"
    assert summary["emotions"] == {"happy": 0.5, "sad": 0.25, "neutral": 0.25}
    assert summary["valence"] is None and summary["engagement"] is None
    text = format_report(report)
    assert "all 4 faces of 2 images" in text and "happy 50%" in text
    json.dumps(report)


def test_timeline_png(tmp_path):
    records = session()
    path = plot_timeline(records, build_report(records), tmp_path / "timeline.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    empty = plot_timeline([], build_report([]), tmp_path / "empty.png")
    assert empty.read_bytes()[:4] == b"\x89PNG"


def saved_figure(records: list[dict], tmp_path, **kwargs):
    """The matplotlib Figure that plot_timeline saves for ``records``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = []
    original = plt.Figure.savefig

    def spy(fig, *args, **kw):
        saved.append(fig)
        return original(fig, *args, **kw)

    plt.Figure.savefig = spy
    try:
        plot_timeline(records, build_report(records), tmp_path / "timeline.png", **kwargs)
    finally:
        plt.Figure.savefig = original
    return saved[0]


def staggered(tracks: int, frames: int = 30) -> list[dict]:
    """``frames`` frames at 25 fps; track k lives for k + 3 frames, from frame k, with a gap in track 8."""
    records = []
    for i in range(frames):
        faces = [
            face(k, EMOTIONS[k % 8], valence=0.1 * (k % 10))
            for k in range(tracks)
            if k <= i < 2 * k + 3 and not (k == 8 and i == 12)
        ]
        records.append({"frame": i, "timestamp_ms": i * 40.0, "faces": faces})
    return records


def test_timeline_has_one_compact_row_per_person_on_a_shared_time_axis(tmp_path):
    """Several people: one row each (not three panels each, mostly empty), all on the session's time axis, each
    drawn only while that person was present."""
    fig = saved_figure(staggered(9), tmp_path)
    rows = [ax for ax in fig.axes if ax.get_ylabel().startswith("track ")]
    assert len(fig.axes) == len(rows) == 9  # every person, one row each
    assert [ax.get_ylabel().split("\n")[0] for ax in rows] == [f"track {k}" for k in range(9)]  # by first appearance
    assert fig.get_figheight() < 1.5 + 1.0 * len(rows)  # about an inch per person, not 3.3
    assert all(ax.get_xlim() == pytest.approx((0.0, 1.16)) for ax in rows)  # one shared time axis, the session
    for k, ax in enumerate(rows):  # drawn where the person was present: from frame k to frame 2k + 2
        xs = np.concatenate([np.asarray(c.get_paths()[0].vertices)[:, 0] for c in ax.collections])
        assert xs.min() == pytest.approx(k * 0.04) and xs.max() <= (2 * k + 2) * 0.04 + 0.021
    assert "9 tracks" in fig.get_suptitle()


def test_timeline_caps_the_number_of_tracks(tmp_path):
    fig = saved_figure(staggered(20, frames=45), tmp_path)
    labels = [ax.get_ylabel().split("\n")[0] for ax in fig.axes]
    assert len(labels) == 16 and all(label.startswith("track ") for label in labels)
    assert not any(label in ("track 0", "track 1", "track 2", "track 3") for label in labels)  # the 4 shortest
    assert "16 longest of 20 tracks" in fig.get_suptitle()


def test_write_report_and_round_trip_from_the_pipeline_stages(tmp_path):
    """Faces -> smoother -> engagement -> JsonlSink -> report: the record format the report reads is the real one."""
    from affectlens.analytics import EngagementScorer
    from affectlens.core import Faces, Frame, FrameResult
    from affectlens.io import JsonlSink
    from affectlens.track.smoothing import EmotionSmoother

    smoother, scorer = EmotionSmoother(), EngagementScorer()
    image = np.zeros((8, 8, 3), np.uint8)
    with JsonlSink(tmp_path / "run.jsonl") as sink:
        for i in range(48):
            probs = np.full((1, 8), 0.02, np.float32)
            probs[0, EMOTIONS.index("sad" if i < 24 else "happy")] = 0.86
            faces = Faces(
                xyxy=np.array([[10, 10, 60, 70]], np.float32),
                score=np.ones(1),
                keypoints=np.zeros((1, 6, 2)),
                track_id=[3],
                probs=probs,
                valence_arousal=np.array([[-0.6 if i < 24 else 0.7, 0.3]], np.float32),
                labels=EMOTIONS,
            )
            t = i * 1000 / 24
            faces = scorer.update(smoother.update(faces, t), t)
            sink.write(FrameResult(Frame(image, i, t), faces))
    report = write_report(tmp_path / "run.jsonl", tmp_path / "report.json", tmp_path / "report.png")
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert (tmp_path / "report.png").stat().st_size > 20_000
    track = report["tracks"]["3"]
    assert track["frames"] == 48 and track["duration_s"] == pytest.approx(47 / 24, abs=1e-3)
    assert set(track["emotions"]) == {"sad", "happy"} and track["emotions"]["sad"] > 0.5  # the switch lags
    assert -0.6 < track["valence"]["mean"] < 0.7 and track["engagement"]["max"] <= 1.0
