"""Distribution of Authenta fake confidences per task (frames from ``toolkit.load.verdicts``)."""

from __future__ import annotations

from typing import Any

import numpy as np

FAKE_COLOR, REAL_COLOR = "#d62728", "#2ca02c"


def verdict_distribution(verdicts: Any, ax: Any = None, threshold: float = 0.5, seed: int = 0) -> Any:
    """Fake confidence (0..1) per task: one row per task with a box and every verdict as a point (red when the
    provider says fake), the ``threshold`` line, and per task the number of verdicts and of failed jobs.

    Tasks without a fake confidence (embeddings, liveness, audio splitting) are left out. Returns the Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    scored = verdicts[verdicts["fake_confidence"].notna()] if len(verdicts) else verdicts
    tasks = [str(t) for t in dict.fromkeys(scored["task"].dropna())] if len(scored) else []
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1.2 + 0.8 * max(1, len(tasks))), layout="constrained")
    rng = np.random.default_rng(seed)
    labels = []
    for y, task in enumerate(tasks):
        rows = scored[scored["task"].astype("string") == task]
        x = rows["fake_confidence"].to_numpy(dtype=float)
        fake = rows["is_fake"].fillna(False).to_numpy(dtype=bool) if "is_fake" in rows else x >= threshold
        if len(x) >= 3:
            ax.boxplot(
                x,
                positions=[y],
                orientation="horizontal",
                widths=0.5,
                showfliers=False,
                medianprops={"color": "#333333"},
                boxprops={"color": "#999999"},
                whiskerprops={"color": "#999999"},
                capprops={"color": "#999999"},
            )
        jitter = rng.uniform(-0.18, 0.18, len(x))
        ax.scatter(
            x,
            y + jitter,
            s=28,
            c=np.where(fake, FAKE_COLOR, REAL_COLOR),
            edgecolor="white",
            linewidth=0.5,
            zorder=3,
            gid=f"verdicts:{task}",
        )
        failed = int(((verdicts["task"].astype("string") == task) & (verdicts["status"] != "succeeded")).sum())
        labels.append(f"{task}\n(n={len(x)}" + (f", {failed} not succeeded)" if failed else ")"))
    ax.axvline(threshold, color="#333333", linestyle="--", linewidth=1, gid="threshold")
    ax.set_yticks(range(len(tasks)), labels)
    ax.set_ylim(-0.6, max(len(tasks), 1) - 0.4)
    ax.set_xlim(-0.03, 1.03)
    ax.invert_yaxis()
    ax.set_xlabel("Fake confidence (0 = real, 1 = fake)")
    n_fake = int(scored["is_fake"].fillna(False).sum()) if len(scored) else 0
    ax.set_title(f"Authenta verdicts: {len(scored)} scored, {n_fake} judged fake")
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.5)
    ax.legend(
        handles=[
            Line2D([], [], marker="o", linestyle="", color=FAKE_COLOR, label="judged fake"),
            Line2D([], [], marker="o", linestyle="", color=REAL_COLOR, label="judged real"),
            Line2D([], [], color="#333333", linestyle="--", label=f"threshold {threshold:g}"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=9,
    )
    return ax
