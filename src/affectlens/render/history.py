"""Moved to :mod:`affectlens.track.history` (track state is no drawing); kept so that old imports still work."""

from affectlens.track.history import TrackHistory, TrackSeries

__all__ = ["TrackHistory", "TrackSeries"]
