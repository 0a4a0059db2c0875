"""Temporal smoothing of emotions per track, in milliseconds of video rather than frames.

    from affectlens.track.smoothing import EmotionSmoother

    smoother = EmotionSmoother()                        # EMA, tau 400 ms, hysteresis 0.1 / 400 ms
    faces = smoother.update(faces, frame.timestamp_ms)  # classified + tracked Faces -> smoothed Faces

Per track id the smoother keeps an exponential moving average (EMA) of the probabilities and valence/arousal, and
a One Euro filter of the box (smooth when still, quick when moving). The weight of a new observation is
``alpha = 1 - exp(-dt / tau)`` with ``dt`` the milliseconds since the track's previous observation, so a video at
15 fps and the same video at 60 fps give the same curves (a fixed per-frame alpha would smooth the 60 fps video four
times as long). ``window=N`` replaces the EMA of probabilities and
valence/arousal by the mean of the track's last N observations (the CLI's ``--smoothing N``); that window is counted
in observations, so it does depend on the frame rate.

The label to show (``data[SHOWN_LABEL]``) changes only when another emotion's smoothed probability leads the shown
one by ``margin`` for ``min_hold_ms`` without a break (hysteresis: a 100 ms grimace does not relabel a face), and
is :data:`~affectlens.core.UNCERTAIN` while the smoothed top probability is below ``uncertain_below``.

``uncertain_below`` comes from the model's cfg (``ModelConfig.uncertain_below``, chosen per head on validation data
by ``scripts/calibrate_uncertain.py``: the top probability below which a single image's raw top label is wrong more
often than right). Here it is applied to SMOOTHED probabilities, which are lower than the raw ones while the model
hesitates between labels: in video, ``uncertain`` also marks stretches where the label keeps changing. Frames that
no smoother labels (still images, ``--no-smoothing``) get :func:`label_frame`: the same threshold on raw
probabilities, as it was calibrated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from affectlens.core import RAW_PROBS, RAW_VALENCE_AROUSAL, SHOWN_LABEL, UNCERTAIN, Faces
from affectlens.track.state import TimeRing, TrackStates

# The defaults were tuned on WolfgangLanger_Pexels.mp4 (24 fps: crying, then laughing) with three checkpoints of the
# packaged model (epochs 14, 22, final). With the final one the raw top label changes 23 times; with these defaults
# the shown label changes 4 times (neutral, sad from 1.3 s, uncertain 8.0-8.5 s while the model hesitates between
# sad, fear and surprise, neutral, happy from 10.1 s to the end). Shorter settings (tau 200-300 ms, hold 250-300 ms,
# margin 0.05) let misread half-second smiles or fears through on one checkpoint or another; longer ones (tau 600-800
# ms, hold 1 s) add nothing but lag.

DEFAULT_TAU_MS = 400.0
"""Time constant of the emotion EMA: a step in the model's output is 63% through after 400 ms, 92% after 1 s."""

DEFAULT_MARGIN = 0.1
"""A challenger must lead the shown label by 0.1 of smoothed probability before its hold time starts."""

DEFAULT_MIN_HOLD_MS = 400.0
"""... and keep that lead for 400 ms without a break: a brief expression or a few misread frames never relabel a
face, and a clear change of expression shows about 0.7 s after it happens (EMA lag to the margin + hold)."""

DEFAULT_UNCERTAIN_BELOW = 0.3
"""Fallback for models whose cfg has no calibrated threshold for the head in use (``ModelConfig.uncertain_below``):
show :data:`~affectlens.core.UNCERTAIN` while the smoothed top probability is below 0.3 (8 classes: uniform is
0.125); leaving that state needs ``UNCERTAIN_BAND`` more so the label does not blink at the threshold. The packaged
model carries its own, higher values (see its model card)."""

DEFAULT_BOX_TAU_MS = 100.0
"""Time constant of the box filter for a still face: removes most of the detector's jitter (~1% of the box width
on real video). Boxes use a One Euro filter (Casiez et al., CHI 2012): the time constant shrinks as the face moves
(``BOX_SPEED_GAIN``), so a moving head is followed without the lag of a plain EMA."""

BOX_SPEED_GAIN = 10.0
"""One Euro ``beta``: cutoff frequency (per ms) added per box width per ms of speed; at 1 box width per second the
box filter's time constant is ~15 ms (nearly raw), at rest ``box_tau_ms``."""

_BOX_SPEED_TAU_MS = 160.0  # smoothing of the speed estimate itself (One Euro's 1 Hz derivative cutoff)

DEFAULT_FORGET_MS = 2000.0
"""A track unseen for 2 s is forgotten; if its id comes back, smoothing starts afresh from the new observation."""

UNCERTAIN_BAND = 0.03
"""Hysteresis of the uncertain state: entered below ``uncertain_below``, left at ``uncertain_below + 0.03``."""


def ema_alpha(dt_ms: float, tau_ms: float) -> float:
    """Weight of a new observation ``dt_ms`` after the previous one, for an EMA with time constant ``tau_ms``.

    ``1 - exp(-dt / tau)``: 0 for ``dt = 0``, about ``dt / tau`` for short steps, 1 for ``tau <= 0`` (no smoothing).
    """
    if tau_ms <= 0:
        return 1.0
    return 1.0 - math.exp(-max(dt_ms, 0.0) / tau_ms)


@dataclass
class _TrackState:
    """What the smoother remembers of one track, as plain floats (cheaper than numpy for ~10 values); empty until
    :meth:`start` (a track is new, or restarts)."""

    values: list[float] = field(default_factory=list)  # smoothed probabilities (C) then valence, arousal
    box: list[float] = field(default_factory=list)  # smoothed x1, y1, x2, y2 pixels
    box_velocity: list[float] = field(default_factory=list)  # pixels per ms
    shown: int = -1  # column of the label shown (hysteresis state), -1 before the first classified observation
    challenger: int = -1  # column that leads the shown label by the margin, -1 when none
    challenger_since_ms: float = 0.0
    uncertain: bool = False
    history: TimeRing[list[float]] | None = None  # window mode: the last N observed ``values``

    def start(self, obs: list[float], obs_box: list[float], now_ms: float, window: int) -> None:
        """Restart from one observation at ``now_ms``: raw values and box, no hysteresis state."""
        self.values, self.box, self.box_velocity = list(obs), list(obs_box), [0.0] * 4
        self.shown, self.challenger, self.challenger_since_ms, self.uncertain = -1, -1, 0.0, False
        if window:
            self.history = TimeRing(window)  # sample_ms 0: every observation, so the window is counted in frames
            self.history.append(now_ms, obs)


class EmotionSmoother:
    """Per-track EMA (or moving window) of emotions, valence/arousal and boxes, plus a label with hysteresis.

    Args:
        tau_ms: time constant in ms of the EMA of probabilities and valence/arousal (0 = no smoothing).
        window: > 0 replaces that EMA by the mean of the track's last ``window`` observations (frames).
        margin: lead in smoothed probability (0..1) a challenger needs over the shown label.
        min_hold_ms: how long in ms the lead must last, without a break, before the shown label changes.
        uncertain_below: show ``UNCERTAIN`` while the smoothed top probability is below this (0 = never); None =
            :data:`DEFAULT_UNCERTAIN_BELOW` (pass the model's calibrated ``EmotionModel.uncertain_below``).
        box_tau_ms: time constant in ms of the box filter for a still face (0 = raw boxes); a One Euro filter that
            follows motion (see ``BOX_SPEED_GAIN``), in window mode too.
        forget_ms: forget a track after this many ms without an observation (state pruned, restarts if seen again).

    ``update`` takes faces that are classified and tracked. Rows with ``track_id == -1`` pass through with the raw
    values as smoothed values. Per-track state follows :class:`~affectlens.track.state.TrackStates`: a scene cut or a
    timestamp earlier than the previous call's resets every track (a new shot, a new source or a seek); a track's
    timestamp that does not advance restarts that track.
    """

    def __init__(
        self,
        tau_ms: float = DEFAULT_TAU_MS,
        window: int = 0,
        margin: float = DEFAULT_MARGIN,
        min_hold_ms: float = DEFAULT_MIN_HOLD_MS,
        uncertain_below: float | None = None,
        box_tau_ms: float = DEFAULT_BOX_TAU_MS,
        forget_ms: float = DEFAULT_FORGET_MS,
    ) -> None:
        if tau_ms < 0 or box_tau_ms < 0 or min_hold_ms < 0:
            raise ValueError(
                f"tau_ms, box_tau_ms and min_hold_ms must be >= 0 ms, got {tau_ms}, {box_tau_ms}, {min_hold_ms}"
            )
        if window < 0:
            raise ValueError(f"window (--smoothing) must be >= 0 frames, got {window}")
        if uncertain_below is None:
            uncertain_below = DEFAULT_UNCERTAIN_BELOW
        if not 0.0 <= margin <= 1.0 or not 0.0 <= uncertain_below <= 1.0:
            raise ValueError(f"margin and uncertain_below must be in [0, 1], got {margin} and {uncertain_below}")
        if forget_ms <= 0:
            raise ValueError(f"forget_ms must be > 0 ms, got {forget_ms}")
        self.tau_ms = float(tau_ms)
        self.window = int(window)
        self.margin = float(margin)
        self.min_hold_ms = float(min_hold_ms)
        self.uncertain_below = float(uncertain_below)
        self.box_tau_ms = float(box_tau_ms)
        self.forget_ms = float(forget_ms)
        self._states = TrackStates(_TrackState, self.forget_ms)
        self._labels: tuple[str, ...] = ()

    @property
    def tracks(self) -> list[int]:
        """Ids of the tracks the smoother currently remembers."""
        return self._states.ids

    def reset(self) -> None:
        """Forget every track (call between unrelated sources)."""
        self._states.reset()

    def update(self, faces: Faces, timestamp_ms: float, *, scene_cut: bool = False) -> Faces:
        """Smooth one frame's faces.

        Args:
            faces: N classified, tracked faces of the frame at ``timestamp_ms`` (not modified).
            timestamp_ms: presentation time of the frame in ms (``Frame.timestamp_ms``).
            scene_cut: this frame starts a new shot (``FrameResult.scene_cut``): every track is forgotten first.

        Returns:
            A new ``Faces`` with smoothed ``probs`` (N, C), ``valence_arousal`` (N, 2) and ``xyxy`` (N, 4), the model's
            outputs in ``data[RAW_PROBS]`` (N, C) / ``data[RAW_VALENCE_AROUSAL]`` (N, 2), and the label to show in
            ``data[SHOWN_LABEL]`` (N,) str. Unclassified faces (C = 0) get smoothed boxes only.
        """
        timestamp_ms = float(timestamp_ms)
        self._states.advance(timestamp_ms, scene_cut=scene_cut)
        n = len(faces)
        if n == 0:
            return faces
        classified = faces.classified
        if classified and faces.labels != self._labels:  # another model: its columns mean something else
            self._states.reset()
            self._labels = faces.labels
        # One conversion to plain floats per frame; the per-face work below is plain Python (see _TrackState).
        values = np.concatenate([faces.probs, faces.valence_arousal], axis=1).tolist()  # (N, C + 2)
        boxes = faces.xyxy.tolist()
        num_classes = len(faces.labels)
        shown: list[str] = [""] * n
        seen: set[int] = set()
        for i, track_id in enumerate(faces.track_id.tolist()):
            if track_id < 0 or track_id in seen:  # untracked (or a duplicate id): raw values pass through
                if classified:
                    shown[i] = self._untracked_label(values[i][:num_classes])
                continue
            seen.add(track_id)
            state = self._observe(track_id, values[i], boxes[i], timestamp_ms)
            values[i], boxes[i] = state.values, state.box
            if classified:
                shown[i] = self._shown_label(state, num_classes, timestamp_ms)

        xyxy = np.asarray(boxes, np.float32).reshape(n, 4)
        if not classified:
            return faces.evolve(xyxy=xyxy, data=dict(faces.data))
        probs = np.asarray([row[:num_classes] for row in values], np.float32).reshape(n, num_classes)
        valence_arousal = np.asarray([row[num_classes:] for row in values], np.float32).reshape(n, 2)
        data = dict(faces.data)
        data.setdefault(RAW_PROBS, faces.probs)  # raw = the model's output, even if smoothed twice
        data.setdefault(RAW_VALENCE_AROUSAL, faces.valence_arousal)
        data[SHOWN_LABEL] = np.array(shown, dtype=str)
        return faces.evolve(xyxy=xyxy, probs=probs, valence_arousal=valence_arousal, data=data)

    # -- internals -------------------------------------------------------------------------------------------------
    def _observe(self, track_id: int, obs: list[float], obs_box: list[float], now_ms: float) -> _TrackState:
        """Fold one observation (C probabilities + valence, arousal; box) into the state of ``track_id``."""
        state, dt = self._states.observe(track_id, now_ms)
        # a new track (dt None), a timestamp that did not advance, or classified after unclassified (or back)
        if dt is None or dt <= 0 or len(state.values) != len(obs):
            state.start(obs, obs_box, now_ms, self.window)
            return state

        self._filter_box(state, obs_box, dt)
        if state.history is not None:
            state.history.append(now_ms, obs)
            window = state.history.values()
            count = len(window)
            smoothed = [sum(column) / count for column in zip(*window, strict=True)]
        else:
            a = ema_alpha(dt, self.tau_ms)
            smoothed = [s + a * (o - s) for s, o in zip(state.values, obs, strict=True)]
        # A NaN (model without a VA head, or one bad frame) must not stick for the rest of the track.
        state.values = [s if s == s else o for s, o in zip(smoothed, obs, strict=True)]  # s != s: NaN
        return state

    def _filter_box(self, state: _TrackState, obs: list[float], dt: float) -> None:
        """One Euro filter of the 4 box coordinates (plain floats: cheaper than numpy for 4 values)."""
        if self.box_tau_ms <= 0:
            state.box = obs
            return
        a_speed = ema_alpha(dt, _BOX_SPEED_TAU_MS)
        width = max(obs[2] - obs[0], obs[3] - obs[1], 1.0)
        rest = 1.0 / self.box_tau_ms  # 2 pi f_c at rest, per ms
        box, velocity = state.box, state.box_velocity
        for k in range(4):
            velocity[k] += a_speed * ((obs[k] - box[k]) / dt - velocity[k])
            rate = rest + 2.0 * math.pi * BOX_SPEED_GAIN * abs(velocity[k]) / width
            box[k] += (1.0 - math.exp(-dt * rate)) * (obs[k] - box[k])

    def _shown_label(self, state: _TrackState, num_classes: int, now_ms: float) -> str:
        """Hysteresis on the smoothed probabilities of one track; returns the label to show."""
        p = state.values
        top = max(range(num_classes), key=p.__getitem__)
        top_p = p[top]
        limit = self.uncertain_below + (UNCERTAIN_BAND if state.uncertain else 0.0)
        state.uncertain = self.uncertain_below > 0 and top_p < limit
        if state.uncertain or state.shown < 0:
            # Nothing (or UNCERTAIN) is shown: no label to hold on to, so follow the top one; once the face is
            # certain again, it starts from there.
            state.shown, state.challenger = top, -1
        elif top != state.shown and top_p - p[state.shown] >= self.margin:
            if state.challenger != top:
                state.challenger, state.challenger_since_ms = top, now_ms
            if now_ms - state.challenger_since_ms >= self.min_hold_ms:
                state.shown, state.challenger = top, -1
        else:
            state.challenger = -1
        return UNCERTAIN if state.uncertain else self._labels[state.shown]

    def _untracked_label(self, probs: list[float]) -> str:
        return _frame_label(probs, self._labels, self.uncertain_below)

    def __repr__(self) -> str:
        mode = f"window={self.window}" if self.window else f"tau_ms={self.tau_ms:g}"
        return (
            f"EmotionSmoother({mode}, margin={self.margin:g}, min_hold_ms={self.min_hold_ms:g}, "
            f"uncertain_below={self.uncertain_below:g}, box_tau_ms={self.box_tau_ms:g})"
        )


def label_frame(faces: Faces, uncertain_below: float | None = None) -> Faces:
    """The label to show for faces that no smoother labelled (still images, ``--no-smoothing``): the top label of
    these (raw) probabilities, or :data:`~affectlens.core.UNCERTAIN` when its probability is below
    ``uncertain_below`` (None: :data:`DEFAULT_UNCERTAIN_BELOW`; 0: never).

    Args:
        faces: N classified faces (not modified).
        uncertain_below: threshold on the top probability, in [0, 1].

    Returns:
        ``faces`` itself when it is unclassified or already has ``data[SHOWN_LABEL]``; else a copy with
        ``data[SHOWN_LABEL]`` (N,) str.
    """
    if not faces.classified or SHOWN_LABEL in faces.data:
        return faces
    threshold = DEFAULT_UNCERTAIN_BELOW if uncertain_below is None else float(uncertain_below)
    shown = [_frame_label(row, faces.labels, threshold) for row in faces.probs.tolist()]
    data = dict(faces.data)
    data[SHOWN_LABEL] = np.array(shown, dtype=str).reshape(len(faces))
    return faces.evolve(data=data)


def _frame_label(probs: list[float], labels: tuple[str, ...], uncertain_below: float) -> str:
    top = max(range(len(probs)), key=probs.__getitem__)
    return UNCERTAIN if probs[top] < uncertain_below else labels[top]
