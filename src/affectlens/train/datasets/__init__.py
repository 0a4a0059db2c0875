"""Dataset loaders. Each returns a :class:`~affectlens.train.faceset.FaceSet`; :func:`load_dataset` picks one by kind.

Kinds (keyword arguments of each loader in its docstring):

============== ===================================================================================
ferplus_npz    FER+ votes on the FER-2013 pixels of the project's npz (8 emotions, soft labels, VA)
fer2013_npz    FER-2013 original 7 labels from the same npz
fer2013_csv    Kaggle ``fer2013.csv`` (``emotion,pixels,Usage``)
ferplus_csv    Microsoft's ``fer2013new.csv`` votes + the FER+ generator's PNG folders
image_folder   ``root/<class>/*.jpg`` or ``root/{train,val,test}/<class>/*.jpg`` (e.g. the Kaggle FER-2013 folders)
nested_folders ``root/<outer>/<emotion>/*.jpg``: emotion + a second head (e.g. posture)
affectnet_csv  ``image_path,emotion,valence,arousal[,split]`` (AffectNet-style, continuous VA)
============== ===================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from affectlens.train.datasets.affectnet_csv import load_affectnet_csv
from affectlens.train.datasets.fer2013_csv import load_fer2013_csv
from affectlens.train.datasets.ferplus import load_fer2013_npz, load_ferplus_npz
from affectlens.train.datasets.ferplus_csv import load_ferplus_csv
from affectlens.train.datasets.folders import load_image_folder, load_nested_folders
from affectlens.train.faceset import FaceSet

LOADERS: dict[str, Callable[..., FaceSet]] = {
    "ferplus_npz": load_ferplus_npz,
    "fer2013_npz": load_fer2013_npz,
    "fer2013_csv": load_fer2013_csv,
    "ferplus_csv": load_ferplus_csv,
    "image_folder": load_image_folder,
    "nested_folders": load_nested_folders,
    "affectnet_csv": load_affectnet_csv,
}


def load_dataset(kind: str, **kwargs: Any) -> FaceSet:
    """Load a dataset by loader name (see ``LOADERS``) with that loader's keyword arguments."""
    if kind not in LOADERS:
        raise ValueError(f"unknown dataset kind {kind!r}; choose from {', '.join(sorted(LOADERS))}")
    return LOADERS[kind](**kwargs)


__all__ = ["LOADERS", "FaceSet", "load_dataset"]
