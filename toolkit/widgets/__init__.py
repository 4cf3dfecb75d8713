"""ipywidgets for the notebook: the live batch monitor and the jobs explorer.

``Batch._repr_mimebundle_`` calls ``batch_mimebundle``: in a kernel a live ``Monitor`` (with HTML/text of
the state for places where widgets do not render, rewritten with the final state when the batch finishes);
elsewhere only the HTML/text. ``JobsExplorer(ws)`` filters the ledger by provider, status and batch.
"""

from __future__ import annotations

from .explorer import JobsExplorer, explore
from .monitor import Monitor, batch_mimebundle, display_batch, monitor_for
from .render import Snapshot, render_html, render_text, snapshot

__all__ = [
    "JobsExplorer",
    "Monitor",
    "Snapshot",
    "batch_mimebundle",
    "display_batch",
    "explore",
    "monitor_for",
    "render_html",
    "render_text",
    "snapshot",
]
