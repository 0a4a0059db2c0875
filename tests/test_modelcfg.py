"""The model cfg for more than one kind of model (issue 8): kind, window, sample_ms, inputs and heads; old cfgs read
safely; it lives below ``affectlens.models`` (no cycle through alignment); training records the eye template of its
data instead of always claiming FER-2013's."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from affectlens.modelcfg import CLIP_LAYOUT, FER_EYES, IMAGE_LAYOUT, MAIN_HEAD, ModelConfig, ModelKind

FER2013 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry")


def test_the_cfg_lives_below_the_models_package_and_the_old_name_still_works():
    from affectlens.models.config import CFG_METADATA_KEY
    from affectlens.models.config import ModelConfig as OldName

    assert OldName is ModelConfig and CFG_METADATA_KEY == "affectlens_cfg"
    code = (
        "import sys, affectlens.align, affectlens.preprocess, affectlens.modelcfg\n"
        "print(sorted(m for m in sys.modules if m.startswith('affectlens.models')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"alignment/preprocessing load the models package: {out.stdout.strip()}"


def test_a_cfg_from_before_the_kinds_reads_as_one_aligned_face_crop():
    old = json.loads(ModelConfig().to_json())
    for key in ("kind", "window", "sample_ms", "inputs", "eyes"):
        del old[key]
    cfg = ModelConfig.from_json(json.dumps(old))
    assert cfg.kind is ModelKind.FACE_CROP and cfg.window == 1 and cfg.sample_ms == 0
    assert cfg.inputs == {"input": IMAGE_LAYOUT} and cfg.input_name == "input"
    assert cfg.eyes == FER_EYES  # every model exported before `eyes` could differ was trained on FER-2013 crops
    assert cfg.input_shape(4) == (4, 1, 48, 48)


def test_a_clip_model_cfg_round_trips_through_json():
    cfg = ModelConfig(
        kind=ModelKind.FACE_CLIP,
        window=16,
        sample_ms=66.7,
        eyes=None,
        channels=3,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        input_size=112,
        extra_heads={"posture": ("upright", "slouched")},
    )
    back = ModelConfig.from_json(cfg.to_json())
    assert back == cfg and back.kind is ModelKind.FACE_CLIP and back.eyes is None
    assert json.loads(cfg.to_json())["kind"] == "face_clip" and json.loads(cfg.to_json())["eyes"] is None
    assert back.inputs == {"input": CLIP_LAYOUT} and back.input_shape(2) == (2, 16, 3, 112, 112)
    assert back.kind.is_clip and back.kind.is_face and not ModelKind.FRAME.is_face
    assert ModelConfig(kind="frame").kind is ModelKind.FRAME  # type: ignore[arg-type]  # JSON gives strings


def test_heads_and_their_outputs_are_declared():
    cfg = ModelConfig(extra_heads={"posture": ("upright", "slouched"), "fer2013": FER2013})
    assert list(cfg.heads) == [MAIN_HEAD, "fer2013", "posture"] and cfg.heads["posture"] == ("upright", "slouched")
    assert [cfg.output_name(h) for h in cfg.heads] == ["probs", "fer2013_probs", "posture_probs"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "face_clip"}, "face_clip model needs window >= 2 frames and sample_ms > 0"),
        ({"kind": "frame_clip", "window": 8}, "sample_ms > 0"),
        ({"window": 16}, "face_crop model takes one frame: window must be 1"),
        ({"sample_ms": 40.0}, "window must be 1 and sample_ms 0"),
        ({"kind": "body"}, "kind must be one of face_crop, face_clip, frame, frame_clip, got 'body'"),
        ({"inputs": {"input": "NTCHW"}}, r"inputs\['input'\] of a face_crop model must be 'NCHW'"),
        ({"eyes": ((0.3, 0.4), (0.3, 0.4))}, "two different"),
        ({"extra_heads": {"emotion": ("a",)}}, "cannot be named 'emotion'"),
    ],
)
def test_inconsistent_cfgs_are_refused_with_the_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        replace(ModelConfig(), **changes)


def test_the_runtime_refuses_a_kind_it_cannot_run_in_one_line(tmp_path):
    onnx = pytest.importorskip("onnx", reason="rewriting ONNX metadata needs the onnx package ([train] extra)")
    from affectlens.models.runtime import EmotionModel, ModelError, default_model_path

    proto = onnx.load(str(default_model_path()))
    (entry,) = [e for e in proto.metadata_props if e.key == "affectlens_cfg"]
    cfg = ModelConfig.from_json(entry.value)
    entry.value = replace(cfg, kind=ModelKind.FACE_CLIP, window=16, sample_ms=100.0, inputs={}).to_json()
    clip = tmp_path / "clip.onnx"
    onnx.save(proto, str(clip))
    with pytest.raises(ModelError, match=r"clip.onnx is a face_clip model \(window 16\); EmotionModel runs face_crop"):
        EmotionModel(clip)
    raw = json.loads(entry.value)
    raw["kind"] = "hologram"
    entry.value = json.dumps(raw)
    onnx.save(proto, str(clip))
    with pytest.raises(ModelError, match=r"unusable 'affectlens_cfg': ModelConfig\.kind must be one of"):
        EmotionModel(clip)
    entry.value = replace(cfg, kind=ModelKind.FRAME).to_json()
    onnx.save(proto, str(clip))
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    out = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", "--model", str(clip), "--jsonl", str(tmp_path / "r.jsonl"),
         str(image)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    expected = "clip.onnx is a frame model (window 1); EmotionModel runs face_crop models, one face crop per sample"
    assert out.stderr == f"affectlens: error: {expected}\n"


def test_training_records_the_eye_template_of_its_data(tmp_path):
    """Issue 8: every exported model claimed FER-2013's eyes, even one trained on other crops. FER-2013 pixels keep
    FER_EYES; folders (crops of unknown alignment) record None, and the runtime then cuts the detector's box."""
    pytest.importorskip("torch", reason="the trainer needs the [train] extra")
    from affectlens.train.config import TrainConfig
    from affectlens.train.datasets.fer2013_csv import load_fer2013_csv
    from affectlens.train.datasets.folders import load_image_folder
    from affectlens.train.trainer import model_config_for

    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for i, usage in enumerate(["Training"] * 4 + ["PublicTest", "PrivateTest"]):
        rows.append(f"{i % 2 + 3},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}")
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    fer = load_fer2013_csv(tmp_path / "fer2013.csv")
    assert fer.eyes == FER_EYES and fer.subset("train").eyes == FER_EYES
    for emotion in ("happy", "sad"):
        (tmp_path / "folders" / emotion).mkdir(parents=True)
        for i in range(6):
            cv2.imwrite(str(tmp_path / "folders" / emotion / f"{i}.png"), rng.integers(0, 256, (64, 64), np.uint8))
    folders = load_image_folder(tmp_path / "folders")
    assert folders.eyes is None

    cfg = TrainConfig()
    assert model_config_for(cfg, fer).eyes == FER_EYES
    from_folders = model_config_for(cfg, folders)
    assert from_folders.eyes is None and ModelConfig.from_json(from_folders.to_json()).eyes is None
