"""Matplotlib figures over the frames of ``toolkit.load``. Every function returns the Axes (or Figure for
multi-panel plots) and accepts ``ax=`` where one panel is drawn. Nothing here loads or computes results."""

from __future__ import annotations

from .claid import before_after
from .detections import boxes, counts, gallery, score_histogram
from .faces import enrollment_summary
from .maps import detections_map, sizes
from .timeline import timeline
from .verdicts import verdict_distribution

__all__ = ["boxes", "gallery", "counts", "score_histogram", "detections_map", "sizes", "verdict_distribution",
           "before_after", "enrollment_summary", "timeline"]
