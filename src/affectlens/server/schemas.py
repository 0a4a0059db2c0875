"""Response models: the JSONL record schema (README, "Records") and the job status, as Pydantic models, so that the
OpenAPI document at ``/docs`` documents the records. Extra keys are allowed (stages add their own)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RawPrediction(_Open):
    """The unsmoothed prediction of a face (video and live, with smoothing)."""

    emotion: str
    probs: dict[str, float]
    valence: float | None = None
    arousal: float | None = None


class HeadPrediction(_Open):
    label: str
    probs: dict[str, float]


class FaceRecord(_Open):
    """One face: box in pixels ``[x1, y1, x2, y2]``, detector score in [0, 1]; after classification the shown
    ``emotion`` (possibly ``uncertain``), its ``confidence``, the class ``probs``, ``valence``/``arousal`` in [-1, 1]
    (null: the model has no valence/arousal head); ``track_id`` and ``engagement`` in video and live mode."""

    bbox: list[float] = Field(min_length=4, max_length=4)
    score: float
    track_id: int | None = None
    emotion: str | None = None
    confidence: float | None = None
    probs: dict[str, float] | None = None
    valence: float | None = None
    arousal: float | None = None
    engagement: float | None = None
    raw: RawPrediction | None = None
    heads: dict[str, HeadPrediction] | None = None


class PersonRecord(_Open):
    bbox: list[float]
    score: float
    track_id: int | None = None
    face_index: int | None = None
    landmarks: list[list[float]]


class FrameRecord(_Open):
    """One analysed frame, as a line of ``affectlens analyze --jsonl``."""

    schema_: int = Field(alias="schema", description="record schema version")
    video: str | None = None
    frame: int = Field(description="0-based frame index")
    timestamp_ms: float
    file: str | None = None
    scene_cut: bool
    faces: list[FaceRecord]
    persons: list[PersonRecord] | None = None
    outputs: dict[str, Any]
    timings_ms: dict[str, float]


class Progress(BaseModel):
    frames: int = Field(description="frames analysed so far")
    total_frames: int | None = Field(description="frames in the video, when its container says")
    fraction: float = Field(description="0..1")


class JobStatus(_Open):
    """A video job. ``status``: queued -> running -> done | failed."""

    id: str
    status: Literal["queued", "running", "done", "failed"]
    created_at: float = Field(description="seconds since the epoch")
    started_at: float | None
    finished_at: float | None
    progress: Progress
    video: bool = Field(description="an annotated video was asked for (?video=true)")
    error: str | None
    warning: str | None


class ErrorBody(BaseModel):
    """Every error: one line saying what is wrong and what to do."""

    error: str


class Health(BaseModel):
    status: Literal["ok", "starting"]
    workers: int
    queue_depth: int
