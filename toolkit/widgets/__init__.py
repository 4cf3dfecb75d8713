"""ipywidgets for the notebook: the live batch monitor, the jobs explorer and the submit form (``Form``).

``Batch._repr_mimebundle_`` calls ``batch_mimebundle``: in a kernel a live ``Monitor`` (with HTML/text of
the state for places where widgets do not render, rewritten with the final state when the batch finishes);
elsewhere only the HTML/text. ``JobsExplorer(ws)`` filters the ledger by provider, status and batch.

The names below are imported on first use, so ``toolkit.widgets.labels`` and ``toolkit.widgets.notice`` (used by
the workspace and the command line) do not import ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .aoi_map import AoiMap
    from .detections import detection_browser
    from .explorer import JobsExplorer, explore
    from .form import Form, form
    from .labels import cancel_message
    from .monitor import Monitor, batch_mimebundle, display_batch, monitor_for
    from .results_map import ResultsMap, features_map
    from .render import Snapshot, render_html, render_text, snapshot

_WHERE = {
    "AoiMap": "aoi_map",
    "ResultsMap": "results_map",
    "features_map": "results_map",
    "detection_browser": "detections",
    "JobsExplorer": "explorer",
    "explore": "explorer",
    "Form": "form",
    "form": "form",
    "Monitor": "monitor",
    "batch_mimebundle": "monitor",
    "cancel_message": "labels",
    "display_batch": "monitor",
    "monitor_for": "monitor",
    "Snapshot": "render",
    "render_html": "render",
    "render_text": "render",
    "snapshot": "render",
}

__all__ = [
    "AoiMap",
    "ResultsMap",
    "features_map",
    "Form",
    "JobsExplorer",
    "Monitor",
    "Snapshot",
    "batch_mimebundle",
    "cancel_message",
    "detection_browser",
    "display_batch",
    "explore",
    "form",
    "monitor_for",
    "render_html",
    "render_text",
    "snapshot",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
