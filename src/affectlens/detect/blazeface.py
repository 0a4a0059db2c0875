"""MediaPipe BlazeFace: the default face detector (models bundled in the ``mediapipe==0.10.21`` wheel).

Two models, and the default that combines them:

- ``short``: BlazeFace short range, 128x128 input, for faces that fill a fair part of the frame (webcam, close-up
  video). ~0.9 ms per 640x360 frame on 2 cores. Its smallest anchors are ~15% of the frame's long side: smaller
  faces are missed or found with inflated boxes and misplaced keypoints (``multi_face.jpg``: 3 of 5 faces).
- ``full``: BlazeFace full range, 192x192 input, for faces down to a few % of the frame. ~2.7 ms per 640x360 frame;
  it misses some large close-ups that short range finds (a 45-degree yaw portrait, 5% of the frames of a crying
  close-up in ``WolfgangLanger_Pexels.mp4``).
- ``auto`` (registry name ``mediapipe``): short range first; the full-range model runs only when short range finds
  no face, or finds a face narrower than ``small_face`` x the frame's long side, i.e. when there may be faces below
  short range's scale. Then short range keeps the faces it sees at its own scale (>= ``small_face``), full range
  supplies the rest, and a full-range box overlapping a kept short-range box (intersection over the smaller box
  >= 0.5) is dropped as the same face. A video of one large face costs one short-range pass per frame; a frame
  without faces costs both passes (~3.8 ms), with no emotion model to run after it; so does a frame of only small
  faces (a stage or a crowd: ``mediapipe-full`` alone is cheaper there, at the price of missed close-ups).

Tiling (``tiles``, :mod:`affectlens.detect.tiling`): in a frame much larger than the model's input, faces below ~10%
of the long side shrink to a few input pixels and are lost (a 3000x1334 group photo: 1 face of 30). With
``tiles="auto"`` (the default; from a 1024 px long side) or N, the whole-frame pass above is followed by full-range
passes over overlapping square tiles (short range for ``short``), seen at a scale where their faces are detectable;
boxes and keypoints are mapped back to frame pixels and duplicates across tiles and passes removed by
:func:`~affectlens.detect.tiling.merge_detections`. Frames below 1024 px (640x360, 960x540) are never tiled by
``auto``: a video of one large face costs what it did. Measured figures: docs/BENCHMARKS.md, "Faces in group photos".
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any, Literal

import cv2
import numpy as np

from affectlens.core import NUM_KEYPOINTS, Faces
from affectlens.detect.base import DetectorBase, check_image, make_faces, overlap_with_any, register_detector
from affectlens.detect.tiling import detect_in_tiles, merge_detections, parse_tiles, tile_plan, tiles_across
from affectlens.native_logs import native_stderr_silenced

MEDIAPIPE_INSTALL = "pip install mediapipe==0.10.21"
_GRAPHS = {
    "short": "mediapipe/modules/face_detection/face_detection_short_range_cpu.binarypb",
    "full": "mediapipe/modules/face_detection/face_detection_full_range_cpu.binarypb",
}
BlazeFaceModel = Literal["short", "full", "auto"]


def mediapipe_available() -> bool:
    """True when ``mediapipe`` is installed (checked without importing it, which takes ~0.7 s)."""
    try:
        return importlib.util.find_spec("mediapipe") is not None
    except (ImportError, ValueError):  # a broken install, or sys.modules["mediapipe"] set to None
        return False


@functools.cache
def _solution_class() -> tuple[type, Any]:
    """MediaPipe's ``SolutionBase`` subclassed with a leaner ``detections(rgb)``, and the FaceDetectionOptions proto."""
    try:
        from mediapipe.modules.face_detection import face_detection_pb2
        from mediapipe.python.solution_base import SolutionBase
    except ImportError as err:
        raise ImportError(
            f"the mediapipe face detector needs MediaPipe 0.10.21 (the last release that bundles BlazeFace): "
            f"{MEDIAPIPE_INSTALL}  ({err})"
        ) from err

    class DetectionSolution(SolutionBase):
        """``SolutionBase.process`` minus the namedtuple class it builds on every call (~0.08 ms, ~9% of a
        short-range pass). Uses SolutionBase internals, safe because mediapipe is pinned to 0.10.21, the last
        release with ``solutions``."""

        def detections(self, rgb: np.ndarray) -> list[Any]:
            self._graph_outputs.clear()
            self._simulated_timestamp += 33333
            packet = self._make_packet(self._input_stream_type_info["image"], rgb).at(self._simulated_timestamp)
            self._graph.add_packet_to_input_stream(stream="image", packet=packet)
            self._graph.wait_until_idle()
            output = self._graph_outputs.get("detections")
            if output is None:
                return []
            return self._get_packet_content(self._output_stream_type_info["detections"], output) or []

    return DetectionSolution, face_detection_pb2


class _BlazeFaceGraph:
    """One MediaPipe BlazeFace graph: RGB image -> raw arrays in pixels."""

    def __init__(self, model: Literal["short", "full"], min_confidence: float) -> None:
        solution_class, face_detection_pb2 = _solution_class()
        options = face_detection_pb2.FaceDetectionOptions(min_score_thresh=min_confidence)
        # One XNNPACK thread (MediaPipe's default on Linux, pinned here): a second thread bought nothing measurable
        # for these sub-3-ms models on 2 cores, and the other core is better spent decoding and classifying.
        options.delegate.xnnpack.num_threads = 1
        self._solution = solution_class(binary_graph_path=_GRAPHS[model], graph_options=options, outputs=["detections"])

    def run(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB -> xyxy (N, 4), score (N,), keypoints (N, 6, 2), all float32 pixels, unclipped."""
        height, width = rgb.shape[:2]
        detections = self._solution.detections(rgb)
        n = len(detections)
        values = np.empty((n, 5 + 2 * NUM_KEYPOINTS), np.float32)
        for i, det in enumerate(detections):
            loc = det.location_data
            box = loc.relative_bounding_box
            row = [det.score[0], box.xmin, box.ymin, box.xmin + box.width, box.ymin + box.height]
            for kp in loc.relative_keypoints[:NUM_KEYPOINTS]:
                row += (kp.x, kp.y)
            values[i] = row
        scale = np.array([width, height], np.float32)
        xyxy = values[:, 1:5] * np.tile(scale, 2)
        keypoints = values[:, 5:].reshape(n, NUM_KEYPOINTS, 2) * scale
        return xyxy, values[:, 0], keypoints

    def close(self) -> None:
        self._solution.close()


class BlazeFaceDetector(DetectorBase):
    """MediaPipe BlazeFace face detector: boxes, scores and the 6 BlazeFace keypoints.

    Args:
        model: ``short``, ``full`` or ``auto`` (short range, plus full range for small faces; see the module doc).
        min_confidence: minimum score in [0, 1] (MediaPipe's ``min_detection_confidence``).
        max_faces: keep the N highest-scoring faces; 0 keeps all.
        small_face: for ``auto``, the face width (fraction of the frame's long side) below which short range is not
            trusted and full range runs too.
        tiles: ``"auto"`` (tile frames from a 1024 px long side), ``"off"``, or N tiles across the long side at the
            finest level (see :mod:`affectlens.detect.tiling`).

    Raises:
        ImportError: mediapipe is not installed (the message names ``pip install mediapipe==0.10.21``).
    """

    def __init__(
        self,
        model: BlazeFaceModel = "auto",
        min_confidence: float = 0.5,
        max_faces: int = 0,
        small_face: float = 0.2,
        tiles: str | int = "auto",
    ) -> None:
        super().__init__(min_confidence, max_faces)
        if model not in ("short", "full", "auto"):
            raise ValueError(f"BlazeFace model must be 'short', 'full' or 'auto', got {model!r}")
        self.model = model
        self.small_face = float(small_face)
        self.tiles = parse_tiles(tiles)
        self.name = {"auto": "mediapipe", "short": "mediapipe-short", "full": "mediapipe-full"}[model]
        self._graphs: dict[str, _BlazeFaceGraph] = {}
        self._graph("full" if model == "full" else "short")  # fail early, in the constructor, if mediapipe is missing
        self.full_passes = 0  # how many frames ran the full-range model (for `auto`, a measure of its cost)
        self.tile_passes = 0  # how many tiles were run (all frames together)

    def _graph(self, model: Literal["short", "full"]) -> _BlazeFaceGraph:
        graph = self._graphs.get(model)
        if graph is None:
            with native_stderr_silenced():
                graph = _BlazeFaceGraph(model, self.min_confidence)
                graph.run(np.zeros((64, 64, 3), np.uint8))  # warm-up: start-up costs and logs happen here
            self._graphs[model] = graph
        return graph

    def detect(self, image: np.ndarray) -> Faces:
        """(H, W, 3) uint8 BGR -> Faces (see :class:`~affectlens.detect.base.FaceDetector`)."""
        check_image(image)
        if not self._graphs:
            raise RuntimeError(f"{self.name} detector is closed")
        height, width = image.shape[:2]
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # the one conversion: MediaPipe wants RGB
        if self.model == "full":
            self.full_passes += 1
            xyxy, score, keypoints = self._graph("full").run(rgb)
        else:
            xyxy, score, keypoints = self._graph("short").run(rgb)
            if self.model == "auto":
                xyxy, score, keypoints = self._with_small_faces(rgb, xyxy, score, keypoints, max(height, width))
        plan = tile_plan(width, height, tiles_across(self.tiles, width, height))
        if len(plan) > 0:
            xyxy, score, keypoints = self._with_tiles(rgb, plan, xyxy, score, keypoints)
        return make_faces(xyxy, score, keypoints, width, height, self.min_confidence, self.max_faces)

    def _with_tiles(
        self, rgb: np.ndarray, plan: np.ndarray, xyxy: np.ndarray, score: np.ndarray, keypoints: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Whole-frame results -> the same plus the faces found in the tiles of ``plan`` ((K, 4) x0, y0, x1, y1),
        in frame pixels, duplicates removed."""
        graph = self._graph("short" if self.model == "short" else "full")
        tile_xyxy, tile_score, tile_keypoints, cut = detect_in_tiles(graph.run, rgb, plan)
        self.tile_passes += len(plan)
        cut = np.concatenate([np.zeros(len(score), bool), cut])  # whole-frame detections are never cut by a tile
        xyxy = np.concatenate([xyxy, tile_xyxy])
        score = np.concatenate([score, tile_score])
        keypoints = np.concatenate([keypoints, tile_keypoints])
        keep = merge_detections(xyxy, score, cut)
        return xyxy[keep], score[keep], keypoints[keep]

    def _with_small_faces(
        self, rgb: np.ndarray, xyxy: np.ndarray, score: np.ndarray, keypoints: np.ndarray, long_side: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Short-range results -> the same, with the full-range model's faces where short range is out of its depth."""
        large = (xyxy[:, 2] - xyxy[:, 0]) >= self.small_face * long_side
        if len(score) > 0 and large.all():
            return xyxy, score, keypoints
        self.full_passes += 1
        full_xyxy, full_score, full_keypoints = self._graph("full").run(rgb)
        xyxy, score, keypoints = xyxy[large], score[large], keypoints[large]
        new = overlap_with_any(full_xyxy, xyxy) < 0.5
        return (
            np.concatenate([xyxy, full_xyxy[new]]),
            np.concatenate([score, full_score[new]]),
            np.concatenate([keypoints, full_keypoints[new]]),
        )

    def close(self) -> None:
        """Stop the MediaPipe graphs (idempotent)."""
        graphs, self._graphs = self._graphs, {}
        for graph in graphs.values():
            graph.close()


_HINT = f"the mediapipe face detectors need MediaPipe 0.10.21: {MEDIAPIPE_INSTALL}"


@register_detector(
    "mediapipe",
    available=mediapipe_available,
    unavailable_hint=_HINT,
    description="BlazeFace short range, plus full range for small or no faces, in tiles from 1024 px (default)",
)
def _create_auto(min_confidence: float = 0.5, max_faces: int = 0, tiles: str | int = "auto") -> BlazeFaceDetector:
    return BlazeFaceDetector("auto", min_confidence=min_confidence, max_faces=max_faces, tiles=tiles)


@register_detector(
    "mediapipe-short",
    available=mediapipe_available,
    unavailable_hint=_HINT,
    description="BlazeFace short range only: fastest, faces larger than ~20% of the frame",
)
def _create_short(min_confidence: float = 0.5, max_faces: int = 0, tiles: str | int = "auto") -> BlazeFaceDetector:
    return BlazeFaceDetector("short", min_confidence=min_confidence, max_faces=max_faces, tiles=tiles)


@register_detector(
    "mediapipe-full",
    available=mediapipe_available,
    unavailable_hint=_HINT,
    description="BlazeFace full range only: small and distant faces, ~3x the cost of short range",
)
def _create_full(min_confidence: float = 0.5, max_faces: int = 0, tiles: str | int = "auto") -> BlazeFaceDetector:
    return BlazeFaceDetector("full", min_confidence=min_confidence, max_faces=max_faces, tiles=tiles)
