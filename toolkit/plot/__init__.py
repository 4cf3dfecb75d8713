"""Matplotlib figures over the frames of ``toolkit.load``. As in pandas and seaborn, a one-panel plot returns its
Axes and accepts ``ax=``; a multi-panel plot returns a :class:`Figure` that a notebook shows once, whether it is
the cell's value, assigned, or followed by ``;``. Nothing here loads or computes results."""

from __future__ import annotations

from typing import Any, Callable

from ._figure import Figure, PlotColumnError
from .claid import before_after
from .detections import boxes, counts, gallery, score_histogram
from .faces import enrollment_summary
from .maps import BasemapError, detections_map, sizes
from .timeline import STATUS_COLORS, timeline
from .verdicts import verdict_distribution

__all__ = [
    "boxes",
    "gallery",
    "counts",
    "score_histogram",
    "detections_map",
    "sizes",
    "verdict_distribution",
    "before_after",
    "enrollment_summary",
    "timeline",
    "for_provider",
    "Figure",
    "BasemapError",
    "PlotColumnError",
    "STATUS_COLORS",
]


def for_provider(provider: Any) -> dict[str, Callable[..., Any]]:
    """The plot functions for one provider's frames, by name, as its ``ProviderInfo`` lists them
    (``toolkit.client.registry``); ``provider`` is a name or a Batch. ``timeline`` (jobs) fits them all."""
    from ..client import registry

    name = provider if isinstance(provider, str) else getattr(getattr(provider, "client", None), "name", None)
    if not isinstance(name, str):
        raise TypeError(f"for_provider needs a provider name or a Batch, not {type(provider).__name__}")
    return {**registry.get(name).plot_functions(), "timeline": timeline}
