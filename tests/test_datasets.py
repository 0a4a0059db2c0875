"""Dataset loaders: each on a real fixture from ``../shared/data`` (skipped when absent) and on synthetic files."""

from __future__ import annotations

import logging
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.emotions import EMOTIONS
from affectlens.train.datasets import LOADERS, load_dataset
from affectlens.train.datasets.affectnet_csv import load_affectnet_csv
from affectlens.train.datasets.fer2013_csv import FER2013_CLASSES, load_fer2013_csv
from affectlens.train.datasets.ferplus_csv import load_ferplus_csv
from affectlens.train.datasets.folders import load_image_folder, load_nested_folders, stratified_split


def shared_file(*parts: str) -> Path:
    """``<repo>/../shared/data/<parts>``, or skip the test with the reason when it is absent."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / Path(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (tests read ../shared/data next to the repository)")
    return path


def write_images(folder: Path, n: int, value: int = 0, ext: str = ".png", size: int = 8) -> None:
    """``n`` small grey images ``folder/img_<i><ext>``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"img_{i}{ext}"), np.full((size, size), (value + i) % 256, np.uint8))


def test_registry_names_every_kind() -> None:
    kinds = {"ferplus_npz", "fer2013_npz", "fer2013_csv", "ferplus_csv", "image_folder", "nested_folders"}
    assert kinds | {"affectnet_csv"} <= set(LOADERS)
    with pytest.raises(ValueError, match="choose from"):
        load_dataset("no_such_kind")


# -- fer2013_csv ---------------------------------------------------------------------------------------------------
def test_fer2013_csv_head50_matches_npz() -> None:
    faces = load_fer2013_csv(shared_file("fer2013", "fer2013_csv_head50.csv"))
    assert faces.images.shape == (50, 48, 48) and faces.images.dtype == np.uint8
    assert faces.classes == FER2013_CLASSES == tuple(e for e in EMOTIONS if e != "contempt")
    assert set(faces.split) == {"train"}  # the first 50 rows are all Training
    npz = np.load(shared_file("fer2013", "fer2013_ferplus_48x48.npz"))
    rows = np.flatnonzero(npz["csv_row"] < 50)
    assert len(rows) >= 45
    csv_rows = npz["csv_row"][rows]
    assert np.array_equal(faces.images[csv_rows], npz["pixels"][rows])
    fer_names = [str(n) for n in npz["fer_label_names"]]
    expected = [faces.classes.index(fer_names[k]) for k in npz["fer_label"][rows]]
    assert np.array_equal(faces.labels[csv_rows], expected)


def _fer_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_fer2013_csv_splits_and_errors(tmp_path: Path) -> None:
    pixels = " ".join(["7"] * 16)  # 4x4 images are fine: the size comes from the row
    usage = ["Training", "PublicTest", "PrivateTest"]
    rows = [f"{i % 7},{pixels},{usage[i % 3]}" for i in range(9)]
    faces = load_fer2013_csv(_fer_csv(tmp_path / "a.csv", "emotion,pixels,Usage", rows))
    assert faces.images.shape == (9, 4, 4)
    assert list(faces.split[:3]) == ["train", "val", "test"]
    assert faces.classes[faces.labels[0]] == "angry" and faces.classes[faces.labels[6]] == "neutral"

    no_usage = load_fer2013_csv(_fer_csv(tmp_path / "b.csv", "emotion,pixels", [f"3,{pixels}"] * 20))
    assert set(no_usage.split) == {"train", "val", "test"}

    with pytest.raises(ValueError, match="emotion,pixels,Usage"):
        load_fer2013_csv(_fer_csv(tmp_path / "c.csv", "label,image", ["1,2"]))
    with pytest.raises(ValueError, match="0 angry"):
        load_fer2013_csv(_fer_csv(tmp_path / "d.csv", "emotion,pixels", [f"9,{pixels}"]))
    with pytest.raises(ValueError, match="line 3"):
        load_fer2013_csv(_fer_csv(tmp_path / "e.csv", "emotion,pixels", [f"1,{pixels}", "1,1 2 3"]))
    with pytest.raises(FileNotFoundError, match=r"dataset not found: .*missing\.csv; check the dataset path"):
        load_fer2013_csv(tmp_path / "missing.csv")


# -- image_folder --------------------------------------------------------------------------------------------------
def test_image_folder_canonicalises_emotion_synonyms(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("happiness", "Sad", "anger"):
        write_images(tmp_path / name, 20)
    (tmp_path / "Sad" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        faces = load_image_folder(tmp_path)
    assert "non-image" in caplog.text
    assert faces.classes == ("happy", "sad", "angry")  # EMOTIONS order
    assert len(faces) == 60 and isinstance(faces.images, list)
    assert faces.image(0).shape == (8, 8)
    for split, n in (("train", 14), ("val", 3), ("test", 3)):  # per class 70/15/15 of 20
        assert (faces.class_counts() == 20).all()
        assert (faces.subset(split).class_counts() == n).all()
    in_memory = load_image_folder(tmp_path, in_memory=True)
    assert in_memory.images.shape == (60, 8, 8) and np.array_equal(in_memory.labels, faces.labels)


def test_image_folder_custom_classes_and_split_dirs(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        for name in ("upright", "hunched"):
            write_images(tmp_path / split / name, 4, ext=".jpg")
    faces = load_image_folder(tmp_path)
    assert faces.classes == ("hunched", "upright")  # not emotions: kept, sorted
    assert (faces.subset("val").class_counts() == 4).all() and (faces.subset("test").class_counts() == 4).all()
    ordered = load_image_folder(tmp_path, classes=["upright", "hunched"])
    assert ordered.classes == ("upright", "hunched")
    with pytest.raises(ValueError, match="slouching"):
        load_image_folder(tmp_path, classes=["upright", "slouching"])
    flat = load_image_folder(tmp_path, split_dirs=False)
    assert flat.classes == ("test", "train", "val")


def test_image_folder_carves_val_from_train(tmp_path: Path) -> None:
    for name in ("neutral", "fear"):
        write_images(tmp_path / "train" / name, 20)
        write_images(tmp_path / "test" / name, 5)
    faces = load_image_folder(tmp_path)
    assert (faces.subset("test").class_counts() == 5).all()
    assert (faces.subset("val").class_counts() == 3).all()  # 15 % of each class's 20
    assert (faces.subset("train").class_counts() == 17).all()
    assert np.array_equal(faces.split, load_image_folder(tmp_path).split)  # seeded


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images found"):
        load_image_folder(tmp_path)
    write_images(tmp_path / "val" / "happy", 2)
    with pytest.raises(ValueError, match="no train/ folder"):
        load_image_folder(tmp_path)


def test_stratified_split_keeps_empty_shares_empty() -> None:
    split = stratified_split(np.repeat(np.arange(5), 7), seed=3, fractions=(0.85, 0.15, 0.0))
    assert "test" not in set(split) and (split == "val").sum() == 5


def _extract_per_class(tmp_path: Path, per_class: int, stop_after: str | None = None) -> Path:
    """Extract ``per_class`` jpgs of every split/class folder of the FER-2013 folder tarball (tarfile, streamed)."""
    counts: dict[str, int] = {}
    with tarfile.open(shared_file("fer2013", "fer2013_msambare_jpg_8041c66.tar.gz"), "r|gz") as tar:
        for member in tar:
            folder = member.name.rsplit("/", 1)[0]
            if stop_after is not None and counts.get(stop_after, 0) >= per_class and folder != stop_after:
                break
            if member.isfile() and member.name.endswith(".jpg") and counts.get(folder, 0) < per_class:
                counts[folder] = counts.get(folder, 0) + 1
                tar.extract(member, tmp_path, filter="data")
    return tmp_path


def test_fer2013_kaggle_folders_quick(tmp_path: Path) -> None:
    """The tarball's first members: test/<7 classes> then train/angry, train/disgust."""
    root = _extract_per_class(tmp_path, 10, stop_after="train/disgust")
    faces = load_image_folder(root)
    assert faces.classes == FER2013_CLASSES
    assert (faces.subset("test").class_counts() == 10).all()
    trainval = faces.select(np.flatnonzero(faces.split != "test"))
    assert trainval.class_counts()[[faces.classes.index("angry"), faces.classes.index("disgust")]].tolist() == [10, 10]
    assert faces.image(0).shape == (48, 48) and faces.image(0).dtype == np.uint8


@pytest.mark.slow
def test_fer2013_kaggle_folders_every_class(tmp_path: Path) -> None:
    faces = load_image_folder(_extract_per_class(tmp_path, 20), in_memory=True)
    assert faces.classes == FER2013_CLASSES and faces.images.shape == (280, 48, 48)
    assert (faces.subset("test").class_counts() == 20).all()
    assert (faces.subset("train").class_counts() == 17).all() and (faces.subset("val").class_counts() == 3).all()


# -- nested_folders ------------------------------------------------------------------------------------------------
def test_nested_folders_two_labels(tmp_path: Path) -> None:
    for outer in ("upright", "hunched"):
        for inner in ("happiness", "neutral"):
            write_images(tmp_path / outer / inner, 10)
    faces = load_dataset("nested_folders", root=tmp_path)
    assert faces.classes == ("neutral", "happy")
    assert faces.extra_classes == {"posture": ("hunched", "upright")}
    posture = faces.extra_labels["posture"]
    assert posture.shape == (40,) and np.bincount(posture).tolist() == [20, 20]
    first = Path(faces.images[0])
    assert faces.classes[faces.labels[0]] == "happy" and first.parent.name == "happiness"
    assert faces.extra_classes["posture"][posture[0]] == first.parent.parent.name
    assert (faces.subset("val").class_counts() == 4).all()  # round(15 % of 10) = 2 per (posture, emotion) cell
    with pytest.raises(ValueError, match="no images"):
        load_nested_folders(tmp_path / "upright" / "neutral")


# -- affectnet_csv -------------------------------------------------------------------------------------------------
def test_affectnet_csv(tmp_path: Path) -> None:
    write_images(tmp_path / "imgs" / "a", 6, ext=".jpg", size=12)
    lines = [
        "image_path,emotion,valence,arousal",
        "imgs/a/img_0.jpg,happy,0.8,0.5",
        "imgs/a/img_1.jpg,1,0.7,0.25",
        "imgs/a/img_2.jpg,Anger,-0.5,-2",
        "imgs/a/img_3.jpg,7,,0.1",
        "imgs/a/img_4.jpg,8,-0.2,0.3",  # AffectNet 'none': no class, VA kept
        "imgs/a/img_5.jpg,10,-2,-2",  # no face and no VA: dropped
    ]
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(lines))
    faces = load_affectnet_csv(csv_path)
    assert faces.classes == EMOTIONS and len(faces) == 5
    assert [faces.classes[k] if k >= 0 else None for k in faces.labels] == ["happy", "happy", "angry", "contempt", None]
    va = faces.valence_arousal
    assert np.allclose(va[:2], [[0.8, 0.5], [0.7, 0.25]]) and np.isnan(va[2, 1]) and np.isnan(va[3, 0])
    assert faces.image(0).shape == (12, 12)

    moved = tmp_path / "elsewhere.csv"
    moved.write_text("\n".join(["subDirectory_filePath,expression,valence,arousal,split", "a/img_0.jpg,0,0,0,val"]))
    other = load_affectnet_csv(moved, image_root=tmp_path / "imgs")
    assert list(other.split) == ["val"] and other.labels.tolist() == [0]


def test_affectnet_csv_errors(tmp_path: Path) -> None:
    write_images(tmp_path, 1)
    bad = {
        "x.csv": ("image_path,emotion,valence\nimg_0.png,1,0", "image_path,emotion,valence,arousal"),
        "y.csv": ("image_path,emotion,valence,arousal\nimg_0.png,bored,0,0", "0 neutral"),
        "z.csv": ("image_path,emotion,valence,arousal\nimg_0.png,1,1.5,0", r"outside \[-1, 1\]"),
        "w.csv": ("image_path,emotion,valence,arousal\nnope.png,1,0,0", "image_root"),
    }
    for name, (text, message) in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            load_affectnet_csv(tmp_path / name)
    assert len(load_affectnet_csv(tmp_path / "w.csv", skip_missing=True)) == 0


# -- ferplus_csv ---------------------------------------------------------------------------------------------------
def _write_ferplus_pngs(npz: np.lib.npyio.NpzFile, rows: np.ndarray, root: Path) -> None:
    """npz rows -> ``root/FER2013{Train,Valid,Test}/<ferplus_name>`` (row 13, if listed, under ``root/misc/deeper``)."""
    usage_folder = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
    usage, names, pixels = npz["usage"], npz["ferplus_name"], npz["pixels"]  # each access re-reads the zip
    for i in rows:
        folder = root / ("misc/deeper" if i == 13 else usage_folder[str(usage[i])])
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / str(names[i])), pixels[i])


def test_ferplus_csv_matches_npz_rows(tmp_path: Path) -> None:
    """PNGs of a few npz rows in the FER+ generator layout (and one elsewhere) -> the npz loader's targets."""
    from affectlens.train.datasets.ferplus import ferplus_targets

    npz = np.load(shared_file("fer2013", "fer2013_ferplus_48x48.npz"))
    rows = np.array([0, 1, 2, 3, 5, 8, 13, 21, 6923, 28600, 28601, 32500, 32501])  # 6923: a name listed twice
    _write_ferplus_pngs(npz, rows, tmp_path)
    faces = load_ferplus_csv(shared_file("ferplus", "fer2013new.csv"), tmp_path)

    columns = [str(c) for c in npz["ferplus_vote_columns"]]
    split = np.array([{"Training": "train", "PublicTest": "val", "PrivateTest": "test"}[str(u)] for u in npz["usage"]])
    index, labels, soft, va = ferplus_targets(npz["ferplus_votes"][rows], columns, split[rows])
    assert faces.classes == EMOTIONS and len(faces) == len(index)
    assert np.array_equal(faces.images, npz["pixels"][rows[index]])
    assert np.array_equal(faces.labels, labels) and np.array_equal(faces.split, split[rows[index]])
    assert np.allclose(faces.soft, soft) and np.allclose(faces.valence_arousal, va)
    assert set(faces.split) == {"train", "val", "test"}


def test_ferplus_csv_label_files_and_errors(tmp_path: Path) -> None:
    train = tmp_path / "FER2013Train"
    write_images(train, 3, size=48)
    for i in range(3):
        (train / f"img_{i}.png").rename(train / f"fer000000{i}.png")
    votes = ["10,0,0,0,0,0,0,0,0,0", "0,6,4,0,0,0,0,0,0,0", "0,0,0,0,0,0,0,0,0,10"]
    (train / "label.csv").write_text("".join(f'fer000000{i}.png,"(0, 0, 48, 48)",{v}\n' for i, v in enumerate(votes)))
    faces = load_ferplus_csv(None, tmp_path)
    assert faces.labels.tolist() == [0, 1] and faces.images.shape == (2, 48, 48)  # the NF row has no label
    assert np.allclose(faces.soft[1, [1, 3]], [0.6, 0.4])  # happy, surprise

    (tmp_path / "votes.csv").write_text("Usage,Image name,happy\nTraining,fer0000000.png,1\n")
    with pytest.raises(ValueError, match="Usage,Image name,neutral,happiness"):
        load_ferplus_csv(tmp_path / "votes.csv", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="FER2013Train"):
        load_ferplus_csv(shared_file("ferplus", "fer2013new.csv"), tmp_path / "empty")


@pytest.mark.slow
def test_ferplus_csv_agrees_with_load_ferplus_npz(tmp_path: Path) -> None:
    """Every 997th npz row through both loaders: same pixels, labels, splits, soft labels and VA."""
    from affectlens.train.datasets.ferplus import load_ferplus_npz

    path = shared_file("fer2013", "fer2013_ferplus_48x48.npz")
    npz = np.load(path)
    rows = np.arange(0, len(npz["usage"]), 997)
    _write_ferplus_pngs(npz, rows, tmp_path)
    faces = load_ferplus_csv(shared_file("ferplus", "fer2013new.csv"), tmp_path)
    reference = load_ferplus_npz(path)
    # the npz loader keeps rows in order: find ours among them by pixels, trying only the rows at or after the last
    index, start = [], 0
    for image in faces.images:
        start = next(k for k in range(start, len(reference)) if np.array_equal(reference.images[k], image))
        index.append(start)
    assert len(index) > 25
    assert np.array_equal(faces.labels, reference.labels[index])
    assert np.array_equal(faces.split, reference.split[index])
    assert np.allclose(faces.soft, reference.soft[index])
    assert np.allclose(faces.valence_arousal, reference.valence_arousal[index])


def test_npz_loaders_require_their_path_and_say_where_a_relative_one_was_read(tmp_path, monkeypatch) -> None:
    import inspect

    from affectlens.train.datasets import ferplus

    for loader in (ferplus.load_ferplus_npz, ferplus.load_fer2013_npz):
        assert inspect.signature(loader).parameters["path"].default is inspect.Parameter.empty
    assert not hasattr(ferplus, "DEFAULT_NPZ")  # no path relative to whatever the working directory is
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"missing\.npz \(a relative path is read from the working directory"):
        load_dataset("ferplus_npz", path="missing.npz")
