"""Claid before/after pairs over ``toolkit.load.images``: the input beside the downloaded output."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
from PIL import Image, ImageOps

from ._figure import Figure, LABEL_SIZE, framed_image, subplots

__all__ = ["before_after"]


def before_after(images: pd.DataFrame, n: int = 4) -> Figure:
    """A grid of ``n`` rows (the first tasks with both files on disk): before (``input``) | after
    (``output_path``), each framed on a grey backdrop (so a white canvas and its padding show) and titled with
    its size and format; each row is labelled with its task and operations. Tasks without a downloaded output
    are skipped. Returns the Figure (shown once in a notebook, as the cell's value or not).
    """
    rows = [r for r in images.itertuples(index=False) if _exists(r.input) and _exists(r.output_path)][:n]
    k = max(len(rows), 1)
    fig, axes = subplots(k, 2, figsize=(8.4, 3.9 * k), squeeze=False, layout="constrained")
    for (left, right), r in zip(axes, rows):
        for ax, path, side, word in ((left, r.input, "input", "before"), (right, r.output_path, "output", "after")):
            with Image.open(path) as img:
                framed_image(ax, ImageOps.exif_transpose(img).convert("RGBA"))
            w, h, fmt = getattr(r, f"{side}_width"), getattr(r, f"{side}_height"), getattr(r, f"{side}_format")
            size = f"{w}×{h}" if not pd.isna(w) else "size unknown"
            ax.set_title(f"{word}: {size} {str(fmt).upper() if not pd.isna(fmt) else ''}".rstrip(), fontsize=11)
        ops = "" if pd.isna(r.operations) else "\n" + textwrap.fill(str(r.operations), 40)
        left.set_ylabel(f"task {r.job_id}{ops}", fontsize=LABEL_SIZE, color="#333333", labelpad=6)
    if not rows:
        for ax in axes.flat:
            ax.set_axis_off()
        axes[0, 0].text(
            0.5, 0.5, "no task with a downloaded output", ha="center", va="center", transform=axes[0, 0].transAxes
        )
    fig.suptitle(f"Claid: before and after ({len(rows)} of {len(images)} tasks)", fontsize=12)
    return fig


def _exists(path: object) -> bool:
    return isinstance(path, str) and bool(path) and Path(path).is_file()
