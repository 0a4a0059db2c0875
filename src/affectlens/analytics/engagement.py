"""Engagement per face: how positive and involved the expression is, times whether the face is turned to the camera.

    from affectlens.analytics import EngagementScorer

    scorer = EngagementScorer()                       # default weights, attention on, tau 1 s
    faces = scorer.update(faces, frame.timestamp_ms)  # sets data[ENGAGEMENT] (N,) in [0, 1]

``engagement = attention(yaw, pitch) * sum_e P(e) * W(e)``, smoothed per track with an EMA in time (tau
``tau_ms``). ``P`` are the face's (smoothed) probabilities and ``W`` the weights of
:data:`DEFAULT_ENGAGEMENT_WEIGHTS`. This is a heuristic for dashboards and session summaries, not a validated
psychological measure: it reads "smiling at the screen" as engaged and "sad, looking away" as not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np

from affectlens.core import ENGAGEMENT, FaceKeypoint, Faces
from affectlens.emotions import UnknownLabelError, canonical_emotion
from affectlens.track.smoothing import ema_alpha
from affectlens.track.state import TrackStates

log = logging.getLogger(__name__)

DEFAULT_ENGAGEMENT_WEIGHTS: dict[str, float] = {
    "happy": 1.0,  # smiling / laughing: the clearest sign of positive involvement
    "surprise": 0.8,  # reacting, attention caught
    "neutral": 0.5,  # watching, neither drawn in nor put off
    "angry": 0.4,  # aroused and involved, but negative
    "fear": 0.3,  # aroused, tends to withdraw
    "disgust": 0.2,  # rejecting what is seen
    "contempt": 0.2,  # dismissive
    "sad": 0.1,  # low arousal, withdrawn
}
"""Canonical emotion -> weight in [0, 1]: approach/arousal first (happy, surprise), withdrawal last (sad)."""

HEAD_POSE = ("head_yaw_deg", "head_pitch_deg")
"""Keys of ``Faces.data`` where :class:`EngagementScorer` puts the head angles (N,) float32, degrees."""

# Head model behind head_pose(), as ratios of the distance between the eye centres: the nose tip sits ~0.45 of it
# in front of the eyes; seen from the front it lies halfway between the eye line and the mouth (0.5, the median
# of BlazeFace on the test videos is 0.47-0.55); its depth shows up in that ratio with a factor of ~0.35.
_NOSE_DEPTH = 0.45
_FRONTAL_NOSE_RATIO = 0.5
_PITCH_GAIN = 0.35


def head_pose(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Approximate head yaw and pitch in degrees from the 6 BlazeFace keypoints, by where the nose tip lies.

    Yaw: the offset of the nose tip from the eye midpoint along the eye line, divided by the eye distance ``u``,
    is ``(depth of nose / eye distance) * tan(yaw)`` for a head turning about its vertical axis (orthographic view):
    ``yaw = atan(u / 0.45)``. Pitch: where the nose tip lies between the eye line and the mouth (``r``, 0.5 seen
    from the front) moves up when the chin goes up: ``pitch = atan((0.5 - r) / 0.35)``.

    Only approximate, and not calibrated against a head-pose dataset: the constants are those of an average face
    (a long nose reads as a bit more turned), the view is taken as orthographic, and beyond ~50 degrees the
    detector's keypoints degrade. Good enough to tell "facing the camera" from "looking away"; it costs a few
    microseconds per face and no extra model.

    Args:
        keypoints: (N, 6, 2) pixel coordinates indexed by :class:`~affectlens.core.FaceKeypoint`.

    Returns:
        yaw (N,) and pitch (N,) float32 in degrees. Yaw > 0: the face turns toward the subject's left (image right
        in an unmirrored view); pitch > 0: the chin goes up. NaN where the eyes coincide (degenerate keypoints).
    """
    k = np.asarray(keypoints, np.float64).reshape(-1, len(FaceKeypoint), 2)
    # Plain floats per face: for the few faces of a frame this is ~10x faster than numpy on (N,) arrays.
    angles = [_head_angles(*row) for row in k[:, : FaceKeypoint.MOUTH_CENTER + 1].reshape(-1, 8).tolist()]
    pose = np.asarray(angles, np.float32).reshape(-1, 2)
    return pose[:, 0], pose[:, 1]


def _head_angles(
    rx: float, ry: float, lx: float, ly: float, nx: float, ny: float, mx: float, my: float
) -> tuple[float, float]:
    """(yaw, pitch) in degrees of one face from its eyes, nose tip and mouth centre (pixels); NaN if degenerate."""
    ex, ey = lx - rx, ly - ry  # along the eye line, from the subject's right eye to the left one
    eye_distance2 = ex * ex + ey * ey
    if eye_distance2 < 1e-12:
        return math.nan, math.nan
    cx, cy = (lx + rx) * 0.5, (ly + ry) * 0.5
    nx, ny, mx, my = nx - cx, ny - cy, mx - cx, my - cy
    u = (nx * ex + ny * ey) / eye_distance2  # nose offset along the eye line / eye distance
    yaw = math.degrees(math.atan(u / _NOSE_DEPTH))
    mouth_down = my * ex - mx * ey  # components perpendicular to the eye line (both scaled by eye distance)
    if abs(mouth_down) < 1e-9:
        return yaw, math.nan
    r = (ny * ex - nx * ey) / mouth_down
    return yaw, math.degrees(math.atan((_FRONTAL_NOSE_RATIO - r) / _PITCH_GAIN))


def attention_factor(
    yaw_deg: np.ndarray,
    pitch_deg: np.ndarray,
    yaw_limits_deg: tuple[float, float] = (20.0, 60.0),
    pitch_limits_deg: tuple[float, float] = (15.0, 45.0),
) -> np.ndarray:
    """How much a face looks at the camera, in [0, 1]: 1 up to the first limit, linearly 0 at the second.

    Yaw and pitch factors multiply; a NaN angle (unknown) counts as 1, so bad keypoints never lower engagement.

    Args:
        yaw_deg: (N,) head yaw in degrees (see :func:`head_pose`).
        pitch_deg: (N,) head pitch in degrees.
        yaw_limits_deg: (full attention up to, none from) in degrees of |yaw|.
        pitch_limits_deg: the same for |pitch|.

    Returns:
        (N,) float32 in [0, 1].
    """

    yaw = np.asarray(yaw_deg, np.float64).ravel().tolist()
    pitch = np.asarray(pitch_deg, np.float64).ravel().tolist()
    factors = [_attention(y, p, yaw_limits_deg, pitch_limits_deg) for y, p in zip(yaw, pitch, strict=True)]
    return np.asarray(factors, np.float32)


def _ramp(angle: float, limits: tuple[float, float]) -> float:
    start, stop = limits
    if not math.isfinite(angle):
        return 1.0
    return min(1.0, max(0.0, 1.0 - (abs(angle) - start) / max(stop - start, 1e-6)))


def _attention(yaw: float, pitch: float, yaw_limits: tuple[float, float], pitch_limits: tuple[float, float]) -> float:
    return _ramp(yaw, yaw_limits) * _ramp(pitch, pitch_limits)


def engagement_weights(weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """The default weights updated with ``weights`` (keys: emotions or synonyms, values in [0, 1]), canonical keys.

    Raises:
        ValueError: an unknown emotion name (:class:`~affectlens.emotions.UnknownLabelError`) or a weight
            outside [0, 1].
    """
    table = dict(DEFAULT_ENGAGEMENT_WEIGHTS)
    for name, weight in (weights or {}).items():
        if not 0.0 <= float(weight) <= 1.0:
            raise ValueError(f"engagement weight of {name!r} must be in [0, 1], got {weight}")
        table[canonical_emotion(name)] = float(weight)
    return table


class EngagementScorer:
    """Engagement in [0, 1] per face from its emotion probabilities and head pose, smoothed per track in time.

    Args:
        weights: emotion (or synonym) -> weight in [0, 1]; updates :data:`DEFAULT_ENGAGEMENT_WEIGHTS` (pass the
            emotions you want to change). A model label that is no emotion gets weight 0 (with a warning).
        attention: multiply by :func:`attention_factor` of the head pose estimated from the keypoints; the angles
            go to ``data["head_yaw_deg"]`` / ``data["head_pitch_deg"]`` (per frame, not smoothed).
        tau_ms: time constant in ms of the per-track EMA of engagement (0 = none). Engagement is a slow quantity:
            1 s keeps a blink or a look at the keyboard from making the curve jump.
        yaw_limits_deg, pitch_limits_deg: see :func:`attention_factor`.
        forget_ms: forget a track after this many ms without an observation.

    Per-track state follows :class:`~affectlens.track.state.TrackStates`: a scene cut or a timestamp earlier than
    the previous call's resets every track; a track's timestamp that does not advance restarts that track.
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        attention: bool = True,
        tau_ms: float = 1000.0,
        *,
        yaw_limits_deg: tuple[float, float] = (20.0, 60.0),
        pitch_limits_deg: tuple[float, float] = (15.0, 45.0),
        forget_ms: float = 2000.0,
    ) -> None:
        if tau_ms < 0:
            raise ValueError(f"tau_ms must be >= 0 ms, got {tau_ms}")
        self.weights = engagement_weights(weights)
        self.attention = attention
        self.tau_ms = float(tau_ms)
        self.yaw_limits_deg = yaw_limits_deg
        self.pitch_limits_deg = pitch_limits_deg
        self.forget_ms = float(forget_ms)
        self._labels: tuple[str, ...] = ()
        self._vector = np.zeros(0, np.float32)
        self._states = TrackStates(_Smoothed, self.forget_ms)

    def reset(self) -> None:
        """Forget every track (call between unrelated sources)."""
        self._states.reset()

    def weight_vector(self, labels: tuple[str, ...]) -> np.ndarray:
        """(C,) float32 weights for the columns of a model's ``labels``."""
        if labels != self._labels:
            vector = []
            for label in labels:
                try:
                    vector.append(self.weights.get(canonical_emotion(label), 0.0))
                except UnknownLabelError:
                    log.warning("engagement: model label %r is no emotion; it gets weight 0", label)
                    vector.append(0.0)
            self._labels, self._vector = tuple(labels), np.asarray(vector, np.float32)
        return self._vector

    def score(self, faces: Faces) -> np.ndarray:
        """(N,) float32 engagement of each classified face in this frame alone, in [0, 1] (no smoothing)."""
        if not faces.classified or len(faces) == 0:
            return np.zeros(len(faces), np.float32)
        return np.asarray(self._frame_scores(faces)[0], np.float32)

    def _frame_scores(self, faces: Faces) -> tuple[list[float], list[float], list[float]]:
        """Per classified face of one frame: engagement in [0, 1], yaw and pitch in degrees (NaN without attention).

        Plain floats per face: for the few faces of a frame, ~10x cheaper than numpy on (N,) arrays.
        """
        # probs of a softmax (and their EMA or window mean) sum to 1, so the weighted sum is already a mean
        values = (faces.probs @ self.weight_vector(faces.labels)).tolist()
        n = len(values)
        if not self.attention:
            return [min(1.0, max(0.0, v)) for v in values], [math.nan] * n, [math.nan] * n
        points = faces.keypoints[:, : FaceKeypoint.MOUTH_CENTER + 1].reshape(n, 8).tolist()
        scores, yaws, pitches = [], [], []
        for value, row in zip(values, points, strict=True):
            yaw, pitch = _head_angles(*row)
            attention = _attention(yaw, pitch, self.yaw_limits_deg, self.pitch_limits_deg)
            scores.append(min(1.0, max(0.0, value * attention)))
            yaws.append(yaw)
            pitches.append(pitch)
        return scores, yaws, pitches

    def update(self, faces: Faces, timestamp_ms: float, *, scene_cut: bool = False) -> Faces:
        """Score one frame's faces and smooth per track.

        Args:
            faces: N classified faces (ideally smoothed and tracked) of the frame at ``timestamp_ms`` (not modified).
            timestamp_ms: presentation time in ms.
            scene_cut: this frame starts a new shot (``FrameResult.scene_cut``): every track is forgotten first.

        Returns:
            A new ``Faces`` with ``data[ENGAGEMENT]`` (N,) float32 in [0, 1] and, with ``attention``, the head angles
            in ``data["head_yaw_deg"]`` / ``data["head_pitch_deg"]`` (N,) float32 degrees (this frame's, not
            smoothed). Unclassified faces are returned unchanged. Rows with ``track_id == -1`` get this frame's score.
        """
        timestamp_ms = float(timestamp_ms)
        self._states.advance(timestamp_ms, scene_cut=scene_cut)
        if len(faces) == 0 or not faces.classified:
            return faces

        engagement, yaw, pitch = self._frame_scores(faces)
        seen: set[int] = set()
        for i, track_id in enumerate(faces.track_id.tolist()):
            if track_id < 0 or track_id in seen:
                continue
            seen.add(track_id)
            state, dt = self._states.observe(track_id, timestamp_ms)
            if dt is not None and dt > 0:  # else a new track, or a time that did not advance: restart here
                engagement[i] = state.value + ema_alpha(dt, self.tau_ms) * (engagement[i] - state.value)
            state.value = engagement[i]
        data = dict(faces.data)
        data[ENGAGEMENT] = np.asarray(engagement, np.float32)
        if self.attention:
            data[HEAD_POSE[0]], data[HEAD_POSE[1]] = np.asarray(yaw, np.float32), np.asarray(pitch, np.float32)
        return faces.evolve(data=data)

    def __repr__(self) -> str:
        return f"EngagementScorer(attention={self.attention}, tau_ms={self.tau_ms:g})"


class _Smoothed:
    """Engagement state of one track: the smoothed value in [0, 1]."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0
