"""Write the test splits of the npz as ImageFolder trees of PNG crops, for ``affectlens evaluate``.

.venv/bin/python scripts/write_eval_folders.py --out /tmp/affectlens_eval
# -> /tmp/affectlens_eval/ferplus_test/<emotion>/*.png   FER+ test (= FER-2013 PrivateTest), 8-emotion majority,
#                                                         rows whose top vote is unknown/NF or tied dropped
#    /tmp/affectlens_eval/fer2013_test/<emotion>/*.png   FER-2013 PrivateTest, original 7 labels
#    (and *_val for PublicTest, used for model selection)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from affectlens.train.datasets.ferplus import load_fer2013_npz, load_ferplus_npz
from affectlens.train.faceset import FaceSet

# the shared data beside the repository (whatever the working directory)
DEFAULT_NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013_ferplus_48x48.npz"


def write_folder(faces: FaceSet, root: Path) -> int:
    """Write every hard-labelled image of ``faces`` as ``root/<class>/<index>.png``; returns the count."""
    written = 0
    for name in faces.classes:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in tqdm(np.flatnonzero(faces.labels >= 0), desc=root.name, unit="img"):
        cv2.imwrite(str(root / faces.classes[faces.labels[i]] / f"{i:05d}.png"), faces.image(int(i)))
        written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", default=DEFAULT_NPZ)
    parser.add_argument("--out", required=True)
    parser.add_argument("--splits", nargs="+", default=["test"], choices=["val", "test"])
    args = parser.parse_args()
    out = Path(args.out)
    for name, loader in (("ferplus", load_ferplus_npz), ("fer2013", load_fer2013_npz)):
        faces = loader(args.npz)
        for split in args.splits:
            n = write_folder(faces.subset(split), out / f"{name}_{split}")
            print(f"{out / f'{name}_{split}'}: {n} images")


if __name__ == "__main__":
    main()
