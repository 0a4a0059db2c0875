"""Measure where the eyes sit in FER-2013 48x48 crops: the alignment template of the default model.

Runs MediaPipe BlazeFace (short range) on 4x-upscaled FER-2013 training images and prints the median eye centres as
fractions of the crop size, the numbers stored as ``FER_EYES`` in ``affectlens/modelcfg.py``.

    .venv/bin/python scripts/measure_fer_eye_template.py --n 3000
"""

from __future__ import annotations

import argparse

import cv2
import mediapipe as mp
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--npz", default="../shared/data/fer2013/fer2013_ferplus_48x48.npz")
parser.add_argument("--n", type=int, default=3000)
args = parser.parse_args()

data = np.load(args.npz)
train = np.flatnonzero(data["usage"] == "Training")[: args.n]
pixels = data["pixels"]
eyes = []
with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as detector:
    for i in train:
        big = cv2.resize(pixels[i], (192, 192), interpolation=cv2.INTER_CUBIC)
        # pad so the face is not frame-filling (BlazeFace short range expects some context)
        canvas = cv2.copyMakeBorder(big, 96, 96, 96, 96, cv2.BORDER_CONSTANT, value=0)
        result = detector.process(cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB))
        if not result.detections:
            continue
        kp = result.detections[0].location_data.relative_keypoints
        pts = np.array([[kp[0].x, kp[0].y], [kp[1].x, kp[1].y]]) * 384 - 96  # pixels of the 192 crop
        eyes.append(pts / 192.0)
eyes = np.array(eyes)
print(f"detected {len(eyes)}/{len(train)}")
med = np.median(eyes, axis=0)
print("median image-left eye (x, y):", med[0].round(4), " image-right eye:", med[1].round(4))
print("IQR:", np.percentile(eyes, 75, axis=0).round(3) - np.percentile(eyes, 25, axis=0).round(3))
