"""End to end with the packaged model on real media: the behaviour the README promises."""

from __future__ import annotations

import json
from collections import Counter

import cv2
import numpy as np
import pytest

from affectlens.core import Frame
from affectlens.emotions import EMOTIONS
from affectlens.io import JsonlSink, read_jsonl
from affectlens.pipeline import Analyzer, AnalyzerConfig
from helpers import shared_path


@pytest.fixture(scope="module")
def analyzer():
    with Analyzer() as analyzer:
        yield analyzer


def analyze_to_records(analyzer: Analyzer, video, tmp_path) -> list[dict]:
    path = tmp_path / "records.jsonl"
    with JsonlSink(path) as sink:
        analyzer.run(video, [sink])
    return read_jsonl(path)


def test_the_packaged_model_reads_its_config_from_the_onnx_file(analyzer):
    assert analyzer.labels == EMOTIONS
    assert analyzer.emotion_model.cfg.input_size == 48


def test_an_image_with_five_people_gives_five_faces_with_emotions(analyzer):
    image = cv2.imread(str(shared_path("images", "multi_face.jpg")))
    result = analyzer.analyze_image(image)
    assert len(result.faces) == 5
    assert np.allclose(result.faces.probs.sum(axis=1), 1.0, atol=1e-4)
    assert np.all(np.abs(result.faces.valence_arousal) <= 1.0)
    assert set(result.timings_ms) >= {"detect", "emotion", "total"}


def test_a_black_frame_is_an_empty_result_not_an_error(analyzer):
    result = analyzer.analyze_frame(Frame(image=np.zeros((360, 640, 3), np.uint8), index=0, timestamp_ms=0.0))
    assert len(result.faces) == 0
    assert result.to_record()["faces"] == []


@pytest.mark.slow
def test_single_face_clip_ends_happy(analyzer, tmp_path):
    records = analyze_to_records(analyzer, shared_path("videos", "single_face.mp4"), tmp_path)
    assert len(records) == 72
    assert sum(len(r["faces"]) == 1 for r in records) >= 0.95 * 72
    last = Counter(r["faces"][0]["emotion"] for r in records[-20:] if r["faces"])
    assert last.most_common(1)[0][0] == "happy"


@pytest.mark.slow
def test_wolfgang_clip_valence_rises_from_first_to_last_quarter(analyzer, tmp_path):
    records = analyze_to_records(analyzer, shared_path("videos", "WolfgangLanger_Pexels.mp4"), tmp_path)
    valence = [r["faces"][0]["valence"] if r["faces"] else np.nan for r in records]
    quarter = len(valence) // 4
    first, last = np.nanmean(valence[:quarter]), np.nanmean(valence[-quarter:])
    assert first < last, f"first-quarter valence {first:.3f} is not below last-quarter {last:.3f}"


@pytest.mark.slow
def test_cartoon_clip_has_a_record_for_every_decodable_frame_and_no_faces(analyzer, tmp_path):
    records = analyze_to_records(analyzer, shared_path("videos", "no_face.mp4"), tmp_path)
    assert [r["frame"] for r in records] == list(range(95))
    # a cartoon: BlazeFace finds a low-score "face" on a handful of frames; nearly all must be empty
    assert sum(len(r["faces"]) == 0 for r in records) >= 0.9 * len(records)


def test_every_n_analyses_every_nth_frame(tmp_path):
    path = shared_path("videos", "single_face.mp4")
    with Analyzer(AnalyzerConfig(every=4)) as analyzer:
        records = analyze_to_records(analyzer, path, tmp_path)
    assert [r["frame"] for r in records] == list(range(0, 72, 4))


def test_records_are_json_with_the_documented_fields(analyzer, tmp_path):
    records = analyze_to_records(analyzer, shared_path("images", "single_face.jpg"), tmp_path)
    assert len(records) == 1
    face = records[0]["faces"][0]
    assert set(face) >= {"bbox", "score", "emotion", "confidence", "probs", "valence", "arousal"}
    assert len(face["bbox"]) == 4 and set(face["probs"]) == set(EMOTIONS)
    json.dumps(records)
