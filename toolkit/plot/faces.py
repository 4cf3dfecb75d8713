"""Face enrollment summary (frames from ``toolkit.load.faces``)."""

from __future__ import annotations

from typing import Any

ENROLLED, PENDING = "#2ca02c", "#9e9e9e"
FAILURE_COLORS = ["#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f"]


def enrollment_summary(faces: Any, ax: Any = None) -> Any:
    """Horizontal bars: roster rows enrolled, failed per reason (error code), and not finished yet, each
    labelled with its count. Returns the Axes."""
    import matplotlib.pyplot as plt

    success = faces["success"]
    enrolled = int((success == True).sum())  # noqa: E712 - nullable boolean: NA is neither
    failed = faces[success == False]  # noqa: E712
    pending = int(success.isna().sum())
    reasons = failed["error_code"].astype("string").fillna("(no code)").value_counts()
    bars = [("enrolled", enrolled, ENROLLED)]
    bars += [(code, int(n), FAILURE_COLORS[i % len(FAILURE_COLORS)]) for i, (code, n) in enumerate(reasons.items())]
    if pending:
        bars.append(("not finished", pending, PENDING))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1.0 + 0.5 * len(bars)), layout="constrained")
    names, counts, colors = zip(*bars)
    container = ax.barh(range(len(bars)), counts, color=colors, height=0.6, gid="enrollment")
    ax.bar_label(container, labels=[str(c) for c in counts], padding=3, fontsize=9)
    ax.set_yticks(range(len(bars)), names)
    ax.invert_yaxis()
    if len(bars) > 1 and reasons.size:
        # a thin rule between the enrolled bar and the failure reasons
        ax.axhline(0.5, color="#cccccc", linewidth=0.8)
    ax.set_xlim(0, max(max(counts), 1) * 1.15)
    ax.set_xlabel("Roster rows")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(
        f"Face enrollment: {len(faces)} rows, {enrolled} enrolled, {len(failed)} failed"
        + (f", {pending} not finished" if pending else "")
    )
    return ax
