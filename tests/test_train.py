"""The training kit on small slices of the real data: loss falls, checkpoints resume, ONNX export matches torch."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from affectlens.emotions import EMOTIONS  # noqa: E402
from affectlens.evaluate import evaluate_folder  # noqa: E402
from affectlens.models.runtime import EmotionModel, ModelError  # noqa: E402
from affectlens.train.config import TrainConfig  # noqa: E402
from affectlens.train.datasets.ferplus import load_ferplus_npz  # noqa: E402
from affectlens.train.export import export_onnx, load_checkpoint_net  # noqa: E402
from affectlens.train.faceset import FaceSet  # noqa: E402
from affectlens.train.losses import capped_class_weights, soft_cross_entropy, valence_arousal_loss  # noqa: E402
from affectlens.train.trainer import Trainer, batch_inputs, class_targets, one_hot  # noqa: E402
from affectlens.train.valence_arousal import derive_valence_arousal  # noqa: E402
from helpers import shared_path  # noqa: E402


@pytest.fixture(scope="module")
def ferplus_slice() -> FaceSet:
    faces = load_ferplus_npz(shared_path("fer2013", "fer2013_ferplus_48x48.npz"))
    rng = np.random.default_rng(0)
    train = rng.choice(np.flatnonzero(faces.split == "train"), 384, replace=False)
    val = rng.choice(np.flatnonzero(faces.split == "val"), 96, replace=False)
    return faces.select(np.concatenate([train, val]))


@pytest.fixture(scope="module")
def ferplus_fer2013_slice() -> FaceSet:
    """FER+ rows that also carry their original FER-2013 label as the extra head ``fer2013``."""
    faces = load_ferplus_npz(shared_path("fer2013", "fer2013_ferplus_48x48.npz"), fer2013_head=True)
    rng = np.random.default_rng(1)
    train = rng.choice(np.flatnonzero(faces.split == "train"), 384, replace=False)
    val = rng.choice(np.flatnonzero(faces.split == "val"), 96, replace=False)
    return faces.select(np.concatenate([train, val]))


def tiny_config(tmp_path, **kw) -> TrainConfig:
    base = dict(
        out_dir=str(tmp_path / "run"),
        model="test_resnet_se",
        model_kwargs={},
        epochs=1,
        batch_size=32,
        lr=3e-3,
        warmup_epochs=0.1,
        threads=1,
        ema_decay=0.9,
        early_stopping=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def fixed_batch_loss(trainer: Trainer, faces: FaceSet) -> float:
    index = np.arange(128)
    x = batch_inputs(faces, index, trainer.model_cfg, None, None)
    trainer.model.eval()
    with torch.no_grad():
        logits = trainer.model(x.contiguous(memory_format=torch.channels_last))["logits"]
    return float(soft_cross_entropy(logits, class_targets(faces, index, soft=True)))


@pytest.mark.slow
def test_one_epoch_lowers_the_loss_and_writes_its_outputs(tmp_path, ferplus_slice):
    trainer = Trainer(tiny_config(tmp_path, epochs=2), faces=ferplus_slice)
    before = fixed_batch_loss(trainer, trainer.train_set)
    trainer.fit(resume=False)
    after = fixed_batch_loss(trainer, trainer.train_set)
    assert after < before
    out = tmp_path / "run"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert (out / "config.yaml").exists() and (out / "best.pt").exists() and (out / "last.pt").exists()


@pytest.mark.slow
def test_resume_continues_from_the_last_epoch(tmp_path, ferplus_slice):
    Trainer(tiny_config(tmp_path, epochs=1), faces=ferplus_slice).fit(resume=False)
    resumed = Trainer(tiny_config(tmp_path, epochs=2), faces=ferplus_slice)
    assert resumed.resume() and resumed.epoch == 1
    resumed.fit(resume=False)
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2]


@pytest.mark.slow
def test_exported_onnx_matches_torch_and_carries_its_config(tmp_path, ferplus_slice):
    Trainer(tiny_config(tmp_path), faces=ferplus_slice).fit(resume=False)
    net, model_cfg = load_checkpoint_net(tmp_path / "run" / "best.pt")
    path = export_onnx(net, model_cfg, tmp_path / "m.onnx")
    runtime = EmotionModel(path)
    assert runtime.cfg == model_cfg and runtime.labels == EMOTIONS
    x = batch_inputs(ferplus_slice, np.arange(5), model_cfg, None, None)
    with torch.no_grad():
        out = net(x)
    probs, va = runtime.predict(x.numpy())
    assert probs.shape == (5, 8) and va.shape == (5, 2)  # dynamic batch axis
    np.testing.assert_allclose(probs, torch.softmax(out["logits"], 1).numpy(), atol=1e-4)
    np.testing.assert_allclose(va, out["valence_arousal"].numpy(), atol=1e-4)


def fixed_batch_head_loss(trainer: Trainer, faces: FaceSet, head: str) -> float:
    index = np.arange(128)
    x = batch_inputs(faces, index, trainer.model_cfg, None, None)
    trainer.model.eval()
    with torch.no_grad():
        logits = trainer.model(x.contiguous(memory_format=torch.channels_last))[head]
    return float(soft_cross_entropy(logits, one_hot(faces.extra_labels[head][index], logits.shape[1])))


@pytest.mark.slow
def test_extra_head_is_trained_validated_exported_and_evaluated(tmp_path, ferplus_fer2013_slice):
    faces = ferplus_fer2013_slice
    fer2013_classes = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry")
    assert faces.extra_classes == {"fer2013": fer2013_classes}
    trainer = Trainer(tiny_config(tmp_path, epochs=2), faces=faces)
    before = fixed_batch_head_loss(trainer, trainer.train_set, "fer2013")
    trainer.fit(resume=False)
    assert fixed_batch_head_loss(trainer, trainer.train_set, "fer2013") < before
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0 <= last["val_fer2013_accuracy"] <= 1 and 0 <= last["val_fer2013_macro_f1"] <= 1

    net, model_cfg = load_checkpoint_net(tmp_path / "run" / "best.pt")
    runtime = EmotionModel(export_onnx(net, model_cfg, tmp_path / "m.onnx"))
    assert runtime.head_labels("fer2013") == fer2013_classes
    crops = [faces.image(i) for i in range(5)]
    with torch.no_grad():
        expected = torch.softmax(net(batch_inputs(faces, np.arange(5), model_cfg, None, None))["fer2013"], 1)
    np.testing.assert_allclose(runtime.predict_head(crops, "fer2013"), expected.numpy(), atol=1e-4)
    with pytest.raises(ModelError, match="no head 'posture'"):
        runtime.head_labels("posture")

    folder = tmp_path / "faces"
    for i in range(12):
        name = fer2013_classes[faces.extra_labels["fer2013"][i]]
        (folder / name).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / name / f"{i}.png"), faces.image(i))
    report = evaluate_folder(folder, runtime, head="fer2013", progress=False)
    assert report["n"] == 12 and report["head"] == "fer2013"
    assert set(report["labels"]) <= set(fer2013_classes)


def synthetic_posture_faces(root, per_cell: int, seed: int) -> None:
    """``root/<posture>/<emotion>/*.png``: posture = where a bright band lies (top / bottom), emotion = its texture
    (stripes / flat), so both labels survive flips, small rotations and shifts."""
    rng = np.random.default_rng(seed)
    for posture in ("upright", "hunched"):
        for emotion in ("happy", "neutral"):
            folder = root / posture / emotion
            folder.mkdir(parents=True)
            for i in range(per_cell):
                image = rng.integers(40, 80, (48, 48)).astype(np.uint8)
                rows = slice(4, 20) if posture == "upright" else slice(28, 44)
                image[rows] = 220
                if emotion == "happy":
                    image[rows, ::4] = 120
                cv2.imwrite(str(folder / f"{i}.png"), image)


@pytest.mark.slow
def test_dual_head_model_from_nested_folders_learns_its_second_head(tmp_path):
    """The posture + emotion story end to end: nested folders -> training -> ONNX -> ``evaluate --head posture``."""
    from affectlens.train.datasets import load_dataset

    synthetic_posture_faces(tmp_path / "data", per_cell=24, seed=0)
    faces = load_dataset("nested_folders", root=tmp_path / "data", in_memory=True)
    trainer = Trainer(tiny_config(tmp_path, epochs=6, batch_size=16, lr=5e-3, dropout=0.0), faces=faces)
    trainer.fit(resume=False)
    net, model_cfg = load_checkpoint_net(tmp_path / "run" / "best.pt")
    runtime = EmotionModel(export_onnx(net, model_cfg, tmp_path / "m.onnx"))
    assert runtime.head_labels("posture") == ("hunched", "upright")

    synthetic_posture_faces(tmp_path / "held_out", per_cell=10, seed=1)
    by_posture = tmp_path / "by_posture"
    for posture in ("upright", "hunched"):
        (by_posture / posture).mkdir(parents=True)
        for path in (tmp_path / "held_out" / posture).rglob("*.png"):
            path.rename(by_posture / posture / f"{path.parent.name}_{path.name}")
    report = evaluate_folder(by_posture, runtime, head="posture", progress=False)
    assert report["n"] == 40 and report["accuracy"] >= 0.9


def test_losses_behave():
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    right = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    wrong = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert soft_cross_entropy(logits, right) < soft_cross_entropy(logits, wrong)
    assert soft_cross_entropy(logits, right, focal_gamma=2.0) < soft_cross_entropy(logits, right)
    assert soft_cross_entropy(logits, right, label_smoothing=0.1) > soft_cross_entropy(logits, right)
    weights = capped_class_weights(np.array([1000, 10, 0]), cap=5.0)
    assert weights[2] == 0 and weights[1] > weights[0]
    target = torch.tensor([[0.5, -0.5], [0.1, 0.2], [float("nan"), 0.0]])
    assert valence_arousal_loss(target.nan_to_num(0.0), target) < valence_arousal_loss(-target.nan_to_num(0.0), target)


def test_derived_valence_arousal_follows_the_votes():
    votes = np.zeros((3, 8))
    votes[0, EMOTIONS.index("happy")] = 10
    votes[1, EMOTIONS.index("sad")] = 10
    votes[2, [EMOTIONS.index("happy"), EMOTIONS.index("sad")]] = 5
    va = derive_valence_arousal(votes)
    assert va[0, 0] > 0.5 and va[1, 0] < -0.5
    assert va[2, 0] == pytest.approx((va[0, 0] + va[1, 0]) / 2)


@pytest.mark.slow
def test_int8_model_keeps_the_config_and_stays_close_to_float(tmp_path, ferplus_slice):
    from affectlens.train.quantize import quantize_int8

    Trainer(tiny_config(tmp_path), faces=ferplus_slice).fit(resume=False)
    net, model_cfg = load_checkpoint_net(tmp_path / "run" / "best.pt")
    float_path = export_onnx(net, model_cfg, tmp_path / "m.onnx")
    int8_path = quantize_int8(float_path, tmp_path / "m_int8.onnx", ferplus_slice, images=64)
    float_model, int8_model = EmotionModel(float_path), EmotionModel(int8_path)
    assert int8_model.cfg == float_model.cfg
    x = batch_inputs(ferplus_slice, np.arange(64), model_cfg, None, None).numpy()
    p_float, _ = float_model.predict(x)
    p_int8, va_int8 = int8_model.predict(x)
    assert p_int8.shape == (64, 8) and va_int8.shape == (64, 2)
    assert np.abs(p_float - p_int8).mean() < 0.05


@pytest.mark.slow
def test_compare_optimizers_writes_a_table_and_a_plot(tmp_path, ferplus_slice, monkeypatch):
    from affectlens.train import compare

    monkeypatch.setattr("affectlens.train.datasets.load_dataset", lambda **kw: ferplus_slice)
    rows = compare.compare_optimizers(tiny_config(tmp_path, max_train_batches=3), ["adamw", "sgd"], epochs=1)
    assert [r["optimizer"] for r in rows] == ["adamw", "sgd"]
    root = tmp_path / "run"
    assert "| adamw |" in (root / "optimizer_comparison.md").read_text()
    assert (root / "optimizer_comparison.png").stat().st_size > 10_000
    assert (root / "sgd" / "metrics.jsonl").exists()


@pytest.mark.slow
def test_train_and_export_from_the_command_line(tmp_path):
    import subprocess
    import sys

    npz = shared_path("fer2013", "fer2013_ferplus_48x48.npz")
    config = tmp_path / "tiny.yaml"
    config.write_text(
        f"out_dir: {tmp_path / 'run'}\n"
        f"dataset: {{kind: ferplus_npz, path: {npz}}}\n"
        "model: test_resnet_se\nmodel_kwargs: {}\nepochs: 1\nbatch_size: 32\nmax_train_batches: 3\nthreads: 1\n"
    )
    cli = [sys.executable, "-m", "affectlens.cli"]
    proc = subprocess.run([*cli, "train", "--config", str(config)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "training_curves.png").exists()
    proc = subprocess.run(
        [
            *cli,
            "export",
            str(tmp_path / "run" / "best.pt"),
            "--onnx",
            str(tmp_path / "m.onnx"),
            "--torchscript",
            str(tmp_path / "m.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    scripted = torch.jit.load(str(tmp_path / "m.pt"))
    probs, va = scripted(torch.zeros(2, 1, 48, 48))
    assert probs.shape == (2, 8) and va.shape == (2, 2)
    assert EmotionModel(tmp_path / "m.onnx").labels == EMOTIONS


@pytest.mark.slow
def test_affectnet_style_csv_trains_the_va_head_on_real_values(tmp_path):
    from affectlens.train.datasets import load_dataset

    rng = np.random.default_rng(0)
    rows = ["image_path,emotion,valence,arousal"]
    for i in range(96):
        brightness = rng.uniform(0, 1)
        image = np.clip(rng.normal(brightness * 255, 20, (48, 48)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"{i}.png"), image)
        # valence follows brightness: a signal a network can learn in a few steps
        rows.append(f"{i}.png,{EMOTIONS[i % 8]},{2 * brightness - 1:.3f},{0.2:.3f}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    faces = load_dataset("affectnet_csv", path=str(tmp_path / "labels.csv"))
    assert faces.has_valence_arousal() and faces.classes == EMOTIONS
    trainer = Trainer(tiny_config(tmp_path, epochs=3, soft_labels=False, beta=2.0, lr=1e-2), faces=faces)
    trainer.fit(resume=False)
    report = trainer.evaluate(faces.subset("train"), trainer.model)
    assert report["valence_arousal"]["n"] > 0
    assert report["valence_arousal"]["valence"]["pearson"] > 0.5
