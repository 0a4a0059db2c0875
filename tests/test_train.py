"""The training kit on small slices of the real data: loss falls, checkpoints resume, ONNX export matches torch; and
on tiny synthetic data: the memory format cannot crash, output folders are never mixed, configs and checkpoints are
checked with one-line errors, the end summary, and docs/TRAINING.md matches the code."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from affectlens.core import Faces  # noqa: E402
from affectlens.emotions import EMOTIONS  # noqa: E402
from affectlens.evaluate import evaluate_folder  # noqa: E402
from affectlens.models.runtime import EmotionModel, ModelError  # noqa: E402
from affectlens.pipeline import Analyzer  # noqa: E402
from affectlens.train.config import TrainConfig  # noqa: E402
from affectlens.train.datasets.ferplus import load_ferplus_npz  # noqa: E402
from affectlens.train.export import export_onnx, load_checkpoint_net  # noqa: E402
from affectlens.train.faceset import FaceSet  # noqa: E402
from affectlens.train.losses import capped_class_weights, soft_cross_entropy, valence_arousal_loss  # noqa: E402
from affectlens.train.trainer import Trainer, batch_inputs, class_targets, one_hot  # noqa: E402
from affectlens.train.valence_arousal import derive_valence_arousal  # noqa: E402
from helpers import REPO, shared_path  # noqa: E402


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
        logits = trainer.model(x.contiguous(memory_format=trainer.memory_format))["logits"]
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
    Trainer(tiny_config(tmp_path, epochs=1), faces=ferplus_slice).fit()
    resumed = Trainer(tiny_config(tmp_path, epochs=2), faces=ferplus_slice)
    resumed.fit(resume=True)
    assert resumed.start_epoch == 1 and resumed.epoch == 2
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
        logits = trainer.model(x.contiguous(memory_format=trainer.memory_format))[head]
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

    # ... and `analyze` records carry the posture head's label (the pictures are not faces: a detector of our own
    # reports the whole picture as the face, plugged in without touching the package)
    with Analyzer(detector=WholePictureDetector(), emotion_model=runtime) as analyzer:
        right = 0
        for posture in ("upright", "hunched"):
            for path in sorted((by_posture / posture).glob("*.png")):
                (face,) = analyzer.analyze_image(path).to_record()["faces"]
                assert set(face["heads"]["posture"]["probs"]) == {"hunched", "upright"}
                right += face["heads"]["posture"]["label"] == posture
    assert right >= 36  # of 40


class WholePictureDetector:
    """A user-written detector: the whole picture is one face (keypoints unused: the model's crops are unaligned)."""

    name = "whole-picture"

    def detect(self, image: np.ndarray) -> Faces:
        height, width = image.shape[:2]
        return Faces(xyxy=[[0, 0, width, height]], score=[1.0], keypoints=np.zeros((1, 6, 2), np.float32))

    def close(self) -> None:
        pass

    def __enter__(self) -> WholePictureDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        "model: test_resnet_se\nepochs: 1\nbatch_size: 32\nmax_train_batches: 3\nthreads: 1\n"
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


# -- tiny synthetic data: memory format, output folders, configs, checkpoints, summary, docs --------------------------


def band_faces(per_class: int = 12, classes: tuple[str, ...] = ("happy", "sad", "neutral"), seed: int = 0) -> FaceSet:
    """48x48 grey noise with a bright band whose height gives the class; per class 4/6 train, 1/6 val, 1/6 test."""
    rng = np.random.default_rng(seed)
    images, labels, split = [], [], []
    for k in range(len(classes)):
        for i in range(per_class):
            image = rng.integers(30, 90, (48, 48)).astype(np.uint8)
            image[4 + 14 * k : 14 + 14 * k] = 220
            images.append(image)
            labels.append(k)
            split.append(("train", "train", "train", "train", "val", "test")[i % 6])
    return FaceSet(np.stack(images), np.array(labels), classes, np.array(split, dtype=object), source="bands")


# The crash of issue 9 (torch 2.13.0, oneDNN, some AVX-512 CPUs): backward of a strided 1x1 convolution in
# channels_last. Run in a child process, so that a crash is a result, not the end of the test session: first one
# training step of a network in the format under test (prints "chosen ok"), then the crash pattern in channels_last.
CRASH_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from affectlens.models.registry import create_model

    def pattern(fmt):
        x = torch.randn(32, 8, 48, 48).contiguous(memory_format=fmt)
        m = torch.nn.Conv2d(8, 16, 1, 2, bias=False).to(memory_format=fmt)
        m(x).sum().backward()

    fmt = torch.channels_last if sys.argv[1] == "channels_last" else torch.contiguous_format
    pattern(fmt)
    net = create_model(sys.argv[2], num_classes=3).to(memory_format=fmt)
    out = net(torch.randn(16, 1, 48, 48).contiguous(memory_format=fmt))
    (out["logits"].sum() + out["valence_arousal"].sum()).backward()
    print("chosen ok", flush=True)
    pattern(torch.channels_last)
    print("channels_last ok", flush=True)
    """
)


def trainer_memory_format(trainer: Trainer) -> str:
    """The memory format the trainer put its network in, read from a 4-D weight."""
    weight = next(p for p in trainer.model.parameters() if p.ndim == 4 and p.shape[1] > 1 and p.shape[-1] > 1)
    return "channels_last" if not weight.is_contiguous() else "contiguous"


def test_the_channels_last_crash_is_reported_and_the_trainer_avoids_it(tmp_path, capsys):
    trainer = Trainer(tiny_config(tmp_path), faces=band_faces())
    chosen = trainer_memory_format(trainer)
    command = [sys.executable, "-c", CRASH_SCRIPT, chosen, "test_resnet_se"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    crashes = "channels_last ok" not in proc.stdout
    with capsys.disabled():
        outcome = f"crashes (exit code {proc.returncode})" if crashes else "passes"
        print(f"\n  strided 1x1 conv backward in channels_last on this CPU: {outcome}; trainer uses {chosen}", end="")
    assert "chosen ok" in proc.stdout, f"the trainer's format {chosen} crashes: exit code {proc.returncode}"
    if crashes:
        assert chosen == "contiguous"


def test_a_forced_memory_format_is_used_and_a_bad_one_named():
    from affectlens.train.config import ConfigError

    trainer = Trainer(TrainConfig(model="test_resnet_se", memory_format="contiguous", threads=1), faces=band_faces())
    assert trainer_memory_format(trainer) == "contiguous"
    with pytest.raises(ConfigError, match="memory_format must be one of auto, channels_last, contiguous"):
        TrainConfig(memory_format="nhwc")


def test_a_last_batch_of_one_image_is_left_out_instead_of_breaking_batch_norm(tmp_path):
    faces = band_faces(per_class=6)  # 12 training images
    trainer = Trainer(tiny_config(tmp_path, batch_size=11), faces=faces)
    assert trainer.steps_per_epoch == 1
    trainer.fit()
    assert (tmp_path / "run" / "best.pt").exists()


def test_a_used_out_dir_needs_resume_or_overwrite(tmp_path):
    faces = band_faces()
    run = tmp_path / "run"
    Trainer(tiny_config(tmp_path), faces=faces).fit()
    with pytest.raises(ValueError, match=r"already holds a training run.*--resume.*--overwrite"):
        Trainer(tiny_config(tmp_path), faces=faces).fit()
    assert [json.loads(r)["epoch"] for r in (run / "metrics.jsonl").read_text().splitlines()] == [1]

    (run / "notes.txt").write_text("mine")
    Trainer(tiny_config(tmp_path), faces=faces).fit(overwrite=True)
    assert [json.loads(r)["epoch"] for r in (run / "metrics.jsonl").read_text().splitlines()] == [1]
    assert (run / "notes.txt").read_text() == "mine"  # only the run's own outputs are removed

    resumed = Trainer(tiny_config(tmp_path, epochs=2), faces=faces)
    resumed.fit(resume=True)
    assert [json.loads(r)["epoch"] for r in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not empty \(it holds notes\.txt\); pass --overwrite"):
        Trainer(tiny_config(tmp_path, out_dir=str(other)), faces=faces).fit()
    with pytest.raises(ValueError, match=r"no last\.pt to resume from.*--overwrite"):
        Trainer(tiny_config(tmp_path, out_dir=str(other)), faces=faces).fit(resume=True)


def write_band_folder(root, per_class: int = 12) -> None:
    """``root/{train,test}/<class>/*.png`` of :func:`band_faces` images (val is carved from train)."""
    faces = band_faces(per_class)
    for i in range(len(faces)):
        split = "test" if faces.split[i] == "test" else "train"
        folder = root / split / faces.classes[faces.labels[i]]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), faces.image(i))


def write_config(path, out_dir, data, **extra) -> None:
    keys = {"model": "test_resnet_se", "model_kwargs": "{}", "epochs": 1, "batch_size": 8, "threads": 1, **extra}
    lines = [f"out_dir: {out_dir}", f"dataset: {{kind: image_folder, root: {data}}}"]
    path.write_text("\n".join(lines + [f"{k}: {v}" for k, v in keys.items()]) + "\n")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    from affectlens.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_train_summary_names_scores_and_files_and_refuses_a_used_out_dir(tmp_path, capsys):
    write_band_folder(tmp_path / "faces")
    config, run = tmp_path / "tiny.yaml", tmp_path / "run"
    write_config(config, run, tmp_path / "faces", epochs=2)
    code, out, _ = cli(capsys, "train", "--config", str(config), "--export", str(tmp_path / "m.onnx"))
    assert code == 0
    assert re.search(r"validation +accuracy \d+\.\d\d%  macro-F1 \d+\.\d\d%", out), out
    assert re.search(r"test +accuracy \d+\.\d\d%  macro-F1 \d+\.\d\d%  \(6 faces\)", out), out
    for name in ("best.pt", "last.pt", "metrics.jsonl", "training_curves.png", "test_metrics.json", "summary.json"):
        assert str(run / name) in out and (run / name).exists()
    assert str(tmp_path / "m.onnx") in out and (tmp_path / "m.onnx").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["n"] == 6 and 0 <= summary["test"]["macro_f1"] <= 1

    write_config(config, run, tmp_path / "faces", model="mini_xception")  # another network, same out_dir
    code, _, err = cli(capsys, "train", "--config", str(config))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "already holds a training run" in err and "--resume" in err and "--overwrite" in err
    code, _, err = cli(capsys, "train", "--config", str(config), "--resume")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "trained with model test_resnet_se (this config: mini_xception)" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('epochs: "ten"\n', r"cfg\.yaml: epochs must be a whole number, got 'ten'"),
        ("lr: fast\n", r"cfg\.yaml: lr must be a number, got 'fast'"),
        ("batch_size: 0\n", r"cfg\.yaml: batch_size must be in \[1, inf\), got 0"),
        ("soft_labels: 1\n", r"cfg\.yaml: soft_labels must be true or false"),
        ("optimizer: adamm\n", r"cfg\.yaml: optimizer must be one of adamw, adam, sgd, adagrad"),
        ("epoch: 3\n", r"cfg\.yaml: unknown key\(s\) epoch; known keys: out_dir"),
        ("augment: {flip: maybe}\n", r"cfg\.yaml: augment\.flip must be true or false"),
        ("mean: [0.5, 0.5]\n", r"cfg\.yaml: mean needs one value per channel \(1\)"),
        ("model: resnet_100\n", r"cfg\.yaml: model must be one of .*resnet_se"),
        ("model: mini_xception\nmodel_kwargs: {depth: 2}\n", r"model_kwargs key\(s\) depth do not apply to mini_xc"),
        ("dataset: {kind: ferplus_npz}\n", r"cfg\.yaml: dataset kind ferplus_npz needs path"),
        ("dataset: {kind: image_folder, root: x, pth: y}\n", r"dataset kind image_folder takes no pth"),
        ("dataset: {kind: images}\n", r"cfg\.yaml: dataset\.kind must be one of ferplus_npz"),
        ("dataset: {kind: image_folder, root: x\nepochs: 3\n", r"cfg\.yaml: invalid YAML at line 2, column 7"),
        ("- epochs\n", r"cfg\.yaml: expected a mapping of keys to values"),
        ("epochs: 3\n", r"cfg\.yaml: no dataset; add e\.g\. `dataset: "),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "cfg.yaml"
    dataset = "" if "dataset" in text or text.startswith("- ") or text == "epochs: 3\n" else "dataset: {kind: x}\n"
    dataset = dataset.replace("{kind: x}", "{kind: image_folder, root: faces}")
    path.write_text(dataset + text)
    with pytest.raises(ValueError, match=message) as caught:
        TrainConfig.from_yaml(path)
    assert "\n" not in str(caught.value)


def test_config_reads_numbers_yaml_leaves_as_text_and_fills_architecture_defaults(tmp_path):
    from affectlens.models.registry import list_models
    from affectlens.train.trainer import build_model

    path = tmp_path / "cfg.yaml"
    path.write_text("dataset: {kind: image_folder, root: faces}\nlr: 2e-3\nepochs: 3.0\nmodel: mini_xception\n")
    cfg = TrainConfig.from_yaml(path)
    assert cfg.lr == 0.002 and cfg.epochs == 3 and isinstance(cfg.epochs, int)
    assert cfg.model_kwargs == {"width": 8}
    assert TrainConfig().model_kwargs == {"width": 24, "depth": 2, "se": True}  # the default recipe
    assert TrainConfig(model="resnet_se", model_kwargs={"width": 28}).model_kwargs["width"] == 28
    faces = band_faces(per_class=2)
    for name in list_models():  # every architecture builds from its name alone
        net = build_model(TrainConfig(model=name), faces)
        assert net(torch.zeros(2, 1, 48, 48))["logits"].shape == (2, 3), name


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(config):
    cfg = TrainConfig.from_yaml(config)
    assert cfg.dataset["kind"] == "ferplus_npz" and cfg.model_kwargs["width"] >= 24


def test_export_of_a_file_that_is_not_a_checkpoint_says_so(tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("# not a checkpoint\n")
    with pytest.raises(ValueError, match=r"notes\.pt is not a training checkpoint.*best\.pt or last\.pt"):
        load_checkpoint_net(text)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="not a training checkpoint"):
        load_checkpoint_net(plain)
    code, _, err = cli(capsys, "export", str(text), "--onnx", str(tmp_path / "m.onnx"))
    assert code == 2 and err.startswith("affectlens: error: ") and len(err.strip().splitlines()) == 1
    assert "not a training checkpoint" in err and not (tmp_path / "m.onnx").exists()


def test_the_train_extra_hint_names_the_pip_command(monkeypatch):
    from affectlens import cli as cli_module

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(cli_module.CliError, match=r"pip install 'affectlens\[train\]'"):
        cli_module._require_train_extra()


# -- docs/TRAINING.md: every key, kind and default as in the code; its example runs -----------------------------------

TRAINING_MD = REPO / "docs" / "TRAINING.md"


def documented_keys(section: str) -> dict[str, str]:
    """``| `key` | default | meaning |`` rows of the first table under the heading ``section`` -> {key: default}."""
    body = TRAINING_MD.read_text().split(f"\n{section}\n", 1)[1]
    table = body[body.index("\n| key |") :].split("\n\n", 1)[0]
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `([a-z_0-9]+)` \| ([^|]*) \|", table, re.M)}


def yaml_value(text: str):
    import yaml

    return yaml.safe_load(text.strip("`"))


def test_training_doc_lists_every_key_with_its_default():
    from affectlens.train.augment import AugmentConfig

    keys = documented_keys("## Every config key")
    cfg = TrainConfig()
    assert set(keys) == {f.name for f in TrainConfig.__dataclass_fields__.values()}
    for name in ("epochs", "batch_size", "lr", "optimizer", "schedule", "early_stopping", "memory_format", "threads"):
        assert yaml_value(keys[name]) == getattr(cfg, name), name
    augment = documented_keys("### `augment:` keys")
    assert set(augment) == set(AugmentConfig.__dataclass_fields__)
    for name, default in augment.items():
        value = yaml_value(default)
        assert (tuple(value) if isinstance(value, list) else value) == getattr(AugmentConfig(), name), name


def test_training_doc_describes_every_dataset_kind_and_argument():
    from affectlens.train.datasets import LOADERS

    text = TRAINING_MD.read_text()
    for kind, loader in LOADERS.items():
        section = text.split(f"### `{kind}`", 1)
        assert len(section) == 2, f"docs/TRAINING.md has no section for {kind}"
        body = section[1].split("\n### ", 1)[0]
        for arg in inspect.signature(loader).parameters:
            assert f"`{arg}`" in body, f"{kind}: argument {arg} undocumented"


def test_readme_links_the_training_doc():
    text = (REPO / "README.md").read_text()
    section = text.split("## Training on your own data", 1)[1].split("\n## ", 1)[0]
    assert "docs/TRAINING.md" in section


def run_doc_commands(block: str, tmp_path, capsys, replace: dict[str, str]) -> int:
    """Run the ``affectlens ...`` lines of a doc's shell block in-process (paths moved into ``tmp_path``, at most 2
    epochs); returns how many ran."""
    ran = 0
    for line in block.splitlines():
        if not line.startswith("affectlens "):
            continue
        argv = [replace.get(a, a) for a in line.split("#")[0].split()[1:]]
        argv = [str(tmp_path / a) if a.startswith(("runs/", "my_model", "my_faces")) else a for a in argv]
        if "--epochs" in argv:
            argv[argv.index("--epochs") + 1] = "2"
        elif argv[0] == "train":
            argv += ["--epochs", "1"]
        code, _, err = cli(capsys, *argv)
        assert code == 0, f"{line}: {err}"
        ran += 1
    return ran


@pytest.mark.slow
def test_training_doc_example_runs_on_an_image_folder(tmp_path, capsys):
    """The doc's ImageFolder config and commands, on a synthetic folder, 1-2 epochs."""
    import yaml

    text = TRAINING_MD.read_text()
    raw = yaml.safe_load(re.search(r"<!-- example: my_faces.yaml -->\n```yaml\n(.*?)```", text, re.S).group(1))
    TrainConfig.from_dict(raw)  # every key as documented
    write_band_folder(tmp_path / raw["dataset"]["root"])
    raw["dataset"]["root"] = str(tmp_path / raw["dataset"]["root"])
    raw["out_dir"] = str(tmp_path / raw["out_dir"])
    config = tmp_path / "my_faces.yaml"
    config.write_text(yaml.safe_dump(raw))
    commands = re.search(r"<!-- example: commands -->\n```sh\n(.*?)```", text, re.S).group(1)
    assert run_doc_commands(commands, tmp_path, capsys, {"my_faces.yaml": str(config)}) == 5
    assert (tmp_path / "my_model.onnx").exists()


@pytest.mark.slow
def test_readme_training_example_runs(tmp_path, capsys):
    text = (REPO / "README.md").read_text()
    section = text.split("## Training on your own data", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    write_band_folder(tmp_path / "my_faces")
    shell = [line for line in block.splitlines() if not line.startswith("affectlens ")]
    subprocess.run(["bash", "-c", "\n".join(shell)], cwd=tmp_path, check=True)
    config = tmp_path / "my_faces.yaml"
    raw = TrainConfig.from_yaml(config).to_dict()
    config.write_text(config.read_text().replace("runs/my_faces", str(tmp_path / "runs/my_faces")))
    config.write_text(config.read_text().replace("root: my_faces", f"root: {tmp_path / 'my_faces'}"))
    assert raw["dataset"]["kind"] == "image_folder"
    assert run_doc_commands(block, tmp_path, capsys, {"my_faces.yaml": str(config)}) == 2
    assert (tmp_path / "my_model.onnx").exists()
