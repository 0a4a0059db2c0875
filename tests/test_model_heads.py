"""What the model's cfg says about its outputs reaches the records: which head drives `emotion` (`--head`), the other
heads (`heads`), valence/arousal only from a trained head, the calibrated `uncertain` threshold; and a model file that
is not ONNX gives one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from affectlens.core import UNCERTAIN
from affectlens.emotions import EMOTIONS
from affectlens.models.config import CFG_METADATA_KEY, ModelConfig
from affectlens.models.runtime import EmotionModel, ModelError, default_model_path
from affectlens.pipeline import Analyzer, AnalyzerConfig
from helpers import shared_path

FER2013 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry")


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "affectlens.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def faces_of(jsonl) -> list[dict]:
    return [face for line in jsonl.read_text().splitlines() for face in json.loads(line)["faces"]]


def with_cfg(tmp_path, **changes) -> str:
    """A copy of the packaged model whose cfg has ``changes`` (weights untouched)."""
    onnx = pytest.importorskip("onnx", reason="rewriting ONNX metadata needs the onnx package ([train] extra)")
    proto = onnx.load(str(default_model_path()))
    (entry,) = [e for e in proto.metadata_props if e.key == CFG_METADATA_KEY]
    entry.value = replace(ModelConfig.from_json(entry.value), **changes).to_json()
    path = tmp_path / "model.onnx"
    onnx.save(proto, str(path))
    return str(path)


# -- the packaged model's cfg ----------------------------------------------------------------------------------------
def test_packaged_models_declare_a_trained_va_head_and_calibrated_thresholds():
    for name in ("float32", "int8"):
        cfg = EmotionModel(name).cfg
        assert cfg.valence_arousal is True
        assert set(cfg.uncertain_below) == {"emotion", "fer2013"}
        # chosen on validation data: well above the old 0.3 that almost never fired
        assert all(0.35 < t < 0.7 for t in cfg.uncertain_below.values()), cfg.uncertain_below


def test_the_default_is_the_int8_model_and_float32_is_one_option_away():
    assert EmotionModel().path.name == EmotionModel("int8").path.name == "affectlens_emotion_int8.onnx"
    assert EmotionModel("float32").path.name == "affectlens_emotion.onnx"


@pytest.mark.parametrize("name", ["float32", "int8"])
def test_packaged_models_give_float_probabilities_that_sum_to_one(name: str) -> None:
    # issue 8: the INT8 file quantised its softmax outputs to 1/255 steps (sums from 0.984 to 1.008 on FER+ test)
    crops = [np.random.default_rng(i).integers(0, 256, (48, 48), dtype=np.uint8) for i in range(64)]
    model = EmotionModel(name)
    probs, _ = model.predict_crops(crops)
    for p in [probs, model.predict_head(crops, "fer2013")]:
        assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5), p.sum(axis=1)
    assert len(np.unique(np.round(probs * 255, 3) % 1)) > 2  # not all on the grid of a uint8 tensor


def test_float_probabilities_rewires_quantised_softmax_outputs_only():
    onnx = pytest.importorskip("onnx", reason="rewriting an ONNX graph needs the onnx package ([train] extra)")
    from affectlens.train.quantize import float_probabilities

    proto = onnx.load(str(default_model_path("int8")))
    assert float_probabilities(proto) == 0  # the shipped file has float outputs already: nothing to do
    softmax = next(n for n in proto.graph.node if n.op_type == "Softmax" and n.output[0] == "probs")
    softmax.output[0] = "probs_float"  # put a quantise/dequantise pair back after it, as the quantiser wrote it
    scale = onnx.helper.make_tensor("probs_scale", onnx.TensorProto.FLOAT, [], [1 / 255])
    zero = onnx.helper.make_tensor("probs_zero_point", onnx.TensorProto.UINT8, [], [0])
    proto.graph.initializer.extend([scale, zero])
    proto.graph.node.extend(
        [
            onnx.helper.make_node("QuantizeLinear", ["probs_float", "probs_scale", "probs_zero_point"], ["probs_q"]),
            onnx.helper.make_node("DequantizeLinear", ["probs_q", "probs_scale", "probs_zero_point"], ["probs"]),
        ]
    )
    count = len(proto.graph.node)
    assert float_probabilities(proto) == 1
    assert len(proto.graph.node) == count - 2 and softmax.output[0] == "probs"
    assert not {"probs_scale", "probs_zero_point"} & {i.name for i in proto.graph.initializer}


def test_a_cfg_from_before_the_new_fields_reads_safely():
    old = json.loads(ModelConfig().to_json())
    del old["valence_arousal"], old["uncertain_below"]
    cfg = ModelConfig.from_json(json.dumps(old))
    assert cfg.valence_arousal is False and cfg.uncertain_below == {}
    with pytest.raises(ValueError, match="not a head"):
        ModelConfig(uncertain_below={"posture": 0.4})
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        ModelConfig(uncertain_below={"emotion": 1.5})


# -- valence/arousal only from a trained head ------------------------------------------------------------------------
def test_a_model_without_a_trained_va_head_reports_none(tmp_path):
    image = cv2.imread(str(shared_path("images", "single_face.jpg")))
    with Analyzer(AnalyzerConfig(model=with_cfg(tmp_path, valence_arousal=False))) as analyzer:
        faces = analyzer.analyze_image(image).faces
        assert len(faces) == 1 and np.isnan(faces.valence_arousal).all() and not faces.has_valence_arousal.any()
        record = faces.to_records()[0]
        assert record["valence"] is None and record["arousal"] is None and record["emotion"]
        _, va = analyzer.emotion_model.predict(np.zeros((2, 1, 48, 48), np.float32))
        assert np.isnan(va).all()
    with Analyzer() as analyzer:  # the packaged model keeps its valence/arousal
        record = analyzer.analyze_image(image).faces.to_records()[0]
        assert -1 <= record["valence"] <= 1 and -1 <= record["arousal"] <= 1


# -- heads ----------------------------------------------------------------------------------------------------------
def test_records_carry_the_other_head_and_head_chooses_which_drives_emotion(tmp_path):
    image = str(shared_path("images", "multi_face.jpg"))
    default, fer = tmp_path / "default.jsonl", tmp_path / "fer.jsonl"
    assert run_cli("analyze", image, "--no-progress", "--jsonl", str(default)).returncode == 0
    proc = run_cli("analyze", image, "--no-progress", "--head", "fer2013", "--jsonl", str(fer))
    assert proc.returncode == 0, proc.stderr
    by_default, by_fer = faces_of(default), faces_of(fer)
    assert len(by_default) == len(by_fer) == 5
    for a, b in zip(by_default, by_fer, strict=True):
        assert tuple(a["probs"]) == EMOTIONS and tuple(a["heads"]["fer2013"]["probs"]) == FER2013
        assert tuple(b["probs"]) == FER2013 and tuple(b["heads"]["emotion"]["probs"]) == EMOTIONS
        assert b["probs"] == a["heads"]["fer2013"]["probs"] and b["heads"]["emotion"]["probs"] == a["probs"]
        assert b["emotion"] in (*FER2013, UNCERTAIN) and -1 <= b["valence"] <= 1


def test_an_unknown_head_is_one_line_naming_the_heads():
    proc = run_cli("analyze", str(shared_path("images", "single_face.jpg")), "--head", "posture")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("affectlens: error:")]
    assert len(errors) == 1 and "no head 'posture'" in errors[0] and "emotion, fer2013" in errors[0]


@pytest.mark.slow
def test_the_fer2013_head_drives_smoothing_and_engagement_in_a_video(tmp_path):
    out = tmp_path / "x.jsonl"
    proc = run_cli("analyze", str(shared_path("videos", "single_face.mp4")), "--no-progress", "--head", "fer2013",
                   "--jsonl", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    faces = faces_of(out)
    assert len(faces) >= 60
    assert all(tuple(f["probs"]) == FER2013 and 0 <= f["engagement"] <= 1 for f in faces)
    assert all(f["emotion"] in (*FER2013, UNCERTAIN) and tuple(f["raw"]["probs"]) == FER2013 for f in faces)
    assert faces[-1]["emotion"] == "happy" and faces[-1]["confidence"] == faces[-1]["probs"]["happy"]


# -- a file that is not an ONNX model -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "hint"), [("m.pt", b"PK\x03\x04torchscript", "PyTorch"), ("m.onnx", b"", "empty")]
)
def test_a_model_that_is_not_onnx_is_one_clear_line(tmp_path, name, content, hint):
    path = tmp_path / name
    path.write_bytes(content)
    proc = run_cli("analyze", str(shared_path("images", "single_face.jpg")), "--model", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("affectlens: error:")]
    assert "not a readable ONNX model" in line and hint in line and "affectlens export" in line
    assert "protobuf" not in line.lower()
    with pytest.raises(ModelError, match="is a directory"):
        EmotionModel(tmp_path)


# -- calibration ----------------------------------------------------------------------------------------------------
def test_ece_is_zero_when_the_probability_is_the_accuracy_and_large_when_overconfident():
    from affectlens.calibration import expected_calibration_error

    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.2, 1.0, 200_000)
    calibrated = rng.uniform(size=confidence.size) < confidence
    assert expected_calibration_error(confidence, calibrated) < 0.01
    overconfident = rng.uniform(size=confidence.size) < confidence - 0.15
    assert expected_calibration_error(confidence, overconfident) == pytest.approx(0.15, abs=0.01)
    assert expected_calibration_error(np.ones(3), np.zeros(3, bool)) == pytest.approx(1.0)


def test_the_threshold_is_where_the_top_label_stops_being_wrong_more_often_than_right():
    from affectlens.calibration import accuracy_curve, choose_uncertain_threshold

    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.2, 1.0, 100_000)
    correct = rng.uniform(size=confidence.size) < np.clip(confidence + 0.1, 0, 1)  # accuracy 0.5 at 0.4
    values, accuracy = accuracy_curve(confidence, correct)
    assert np.all(np.diff(accuracy) >= 0) and len(values) == len(accuracy)
    assert choose_uncertain_threshold(confidence, correct) == pytest.approx(0.4, abs=0.02)
    assert choose_uncertain_threshold(confidence, np.ones(confidence.size, bool)) == 0.0  # nothing to hide
    assert choose_uncertain_threshold(confidence, np.zeros(confidence.size, bool)) == 1.0


# -- a model trained on folders has no valence/arousal --------------------------------------------------------------
@pytest.mark.slow
def test_a_model_trained_on_folders_has_no_va_and_its_records_carry_none(tmp_path):
    pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")
    from affectlens.train.config import TrainConfig
    from affectlens.train.datasets import load_dataset
    from affectlens.train.export import export_onnx, load_checkpoint_net
    from affectlens.train.trainer import Trainer

    rng = np.random.default_rng(0)
    for emotion in ("happy", "neutral"):
        (tmp_path / "data" / emotion).mkdir(parents=True)
        for i in range(40):
            image = rng.integers(40, 80, (48, 48)).astype(np.uint8)
            image[:: 4 if emotion == "happy" else 8] = 200
            cv2.imwrite(str(tmp_path / "data" / emotion / f"{i}.png"), image)
    faces = load_dataset("image_folder", root=tmp_path / "data", in_memory=True)
    assert not faces.has_valence_arousal()
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), model="test_resnet_se", model_kwargs={}, epochs=1,
                      batch_size=16, threads=1, early_stopping=0)  # fmt: skip
    trainer = Trainer(cfg, faces=faces)
    assert cfg.valence_arousal and trainer.model_cfg.valence_arousal is False  # a VA head, but nothing to learn
    trainer.fit(resume=False)
    net, model_cfg = load_checkpoint_net(tmp_path / "run" / "best.pt")
    path = export_onnx(net, model_cfg, tmp_path / "m.onnx")
    assert EmotionModel(path).cfg.valence_arousal is False

    out = tmp_path / "x.jsonl"
    proc = run_cli("analyze", str(shared_path("images", "multi_face.jpg")), "--no-progress", "--model", str(path),
                   "--jsonl", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    faces_out = faces_of(out)
    assert faces_out and all(f["valence"] is None and f["arousal"] is None for f in faces_out)
    assert all(set(f["probs"]) == {"happy", "neutral"} for f in faces_out)
