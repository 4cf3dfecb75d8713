"""Claid before/after pairs over ``toolkit.load.images``: the input beside the downloaded output."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image, ImageOps

__all__ = ["before_after"]


def before_after(images: pd.DataFrame, n: int = 4) -> Figure:
    """A grid of ``n`` rows (the first tasks with both files on disk): before (``input``) | after
    (``output_path``), each titled with its size and format. Tasks without a downloaded output are skipped.
    """
    rows = [r for r in images.itertuples(index=False) if _exists(r.input) and _exists(r.output_path)][:n]
    k = max(len(rows), 1)
    fig, axes = plt.subplots(k, 2, figsize=(8, 3.6 * k), squeeze=False)
    for (left, right), r in zip(axes, rows):
        for ax, path, side, word in ((left, r.input, "input", "before"), (right, r.output_path, "output", "after")):
            with Image.open(path) as img:
                ax.imshow(ImageOps.exif_transpose(img).convert("RGBA"))
            w, h, fmt = getattr(r, f"{side}_width"), getattr(r, f"{side}_height"), getattr(r, f"{side}_format")
            size = f"{w}×{h}" if not pd.isna(w) else "size unknown"
            ax.set_title(f"{word}: {size} {str(fmt).upper() if not pd.isna(fmt) else ''}".rstrip(), fontsize=10)
            ax.set_axis_off()
        ops = "" if pd.isna(r.operations) else f" ({r.operations})"
        left.text(
            -0.02,
            0.5,
            f"task {r.job_id}{ops}",
            transform=left.transAxes,
            rotation=90,
            ha="right",
            va="center",
            fontsize=8,
            color="dimgray",
        )
    if not rows:
        for ax in axes.flat:
            ax.set_axis_off()
        axes[0, 0].text(
            0.5, 0.5, "no task with a downloaded output", ha="center", va="center", transform=axes[0, 0].transAxes
        )
    fig.suptitle(f"Claid: before and after ({len(rows)} of {len(images)} tasks)", fontsize=12)
    fig.tight_layout()
    return fig


def _exists(path: object) -> bool:
    return isinstance(path, str) and bool(path) and Path(path).is_file()
