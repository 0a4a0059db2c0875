"""A constant-velocity Kalman filter on face boxes, advanced by elapsed time, for many tracks at once.

State per track: the box ``cx, cy, w, h`` (pixels) and its velocity (pixels per second). The four coordinates
have independent noise (diagonal process and measurement covariances, like ByteTrack's filter), so the 8x8 filter
splits exactly into four 2x2 filters per track (position and velocity of one coordinate); this module runs them
vectorised over all tracks and coordinates, with no matrix algebra.

Noise is stated per second and relative to the face size, so that a face tracked at 15 fps and at 60 fps gets the
same prediction uncertainty per second of video:

- process: white-noise acceleration of spectral density ``(velocity_noise * size)**2`` (pixels^2 / s^3) plus a
  position random walk of ``(position_noise * size)**2`` (pixels^2 / s);
- measurement: a detected box coordinate has standard deviation ``measurement_noise * size`` pixels, per frame
  (detector jitter does not shrink with the frame rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Layout of BoxKalman.state (T, 5, 4): per track, five rows over the coordinates cx, cy, w, h.
POS, VEL, P_PP, P_PV, P_VV = range(5)


@dataclass(frozen=True)
class BoxMotionNoise:
    """Noise levels of :class:`BoxKalman`, as fractions of the face size (``w`` for ``cx, w``; ``h`` for ``cy, h``).

    Attributes:
        measurement_noise: std of a detected box coordinate, per frame (0.05: 3 px on a 60-pixel face).
        position_noise: std of the position random walk per sqrt(second) (unmodelled jitter of the head).
        velocity_noise: std of the velocity change per sqrt(second), in sizes per second (how fast heads speed up,
            stop or turn).
        initial_velocity: std of the unknown velocity of a new track, in sizes per second.
    """

    measurement_noise: float = 0.05
    position_noise: float = 0.2
    velocity_noise: float = 1.0
    initial_velocity: float = 1.0


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) ``x1, y1, x2, y2`` -> (N, 4) float64 ``cx, cy, w, h``, pixels."""
    xyxy = np.asarray(xyxy, np.float64)
    size = xyxy[:, 2:] - xyxy[:, :2]
    return np.concatenate([xyxy[:, :2] + 0.5 * size, size], axis=1)


def cxcywh_to_xyxy(cxcywh: np.ndarray, min_size: float = 1.0) -> np.ndarray:
    """(N, 4) ``cx, cy, w, h`` -> (N, 4) ``x1, y1, x2, y2``, pixels; sizes below ``min_size`` are raised to it."""
    half = 0.5 * np.maximum(cxcywh[:, 2:], min_size)
    return np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)


def _size2(cxcywh: np.ndarray) -> np.ndarray:
    """(..., 4) boxes -> (..., 4) squared size that scales each coordinate's noise: ``w, h, w, h`` (>= 1 pixel)."""
    size = np.maximum(cxcywh[..., 2:], 1.0)
    return np.concatenate([size, size], axis=-1) ** 2


class BoxKalman:
    """Kalman filters of T tracks in one array ``state`` (T, 5, 4): for each of ``cx, cy, w, h``, the position
    (pixels), the velocity (pixels/s) and the 2x2 covariance of the two as ``p_pp, p_pv, p_vv`` (rows ``POS, VEL,
    P_PP, P_PV, P_VV``).

    Rows are tracks: :meth:`add` appends, :meth:`keep` selects, :meth:`predict` advances all by the same time,
    :meth:`correct` fuses one measured box into each of the given rows.
    """

    def __init__(self, noise: BoxMotionNoise | None = None) -> None:
        self.noise = noise or BoxMotionNoise()
        self.state = np.zeros((0, 5, 4))
        self._step_dt = 0.0
        self._transition, self._process = np.eye(5), np.zeros((5, 1))

    def __len__(self) -> int:
        return int(self.state.shape[0])

    @property
    def pos(self) -> np.ndarray:
        """(T, 4) ``cx, cy, w, h`` in pixels (a view)."""
        return self.state[:, POS]

    @property
    def vel(self) -> np.ndarray:
        """(T, 4) velocity of ``cx, cy, w, h`` in pixels per second (a view)."""
        return self.state[:, VEL]

    def add(self, cxcywh: np.ndarray) -> None:
        """Append tracks at the measured boxes (M, 4) ``cx, cy, w, h``, at rest with an uncertain velocity."""
        m = len(cxcywh)
        if m == 0:
            return
        new = np.zeros((m, 5, 4))
        size2 = _size2(cxcywh)
        new[:, POS] = cxcywh
        new[:, P_PP] = self.noise.measurement_noise**2 * size2
        new[:, P_VV] = self.noise.initial_velocity**2 * size2
        self.state = np.concatenate([self.state, new])

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the tracks where ``mask`` (T,) bool is True."""
        self.state = self.state[mask]

    def predict(self, dt_s: float) -> None:
        """Advance every track by ``dt_s`` seconds (>= 0): ``x += v dt``; the covariance grows by the process noise."""
        if dt_s <= 0.0 or len(self) == 0:
            return
        if abs(dt_s - self._step_dt) > 1e-9:  # frames mostly come at a steady rate: build each step once
            self._step_dt = dt_s
            self._transition, self._process = self._step(dt_s)
        self.state = self._transition @ self.state + self._process * _size2(self.state[:, None, POS])

    def _step(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The prediction over ``dt_s`` seconds as a linear map of the state rows (POS, VEL, P_PP, P_PV, P_VV):
        transition (5, 5), and process noise (5, 1) per squared size unit."""
        dt2 = dt_s * dt_s
        transition = np.array(
            [
                [1.0, dt_s, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 2.0 * dt_s, dt2],
                [0.0, 0.0, 0.0, 1.0, dt_s],
                [0.0, 0.0, 0.0, 0.0, 1.0],
            ]
        )
        q_v, q_p = self.noise.velocity_noise**2, self.noise.position_noise**2
        process = np.array([0.0, 0.0, q_p * dt_s + q_v * dt2 * dt_s / 3.0, q_v * dt2 / 2.0, q_v * dt_s])
        return transition, process[:, None]

    def correct(self, rows: np.ndarray, cxcywh: np.ndarray) -> None:
        """Fuse measured boxes (M, 4) ``cx, cy, w, h`` into the tracks ``rows`` (M,) int, one box per row."""
        if len(rows) == 0:
            return
        s = self.state[rows]
        # Gains of position and velocity: (M, 2, 4) = [p_pp, p_pv] / (p_pp + measurement variance).
        gain = s[:, P_PP:P_VV] / (s[:, None, P_PP] + self.noise.measurement_noise**2 * _size2(cxcywh[:, None]))
        s[:, POS : VEL + 1] += gain * (cxcywh - s[:, POS])[:, None]
        s[:, P_VV] -= gain[:, 1] * s[:, P_PV]  # (I - K H) P, with the old p_pv
        s[:, P_PP:P_VV] *= 1.0 - gain[:, :1]
        self.state[rows] = s

    def boxes(self) -> np.ndarray:
        """(T, 4) current boxes ``x1, y1, x2, y2`` in pixels."""
        return cxcywh_to_xyxy(self.state[:, POS])
