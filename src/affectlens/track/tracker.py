"""Stable face ids across frames: :class:`FaceTracker`, a ByteTrack-style tracker (Zhang et al., ECCV 2022).

    from affectlens.track import FaceTracker, SceneCutDetector

    tracker, cuts = FaceTracker(), SceneCutDetector()
    for frame in source:
        faces = detector.detect(frame.image)
        faces = tracker.update(faces, frame.timestamp_ms, scene_cut=cuts.update(frame.image))  # track_id filled

Each update, every track's box is predicted to the frame's time by a constant-velocity Kalman filter
(:mod:`affectlens.track.kalman`), then detections are matched to the predictions by IoU in three passes:

1. confident detections (score >= ``high_score``) with confirmed tracks, seen recently or not (IoU >= ``match_iou``);
2. the doubtful ones (``low_score`` <= score < ``high_score``: a face turning, blurred, half occluded) with confirmed
   tracks that were seen on the previous update and are still unmatched (IoU >= ``low_match_iou``): they keep a
   track alive but never start one, which is ByteTrack's idea;
3. confident detections left over with tentative tracks (IoU >= ``match_iou``).

A confident detection still unmatched (score >= ``new_track_score``) starts a tentative track; it gets an id once
it has been matched on ``min_hits`` consecutive updates, and is dropped at its first miss before that (a one-frame
false positive never gets an id). A confirmed track that is not seen for more than ``max_missing_ms`` ends; a face
that comes back later gets a new id. Matching is greedy by decreasing IoU, which for the few faces of a frame gives
the optimal assignment except in near-ties. All times are in milliseconds of the source's ``timestamp_ms``, so the
tracker behaves alike at 15 and at 60 fps, and when frames are skipped.

Scene cuts: when every face jumps, IoU gating alone ends the old tracks (they coast unmatched until
``max_missing_ms``) and the new faces start new tracks. But a different face that lands on a predicted box right
after a cut would inherit its id, which box geometry cannot tell from motion (it happens twice on
``short_hamilton_clip.mp4``); hence ``update(..., scene_cut=True)``, which ends every track first, and
:class:`SceneCutDetector`, which finds hard cuts from pixels for ~0.05 ms per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from affectlens.core import Faces
from affectlens.track.kalman import BoxKalman, BoxMotionNoise, xyxy_to_cxcywh


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Args:
        a: (N, 4) ``x1, y1, x2, y2`` pixels.
        b: (M, 4) ``x1, y1, x2, y2`` pixels.

    Returns:
        (N, M) float64 in [0, 1]; 0 where both boxes have no area.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    np.maximum(wh, 0.0, out=wh)
    inter = wh[..., 0] * wh[..., 1]
    size_a, size_b = a[:, 2:] - a[:, :2], b[:, 2:] - b[:, :2]
    union = (size_a[:, 0] * size_a[:, 1])[:, None] + size_b[:, 0] * size_b[:, 1] - inter
    return inter / np.maximum(union, 1e-9)


def greedy_match(score: np.ndarray, min_score: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Greedy assignment: pairs ``(row, col)`` of ``score`` (N, M), highest first, each row and column used at
    most once, only pairs with ``score > min_score``.

    Returns:
        ``rows`` (K,) and ``cols`` (K,) int64, in the order taken.
    """
    rows, cols = np.nonzero(score > min_score)
    if len(rows) > 1:
        order = np.argsort(-score[rows, cols], kind="stable")
        taken_rows: list[int] = []
        taken_cols: list[int] = []
        for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
            if r not in taken_rows and c not in taken_cols:
                taken_rows.append(r)
                taken_cols.append(c)
        rows, cols = np.array(taken_rows, np.int64), np.array(taken_cols, np.int64)
    return rows, cols


@dataclass
class TrackerStats:
    """Counters since the last :meth:`FaceTracker.reset`, to check a tracker's behaviour on a clip.

    Attributes:
        updates: calls to :meth:`FaceTracker.update`.
        tracks_started: tentative tracks begun (one per unmatched confident detection).
        ids_issued: tracks confirmed, i.e. distinct ids handed out.
        tracks_ended: confirmed tracks ended (unseen for ``max_missing_ms``, or at a scene cut).
        recoveries: confirmed tracks matched again after at least one update without a detection (kept their id).
        low_score_matches: matches made by the low-score pass (detections a single-threshold tracker would drop).
    """

    updates: int = 0
    tracks_started: int = 0
    ids_issued: int = 0
    tracks_ended: int = 0
    recoveries: int = 0
    low_score_matches: int = 0


# Association passes (see the module doc), indexed by the kind of face and the kind of track of a pair.
_HIGH, _LOW, _IGNORED = 0, 1, 2  # face: score >= high_score; low_score <= score < high_score; below low_score
_SEEN, _COASTING, _TENTATIVE = 0, 1, 2  # track: confirmed and matched on the previous update; confirmed; tentative
_PASS_OF = np.array([[0, 0, 2], [1, -1, -1], [-1, -1, -1]])  # [face kind, track kind] -> pass 0, 1, 2 or -1 (none)


class FaceTracker:
    """ByteTrack-style multi-face tracker: fills ``Faces.track_id`` with ids stable across frames.

    Args:
        max_missing_ms: a confirmed track survives this long without a detection (700 ms: a detector miss, a hand
            across the face, a quick head turn), then ends; ids are never reused.
        high_score: detections at or above this score are matched first and may start tracks. 0.6: on the
            BlazeFace detector clear faces score 0.85-0.99, small or blurred ones 0.5-0.8, and the false positives
            seen on the shared clips (a cartoon, a chandelier) 0.5-0.7.
        low_score: detections below it are ignored (track id -1); between ``low_score`` and ``high_score`` they
            only extend tracks seen on the previous update (ByteTrack's second pass). MediaPipe BlazeFace 0.10.21
            returns no score below 0.5 whatever its ``min_confidence``, so with it this band is 0.5-0.6.
        match_iou: minimum IoU between a track's predicted box and a confident detection (0.3, as ByteTrack's
            0.2-0.3); it is the gate that ends tracks at scene cuts when a face jumps.
        low_match_iou: minimum IoU for the low-score pass (0.5: a doubtful detection must sit where the face is).
        new_track_score: minimum score for a detection to start a track (>= ``high_score``).
        min_hits: matched updates in a row before a track gets its id (2: a one-frame false positive never gets
            one, at the price of id -1 on a new face's first frame). 1 gives ids at once.
        noise: noise levels of the Kalman filter (per second, relative to face size). An unseen track coasts at
            its last velocity, as in ByteTrack, so a face lost mid-motion is looked for where it has gone.
    """

    def __init__(
        self,
        max_missing_ms: float = 700.0,
        high_score: float = 0.6,
        low_score: float = 0.3,
        match_iou: float = 0.3,
        low_match_iou: float = 0.5,
        new_track_score: float = 0.6,
        min_hits: int = 2,
        noise: BoxMotionNoise | None = None,
    ) -> None:
        if not 0.0 <= low_score <= high_score <= 1.0:
            raise ValueError(f"need 0 <= low_score <= high_score <= 1, got {low_score}, {high_score}")
        if new_track_score < high_score:
            raise ValueError(f"new_track_score ({new_track_score}) must be >= high_score ({high_score})")
        if not (0.0 < match_iou <= 1.0 and 0.0 < low_match_iou <= 1.0):
            raise ValueError(f"match_iou and low_match_iou must be in (0, 1], got {match_iou}, {low_match_iou}")
        if max_missing_ms < 0 or min_hits < 1:
            raise ValueError(f"need max_missing_ms >= 0 and min_hits >= 1, got {max_missing_ms}, {min_hits}")
        self.max_missing_ms = float(max_missing_ms)
        self.high_score = float(high_score)
        self.low_score = float(low_score)
        self.match_iou = float(match_iou)
        self.low_match_iou = float(low_match_iou)
        self.new_track_score = float(new_track_score)
        self.min_hits = int(min_hits)
        self.noise = noise or BoxMotionNoise()
        # Minimum IoU per pass, indexed by pass (the last entry, for index -1, rejects every pair).
        self._pass_iou = np.array([self.match_iou, self.low_match_iou, self.match_iou, np.inf])
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and statistics; ids start again at 1 (call between videos)."""
        self._kalman = BoxKalman(self.noise)
        # One entry per track, in the Kalman filter's row order.
        self._ids = np.zeros(0, np.int64)  # -1 while tentative
        self._hits = np.zeros(0, np.int64)  # matched updates in a row
        self._last_seen_ms = np.zeros(0, np.float64)
        self._seen = np.zeros(0, bool)  # matched on the latest update
        self._last_ms: float | None = None
        self._next_id = 1
        self.stats = TrackerStats()

    @property
    def active_ids(self) -> list[int]:
        """Ids of the confirmed tracks alive now (seen within ``max_missing_ms``), seen or coasting."""
        return [int(i) for i in self._ids if i >= 0]

    def update(self, faces: Faces, timestamp_ms: float, *, scene_cut: bool = False) -> Faces:
        """Match one frame's faces to the tracks and return them with ``track_id`` filled.

        Args:
            faces: the detections of one frame (N rows, any order; empty is fine and ages the tracks).
            timestamp_ms: the frame's presentation time in ms. Times must not decrease; a time earlier than the
                previous update's starts a new sequence (:meth:`reset`), e.g. a new video.
            scene_cut: this frame starts a new shot (see :class:`SceneCutDetector`): every track ends first, so no
                id passes from a face before the cut to a face after it.

        Returns:
            A new :class:`Faces` with the same rows in the same order and every other field untouched, and
            ``track_id`` (N,) int64: the track's id, or -1 for a face with no confirmed track (score below
            ``low_score``, an unmatched low-score detection, or a track not yet confirmed).
        """
        t = float(timestamp_ms)
        if not math.isfinite(t):
            raise ValueError(f"timestamp_ms must be finite, got {timestamp_ms}")
        if self._last_ms is not None and t < self._last_ms:
            self.reset()
        dt_ms = 0.0 if self._last_ms is None else t - self._last_ms
        self._last_ms = t
        self.stats.updates += 1
        kalman = self._kalman
        if len(kalman):
            kalman.predict(dt_ms / 1000.0)
            stale = (t - self._last_seen_ms) > self.max_missing_ms
            self._end_tracks(np.ones(len(kalman), bool) if scene_cut else stale)

        n = len(faces)
        track_of_face = np.full(n, -1, np.int64)  # row of the matched track, per face
        boxes = xyxy_to_cxcywh(faces.xyxy)
        if n and len(kalman):
            face_rows, track_rows = self._associate(faces.xyxy, faces.score)
            seen = np.zeros(len(kalman), bool)
            seen[track_rows] = True
            if len(track_rows):
                kalman.correct(track_rows, boxes[face_rows])
                if not self._seen.all():
                    recovered = ~self._seen[track_rows] & (self._ids[track_rows] >= 0)
                    self.stats.recoveries += int(np.count_nonzero(recovered))
                self._hits[track_rows] += 1
                self._last_seen_ms[track_rows] = t
                track_of_face[face_rows] = track_rows
        else:
            seen = np.zeros(len(kalman), bool)
        self._seen = seen
        tentative_missed = ~seen & (self._ids < 0)  # only consecutive matches confirm a face
        if tentative_missed.any():
            keep = ~tentative_missed
            self._keep(keep)
            remap = np.cumsum(keep) - 1
            track_of_face = np.where(track_of_face >= 0, remap[track_of_face], -1)

        new = np.flatnonzero((track_of_face < 0) & (faces.score >= self.new_track_score))
        if len(new):
            track_of_face[new] = np.arange(len(kalman), len(kalman) + len(new))
            self._start_tracks(boxes[new], t)
        confirm = (self._ids < 0) & (self._hits >= self.min_hits)
        if confirm.any():
            count = int(np.count_nonzero(confirm))
            self._ids[confirm] = np.arange(self._next_id, self._next_id + count)
            self._next_id += count
            self.stats.ids_issued += count

        out = np.full(n, -1, np.int64)
        tracked = track_of_face >= 0
        out[tracked] = self._ids[track_of_face[tracked]]
        return replace(faces, track_id=out, data=dict(faces.data))

    def _associate(self, xyxy: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ByteTrack's three passes as one greedy assignment: every (face, track) pair belongs to at most one pass,
        so ranking pairs by (pass, IoU) and taking them greedily equals running the passes one after the other.

        Returns:
            ``face_rows`` (K,), ``track_rows`` (K,) int64: the matched pairs.
        """
        iou = box_iou(xyxy, self._kalman.boxes())  # (N, T)
        face_kind = (score < self.high_score).astype(np.intp) + (score < self.low_score)  # _HIGH, _LOW, _IGNORED
        # _SEEN, _COASTING or _TENTATIVE (a tentative track is always seen: it is dropped at its first miss)
        track_kind = (self._ids < 0) * _TENTATIVE + ~self._seen
        pass_index = _PASS_OF[face_kind[:, None], track_kind]  # (N, T), -1: never paired
        rank = np.where(iou >= self._pass_iou[pass_index], iou - 2.0 * pass_index, -np.inf)
        face_rows, track_rows = greedy_match(rank)
        if len(face_rows):
            self.stats.low_score_matches += int(np.count_nonzero(pass_index[face_rows, track_rows] == 1))
        return face_rows, track_rows

    def _end_tracks(self, end: np.ndarray) -> None:
        """Drop the tracks where ``end`` (T,) bool is True."""
        if end.any():
            self.stats.tracks_ended += int(np.count_nonzero(end & (self._ids >= 0)))
            self._keep(~end)

    def _keep(self, mask: np.ndarray) -> None:
        self._kalman.keep(mask)
        self._ids = self._ids[mask]
        self._hits = self._hits[mask]
        self._last_seen_ms = self._last_seen_ms[mask]
        self._seen = self._seen[mask]

    def _start_tracks(self, cxcywh: np.ndarray, t: float) -> None:
        m = len(cxcywh)
        self._kalman.add(cxcywh)
        self._ids = np.concatenate([self._ids, np.full(m, -1, np.int64)])
        self._hits = np.concatenate([self._hits, np.ones(m, np.int64)])
        self._last_seen_ms = np.concatenate([self._last_seen_ms, np.full(m, t)])
        self._seen = np.concatenate([self._seen, np.ones(m, bool)])
        self.stats.tracks_started += m


class SceneCutDetector:
    """Flags hard cuts between consecutive frames, to pass as ``FaceTracker.update(..., scene_cut=...)``.

    Box geometry cannot tell a cut from motion when a new face lands where an old one was: on
    ``short_hamilton_clip.mp4`` an audience member's id passed to the singer at one cut (IoU 0.36) and the singer's
    to an audience member at another (IoU 0.30). Pixels can: each frame is shrunk to a ``size`` gray thumbnail
    (point samples on a 4x finer grid, then area averaging) and compared with the previous one; a mean absolute
    difference above ``threshold`` gray levels (of 255) is a cut. Measured on the shared clips: cuts 24.8-143,
    a fast close-up and camera moves <= 12.1, steady shots 1-6. Gradual transitions (fades, dissolves) are not
    flagged; the tracks across them end by IoU gating and ``max_missing_ms`` instead. ~0.05 ms per 960x540 frame.

    Args:
        threshold: mean absolute thumbnail difference, in gray levels, above which a frame starts a new shot.
        size: (width, height) of the thumbnail in pixels.
    """

    def __init__(self, threshold: float = 20.0, size: tuple[int, int] = (32, 18)) -> None:
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        self.threshold = float(threshold)
        self.size = (int(size[0]), int(size[1]))
        self._previous: np.ndarray | None = None
        self.last_difference = 0.0  # of the latest update, in gray levels (0 for a first frame)

    def reset(self) -> None:
        """Forget the previous frame (the next one is not a cut)."""
        self._previous = None
        self.last_difference = 0.0

    def update(self, image: np.ndarray) -> bool:
        """(H, W, 3) uint8 BGR frame -> True when it starts a new shot (never for the first frame)."""
        width, height = self.size
        # Nearest-neighbour sampling first: area-averaging the whole frame costs 5-20x more and decides the same.
        samples = cv2.resize(image, (4 * width, 4 * height), interpolation=cv2.INTER_NEAREST)
        thumb = cv2.resize(samples, self.size, interpolation=cv2.INTER_AREA).astype(np.float32).mean(axis=2)
        previous, self._previous = self._previous, thumb
        if previous is None or previous.shape != thumb.shape:
            self.last_difference = 0.0
            return False
        self.last_difference = float(np.abs(thumb - previous).mean())
        return self.last_difference > self.threshold
