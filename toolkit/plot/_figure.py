"""What the figure-level plots share: a Figure that Jupyter shows once, and images drawn on a framed backdrop."""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure as _MplFigure
from matplotlib.patches import Rectangle

from ..client.model import ToolkitError
from ..client.options import did_you_mean

__all__ = [
    "Figure",
    "subplots",
    "framed_image",
    "require",
    "no_data",
    "PlotColumnError",
    "BACKDROP",
    "FRAME",
    "LABEL_SIZE",
]

#: a neutral grey that white (and black) pictures stand out from, and the frame line around each picture
BACKDROP, FRAME = "#d4d4d4", "#3a3a3a"
#: the smallest font size for text a reader has to read (titles, task labels)
LABEL_SIZE = 10


class Figure(_MplFigure):
    """A matplotlib Figure that a notebook shows once, however it is used.

    With the inline backend a plain Figure returned as a cell's value is drawn twice: by the backend at the end
    of the cell and as ``Out[]``. This one, when displayed, draws itself and leaves pyplot, so the end-of-cell
    flush skips it; ``fig = plot.gallery(...)`` and ``plot.gallery(...);`` are drawn by the flush, once.
    """

    def _ipython_display_(self) -> None:
        from IPython import get_ipython
        from IPython.display import publish_display_data

        shell = get_ipython()
        if shell is None:
            return
        if "inline" in matplotlib.get_backend():
            plt.close(self)
        data: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        # the formatters registered for Figure (png, retina, svg... as InlineBackend.figure_formats says)
        for mime, formatter in shell.display_formatter.formatters.items():
            out = formatter(self)
            if isinstance(out, tuple):
                out, meta[mime] = out
            if out is not None:
                data[mime] = out
        publish_display_data(data, meta)


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """``plt.subplots`` making a :class:`Figure`."""
    return plt.subplots(nrows, ncols, FigureClass=Figure, **kwargs)


def framed_image(ax: Axes, img: Any, pad: float = 0.04) -> None:
    """Draw ``img`` (PIL image or array) at its pixel size on a neutral backdrop, with a frame line at its edge,
    so that a white canvas and its padding stay visible; ticks and spines are hidden."""
    arr = np.asarray(img)
    h, w = arr.shape[:2]
    ax.imshow(arr, extent=(0, w, h, 0), interpolation="antialiased")
    ax.add_patch(Rectangle((0, 0), w, h, fill=False, edgecolor=FRAME, linewidth=1.0, gid="frame", zorder=3))
    m = pad * max(w, h)
    ax.set_xlim(-m, w + m)
    ax.set_ylim(h + m, -m)
    ax.set_aspect("equal")
    ax.set_facecolor(BACKDROP)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


class PlotColumnError(ToolkitError, KeyError):
    """A plot was given a frame without a column it draws (``gallery`` of an images table: no ``score``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def require(df: Any, columns: Any, call: str, hint: str = "") -> None:
    """Raise ``PlotColumnError`` naming the first of ``columns`` the frame lacks, the nearest it has, its
    columns, and ``hint`` (which frame fits)."""
    have = [str(c) for c in getattr(df, "columns", [])]
    for col in [columns] if isinstance(columns, str) else columns:
        if col not in have:
            fits = f"; {hint}" if hint else ""
            raise PlotColumnError(
                f"{call}: the frame has no column {col!r}{did_you_mean(col, have)} (its columns: "
                f"{', '.join(have) or 'none'}){fits}"
            )


def no_data(ax: Axes, what: str) -> Axes:
    """An empty frame's plot: the axes say so, instead of being blank."""
    ax.text(0.5, 0.5, f"no data: {what}", ha="center", va="center", transform=ax.transAxes, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
