"""Analytics over smoothed, tracked faces: engagement per face, and session reports from JSONL records.

from affectlens.analytics import EngagementScorer, build_report, format_report, load_records, plot_timeline
"""

from affectlens.analytics.engagement import (
    DEFAULT_ENGAGEMENT_WEIGHTS,
    HEAD_POSE,
    EngagementScorer,
    attention_factor,
    engagement_weights,
    head_pose,
)
from affectlens.analytics.report import build_report, format_report, load_records, plot_timeline, write_report

__all__ = [
    "DEFAULT_ENGAGEMENT_WEIGHTS",
    "HEAD_POSE",
    "EngagementScorer",
    "attention_factor",
    "build_report",
    "engagement_weights",
    "format_report",
    "head_pose",
    "load_records",
    "plot_timeline",
    "write_report",
]
