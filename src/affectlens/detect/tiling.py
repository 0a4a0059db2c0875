"""Tiled detection: find the small faces of a frame much larger than the detector's input (group photos, crowds).

BlazeFace sees a frame shrunk to 192x192 (full range; 128x128 short range) and finds faces down to about 10% of that
side (~19 input pixels). In a 3000x1334 group photo whose faces are 100 px wide (3% of the long side) every face
shrinks to 6 input pixels and vanishes; in a 7680x4320 crowd, to 2.5. Tiling runs the detector again on overlapping
square crops of the frame, each seen at a scale where such faces are detectable, then maps every box and keypoint
back to frame pixels and removes the duplicates with a non-maximum suppression across tiles and passes.

The plan (:func:`tile_plan`): ``n`` tiles across the long side at the finest level, square tiles overlapping by
``overlap`` of their side, so that a face up to ``overlap`` x the tile side lies whole inside at least one tile. Faces
too big for the finest tiles are found by coarser levels: tile sides grow by at most ``level_ratio`` per level up to
the whole frame (whose pass the caller runs itself), so every face size sits in some level's working range (10-25%
of the tile side: small enough to lie whole inside a tile, large enough to be detected). With ``"auto"``,
``n = long side // 512`` (:data:`TILE_TARGET`): the finest tiles are 585-877 px wide (~680 px in large frames), so
faces from ~60-90 px wide are found reliably and smaller ones partly (a larger N finds smaller faces, at a cost that
grows with N^2). Frames below 1024 px (640x360, 960x540 video) are not tiled and cost what they did before; a
1280x720 frame adds 2 full-range passes, 1920x1080 6, a 3000x1334 group photo 18 and a 7680x4320 crowd 169.

Everything here needs only numpy (and :func:`~affectlens.detect.base.box_overlaps`); a backend passes its own
detector to :func:`detect_in_tiles` (see :class:`~affectlens.detect.BlazeFaceDetector`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from affectlens.core import NUM_KEYPOINTS
from affectlens.detect.base import box_overlaps

Detections = tuple[np.ndarray, np.ndarray, np.ndarray]
"""xyxy (N, 4), score (N,), keypoints (N, 6, 2): float32 pixels of the image the detector was given."""

TILE_TARGET = 512
"""``tiles="auto"``: the finest tiles are about this many pixels wide (n = long side // 512, tiling from 1024 px)."""
TILE_OVERLAP = 0.25
"""Overlap of neighbouring tiles, as a fraction of the tile side."""
LEVEL_RATIO = 2.5
"""Largest ratio between the tile sides of consecutive levels (and between the coarsest tiles and the frame)."""
TRUNCATION_MARGIN = 0.01
"""A box within this fraction of the tile side of an inner tile edge is taken as cut by the tile."""


def parse_tiles(value: str | int) -> str | int:
    """``"auto"`` / ``"off"`` / N (an int, or a string of digits) -> ``"auto"`` or an int >= 1 (``"off"`` is 1).

    Raises:
        ValueError: anything else; the message lists the accepted values.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "off"):
            return "auto" if text == "auto" else 1
        if text.isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(
        f"detection tiles must be 'auto', 'off' or a number of tiles across the long side >= 1, got {value!r}"
    )


def tiles_across(tiles: str | int, width: int, height: int, target: int = TILE_TARGET) -> int:
    """Tiles across the long side at the finest level for a ``width`` x ``height`` frame; 1 means no tiling.

    Args:
        tiles: ``"auto"`` (long side // ``target``), ``"off"`` or N (see :func:`parse_tiles`).
        target: ``"auto"``'s tile side in pixels.
    """
    tiles = parse_tiles(tiles)
    if tiles == "auto":
        return max(1, max(width, height) // target)
    return int(tiles)


def tile_grid(width: int, height: int, side: float, overlap: float = TILE_OVERLAP) -> np.ndarray:
    """Square ``side`` x ``side`` tiles covering a ``width`` x ``height`` frame, neighbours overlapping >= ``overlap``.

    Tiles are spread evenly from edge to edge (the last one ends on the frame's edge); along a frame side shorter
    than ``side`` there is one tile, as long as that side.

    Returns:
        (K, 4) int64 ``x0, y0, x1, y1`` in frame pixels, row by row.
    """
    if side <= 0 or not 0.0 <= overlap < 1.0:
        raise ValueError(f"need side > 0 and 0 <= overlap < 1, got {side}, {overlap}")

    def starts(length: int) -> tuple[np.ndarray, int]:
        size = min(length, max(1, round(side)))
        if size >= length:
            return np.zeros(1, np.int64), length
        count = math.ceil((length - side) / (side * (1.0 - overlap)) - 1e-6) + 1
        return np.round(np.linspace(0, length - size, count)).astype(np.int64), size

    xs, tile_w = starts(width)
    ys, tile_h = starts(height)
    x0, y0 = np.meshgrid(xs, ys)
    x0, y0 = x0.ravel(), y0.ravel()
    return np.stack([x0, y0, x0 + tile_w, y0 + tile_h], axis=1)


def tile_plan(
    width: int,
    height: int,
    tiles: int,
    overlap: float = TILE_OVERLAP,
    level_ratio: float = LEVEL_RATIO,
) -> np.ndarray:
    """Every tile to run for a ``width`` x ``height`` frame, coarsest level first (the whole frame excluded).

    Args:
        tiles: tiles across the long side at the finest level (<= 1: no tiles).
        overlap: overlap of neighbouring tiles, fraction of the tile side.
        level_ratio: coarser levels are added until the tile side is within this factor of the long side.

    Returns:
        (K, 4) int64 ``x0, y0, x1, y1`` (K = 0 when ``tiles`` <= 1).
    """
    long_side = max(width, height)
    if tiles <= 1:
        return np.zeros((0, 4), np.int64)
    finest = long_side / (1.0 + (tiles - 1) * (1.0 - overlap))
    levels = max(1, math.ceil(math.log(long_side / finest) / math.log(level_ratio) - 1e-9))
    ratio = (long_side / finest) ** (1.0 / levels)
    sides = [finest * ratio**k for k in range(levels - 1, -1, -1)]  # coarsest first; level `levels` = whole frame
    return np.concatenate([tile_grid(width, height, side, overlap) for side in sides])


def truncated_by_tile(xyxy: np.ndarray, tile: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) bool: the box reaches an edge of ``tile`` that is not an edge of the frame (the face may be cut off there).

    Args:
        xyxy: (N, 4) boxes in frame pixels.
        tile: (4,) ``x0, y0, x1, y1`` of the tile that produced them.
    """
    x0, y0, x1, y1 = (float(v) for v in tile)
    margin = TRUNCATION_MARGIN * max(x1 - x0, y1 - y0)
    cut = np.zeros(len(xyxy), bool)
    if x0 > 0:
        cut |= xyxy[:, 0] <= x0 + margin
    if y0 > 0:
        cut |= xyxy[:, 1] <= y0 + margin
    if x1 < width:
        cut |= xyxy[:, 2] >= x1 - margin
    if y1 < height:
        cut |= xyxy[:, 3] >= y1 - margin
    return cut


def merge_detections(
    xyxy: np.ndarray,
    score: np.ndarray,
    truncated: np.ndarray | None = None,
    iou: float = 0.3,
    containment: float = 0.6,
) -> np.ndarray:
    """Non-maximum suppression across tiles and passes: indices of the detections to keep, best first.

    Detections are taken whole ones first, then those cut by a tile edge, each group by decreasing score. One is
    dropped as a duplicate of a kept one when their intersection over union is >= ``iou`` (the same face seen by two
    tiles or passes), or when their intersection covers >= ``containment`` of the smaller box: a face cut by a tile
    edge inside the whole face, or a part of a large face (an eye, a cheek) that a small tile took for a face.

    Args:
        xyxy: (N, 4) boxes in frame pixels.
        score: (N,) scores.
        truncated: (N,) bool, the box is cut by a tile edge (None: none is).

    Returns:
        (K,) int64 indices into the inputs.
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    score = np.asarray(score, np.float64).reshape(-1)
    n = len(score)
    if n == 0:
        return np.zeros(0, np.int64)
    cut = np.zeros(n, bool) if truncated is None else np.asarray(truncated, bool)
    order = np.lexsort((-score, cut))  # whole boxes first, then by decreasing score (lexsort: last key is primary)
    overlap, covered = box_overlaps(xyxy, xyxy)
    duplicate = (overlap >= iou) | (covered >= containment)  # (N, N), computed once for the greedy pass
    keep: list[int] = []
    suppressed = np.zeros(n, bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= duplicate[i]
    return np.asarray(keep, np.int64)


def detect_in_tiles(
    run: Callable[[np.ndarray], Detections], image: np.ndarray, plan: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run a detector on every tile of ``plan`` and map its results to frame pixels.

    Args:
        run: (h, w, C) crop -> :data:`Detections` in pixels of the crop (a view of ``image`` is passed, no copy).
        image: (H, W, C) frame.
        plan: (K, 4) tiles ``x0, y0, x1, y1`` (:func:`tile_plan`).

    Returns:
        xyxy (N, 4), score (N,), keypoints (N, 6, 2) in frame pixels (float32), and truncated (N,) bool: the box
        reaches an inner tile edge (:func:`truncated_by_tile`); ready for :func:`merge_detections`.
    """
    height, width = image.shape[:2]
    boxes, scores, points, cut = [], [], [], []
    for tile in plan:
        x0, y0, x1, y1 = (int(v) for v in tile)
        xyxy, score, keypoints = run(image[y0:y1, x0:x1])
        offset = np.array([x0, y0], np.float32)
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4) + np.tile(offset, 2)
        boxes.append(xyxy)
        scores.append(np.asarray(score, np.float32).reshape(-1))
        points.append(np.asarray(keypoints, np.float32).reshape(len(xyxy), NUM_KEYPOINTS, 2) + offset)
        cut.append(truncated_by_tile(xyxy, tile, width, height))
    if not boxes:
        empty = np.zeros((0, NUM_KEYPOINTS, 2), np.float32)
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), empty, np.zeros(0, bool)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(points), np.concatenate(cut)
