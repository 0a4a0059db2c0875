"""Tracking across frames: stable face ids (:class:`FaceTracker`), and the motion model behind them; temporal
smoothing of emotions per track (:class:`EmotionSmoother`)."""

from affectlens.track.kalman import BoxKalman, BoxMotionNoise
from affectlens.track.smoothing import EmotionSmoother, ema_alpha
from affectlens.track.tracker import FaceTracker, SceneCutDetector, TrackerStats, box_iou, greedy_match

__all__ = [
    "BoxKalman",
    "BoxMotionNoise",
    "EmotionSmoother",
    "FaceTracker",
    "SceneCutDetector",
    "TrackerStats",
    "box_iou",
    "ema_alpha",
    "greedy_match",
]
