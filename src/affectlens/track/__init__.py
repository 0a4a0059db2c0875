"""Tracking across frames: stable face ids (:class:`FaceTracker`), and the motion model behind them."""

from affectlens.track.kalman import BoxKalman, BoxMotionNoise
from affectlens.track.tracker import FaceTracker, SceneCutDetector, TrackerStats, box_iou, greedy_match

__all__ = [
    "BoxKalman",
    "BoxMotionNoise",
    "FaceTracker",
    "SceneCutDetector",
    "TrackerStats",
    "box_iou",
    "greedy_match",
]
