"""A job timeline over ``toolkit.load.jobs`` (or ``ws.jobs()`` / ``batch.to_frame()``): one bar per job."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.legend_handler import HandlerTuple
from matplotlib.patches import Patch

from ..client.model import STATUS_CATEGORIES

__all__ = ["timeline", "STATUS_COLORS"]

#: One colour per status of ``STATUS_CATEGORIES``, no two alike (and none the near-black of the phase keys).
STATUS_COLORS = dict(
    zip(
        STATUS_CATEGORIES,
        ["#2ca02c", "#d62728", "#ff7f0e", "#7f7f7f", "#1f77b4", "#9ecae1", "#e0d3a8", "#9467bd"],
        strict=True,
    )
)
#: the legend's keys for the parts of a bar (pale: queued, solid: running), in a colour no status has
PHASE_KEY = "#333333"
QUEUED_ALPHA = 0.35
MAX_LABELS = 40


def timeline(jobs: pd.DataFrame, ax: Axes | None = None, *, now: Any = None, label: str = "input") -> Axes:
    """One horizontal bar per job: a pale span while queued (created -> started) and a solid span while
    running (started -> finished), both in the colour of the job's final status. A job whose start was not
    observed (it finished between two polls) is one hatched span; an unfinished job runs to ``now``.
    The x axis is time since the first job was created, in s, min or h.
    """
    df = jobs.copy()
    for c in ("created_at", "started_at", "finished_at"):
        df[c] = pd.to_datetime(df[c], utc=True) if c in df.columns else pd.NaT
    df = df.dropna(subset=["created_at"]).sort_values("created_at", kind="stable").reset_index(drop=True)
    end = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    t0 = df["created_at"].min() if len(df) else end
    finished = df["finished_at"].fillna(end)
    span = max(((finished.max() if len(df) else end) - t0).total_seconds(), 1e-9)
    unit, div = ("h", 3600.0) if span > 3 * 3600 else ("min", 60.0) if span > 180 else ("s", 1.0)

    def at(ts: pd.Series) -> pd.Series:
        return (ts - t0).dt.total_seconds() / div

    ax = ax or plt.subplots(figsize=(9, max(2.5, min(0.28 * len(df) + 1.5, 14))))[1]
    created, started, done = at(df["created_at"]), at(df["started_at"]), at(finished)
    for i, r in df.iterrows():
        color = STATUS_COLORS.get(str(r["status"]), "#bcbd22")
        if pd.isna(r["started_at"]):
            ax.barh(
                i,
                done[i] - created[i],
                left=created[i],
                color=color,
                alpha=0.6,
                hatch="//",
                edgecolor="white",
                height=0.7,
                gid="span:unsplit",
            )
            continue
        ax.barh(
            i, started[i] - created[i], left=created[i], color=color, alpha=QUEUED_ALPHA, height=0.7, gid="span:queued"
        )
        ax.barh(i, done[i] - started[i], left=started[i], color=color, height=0.7, gid="span:running")
    ax.set_ylim(len(df) - 0.5, -0.5)  # first job on top
    if len(df) <= MAX_LABELS and label in df.columns:
        ax.set_yticks(range(len(df)), [_short(str(v)) for v in df[label]], fontsize=9)
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{len(df)} jobs (by creation time)")
    ax.set_xlabel(f"time since the first job was created ({unit})")
    ax.set_xlim(0, span / div * 1.02)
    present = [s for s in STATUS_COLORS if s in set(df["status"].astype(str))]
    handles: list[Any] = [Patch(color=STATUS_COLORS[s], label=s) for s in present]
    labels = list(present)
    unsplit = df["started_at"].isna()
    if (~unsplit).any():  # one two-part key, so no phase swatch can pass for a status colour
        handles.append((Patch(facecolor=PHASE_KEY, alpha=QUEUED_ALPHA), Patch(facecolor=PHASE_KEY)))
        labels.append("bar: pale while queued,\nsolid while running")
    if unsplit.any():
        handles.append(Patch(facecolor="white", hatch="////", edgecolor=PHASE_KEY))
        labels.append("hatched: start not observed")
    ax.legend(
        handles,
        labels,
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0.0)},
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=9,
        frameon=False,
    )
    ax.set_title(f"Job timeline ({len(df)} jobs)")
    ax.grid(axis="x", alpha=0.3)
    ax.figure.tight_layout()
    return ax


def _short(text: str, n: int = 28) -> str:
    """Long inputs (paths) keep their end, where the file name is."""
    return text if len(text) <= n else "…" + text[-(n - 1) :]
