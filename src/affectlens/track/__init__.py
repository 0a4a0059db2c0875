"""Tracking across frames: stable face ids (:class:`FaceTracker`), and the motion model behind them; per-track state
in stream time (:class:`TrackStates`, :class:`TimeRing`) and what is built on it: temporal smoothing of emotions per
track (:class:`EmotionSmoother`) and the recent history of each track for plots (:class:`TrackHistory`)."""

from affectlens.track.history import TrackHistory, TrackSeries
from affectlens.track.kalman import BoxKalman, BoxMotionNoise
from affectlens.track.smoothing import EmotionSmoother, ema_alpha
from affectlens.track.state import TimeRing, TrackStates
from affectlens.track.tracker import FaceTracker, SceneCutDetector, TrackerStats, box_iou, greedy_match

__all__ = [
    "BoxKalman",
    "BoxMotionNoise",
    "EmotionSmoother",
    "FaceTracker",
    "SceneCutDetector",
    "TimeRing",
    "TrackHistory",
    "TrackSeries",
    "TrackStates",
    "TrackerStats",
    "box_iou",
    "ema_alpha",
    "greedy_match",
]
