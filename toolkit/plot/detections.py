"""Camera-trap figures over ``toolkit.load.detections`` / ``images_table`` frames.

Every function draws what it is given (grouping and counting only) and returns the Axes or Figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageOps

from ..client.options import did_you_mean
from ._figure import LABEL_SIZE, PlotColumnError, framed_image, no_data, require, subplots

__all__ = ["boxes", "gallery", "counts", "score_histogram"]

_COLORS = plt.get_cmap("tab10").colors


def label_colors(labels: Any) -> dict[str, tuple[float, float, float]]:
    """One stable colour per label (sorted), shared by all plots of a frame."""
    return {lab: _COLORS[i % len(_COLORS)] for i, lab in enumerate(sorted({str(x) for x in labels}))}


def boxes(
    image: Any,
    detections: pd.DataFrame,
    ax: Axes | None = None,
    threshold: float | None = None,
    *,
    colors: Mapping[str, Any] | None = None,
) -> Axes:
    """The image with one rectangle per box at or above ``threshold``, captioned "label score".

    ``image``: a path, a PIL image or an array; ``detections``: the rows of that image (normalized
    ``x, y, w, h`` with a top-left origin, as ``load.detections`` gives). EXIF rotation is applied, as the
    detector saw the upright image.
    """
    img = _open(image)
    ax = ax or plt.subplots(figsize=(8, 8 * img.height / max(img.width, 1)))[1]
    ax.imshow(img)
    rows = detections if threshold is None else detections[detections["score"] >= threshold]
    colors = colors or label_colors(_labels(detections))
    for r in rows.itertuples(index=False):
        color = colors.get(str(r.label), "yellow")
        x, y, w, h = r.x * img.width, r.y * img.height, r.w * img.width, r.h * img.height
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=2))
        ax.text(
            x,
            max(y - 2, 0),
            f"{r.label} {r.score:.2f}",
            color="white",
            fontsize=9,
            va="bottom",
            bbox={"facecolor": color, "alpha": 0.8, "pad": 1.5, "edgecolor": "none"},
            clip_on=True,
        )
    ax.set_xlim(0, img.width)
    ax.set_ylim(img.height, 0)
    name = Path(str(image)).name if isinstance(image, (str, Path)) else ""
    shown = f"{len(rows)} of {len(detections)} boxes"
    shown += f" with score ≥ {threshold:g}" if threshold is not None else ""
    ax.set_title(f"{name}\n{shown}" if name else shown, fontsize=10)
    ax.set_axis_off()
    return ax


def gallery(
    detections: pd.DataFrame,
    images: Any = None,
    n: int = 12,
    by: str = "score",
    *,
    crop: bool = True,
    margin: float = 0.15,
    ncols: int | None = None,
) -> Figure:
    """A grid of the top ``n`` detections by ``by`` (descending): crops around each box (``crop=False``:
    the full image with its box), framed on a grey backdrop and titled with label, score and file.
    Returns the Figure (shown once in a notebook, as the cell's value or not).

    ``images`` finds the files when ``detections.file`` does not: a folder to join relative names to, a
    mapping ``file -> path``, or an ``images_table`` frame (its ``file`` column).
    """
    require(
        detections,
        [by, "file", "label", "x", "y", "w", "h"],
        "gallery()",
        "a detections frame (toolkit.load.detections) has them; an images table does not",
    )
    top = detections.sort_values(by, ascending=False, kind="stable").head(n)
    k = max(len(top), 1)
    ncols = ncols or min(4, k)
    nrows = math.ceil(k / ncols)
    fig, axes = subplots(nrows, ncols, figsize=(3.2 * ncols, 3.5 * nrows), squeeze=False)
    colors = label_colors(_labels(detections))
    for ax, r in zip(axes.flat, top.itertuples(index=False)):
        path = _resolve(str(r.file), images)
        title = f"{r.label} {r.score:.2f}\n{Path(str(r.file)).name}"
        try:
            img = _open(path)
        except (OSError, ValueError):
            ax.text(0.5, 0.5, "image not found", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(title, fontsize=LABEL_SIZE)
            ax.set_axis_off()
            continue
        W, H = img.size
        x, y, w, h = r.x * W, r.y * H, r.w * W, r.h * H
        color = colors.get(str(r.label), "yellow")
        if crop:
            mx, my = w * margin + 4, h * margin + 4
            left, top_, right, bottom = max(0, x - mx), max(0, y - my), min(W, x + w + mx), min(H, y + h + my)
            framed_image(ax, img.crop((int(left), int(top_), int(math.ceil(right)), int(math.ceil(bottom)))))
            x, y = x - int(left), y - int(top_)
        else:
            framed_image(ax, img)
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=2, gid="box"))
        ax.set_title(title, fontsize=LABEL_SIZE)
    for ax in list(axes.flat)[len(top) :]:
        ax.set_axis_off()
        if not len(top):
            ax.text(0.5, 0.5, "no detections", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(f"Top {len(top)} detections by {by}", fontsize=12)
    fig.tight_layout()
    return fig


def counts(df: pd.DataFrame, by: str = "label", ax: Axes | None = None, *, time_column: str = "captured_at") -> Axes:
    """Bar chart of the number of rows (boxes of a detections frame, images of an images table) per
    ``label``, ``camera``, ``hour`` (of day, 0-23, camera clock) or ``day`` (calendar date)."""
    what = "detections" if "score" in df.columns else "images"
    if by not in ("hour", "day") and by not in df.columns:
        have = [str(c) for c in df.columns]
        raise PlotColumnError(
            f"counts(by={by!r}): the frame has no column {by!r}{did_you_mean(by, ['hour', 'day', *have])} "
            f"(use 'hour', 'day' or a column: {', '.join(have) or 'none'})"
        )
    if by in ("hour", "day"):
        require(df, time_column, f"counts(by={by!r})", "pass time_column= or use an images table")
        times = pd.to_datetime(df[time_column])
        if by == "hour":
            series = times.dt.hour.value_counts().reindex(range(24), fill_value=0).sort_index()
        else:
            days = times.dt.floor("D").dropna()
            full = pd.date_range(days.min(), days.max(), freq="D") if len(days) else pd.DatetimeIndex([])
            series = days.value_counts().reindex(full, fill_value=0).sort_index()
            series.index = series.index.strftime("%Y-%m-%d")
    else:
        series = df[by].astype("object").dropna().astype(str).value_counts()
        series = series[series > 0].sort_values(ascending=False)
    ax = ax or plt.subplots(figsize=(max(6.0, 0.45 * len(series) + 2), 4))[1]
    if not len(series) or not series.to_numpy().sum():
        ax.set_title(f"{what.capitalize()} by {by}")
        return no_data(ax, f"the frame has no {what}")
    colors = None
    if by == "label":
        palette = label_colors(_labels(df))
        colors = [palette[str(x)] for x in series.index]
    bars = ax.bar([str(x) for x in series.index], series.to_numpy(), color=colors or "tab:blue")
    ax.bar_label(bars, labels=[str(v) if v else "" for v in series.to_numpy()], fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel({"hour": "hour of day (camera clock)", "day": "day"}.get(by, by))
    ax.set_ylabel(f"number of {what}")
    ax.set_title(f"{what.capitalize()} by {by}")
    if by == "day" or len(series) > 8 or max((len(str(x)) for x in series.index), default=0) > 10:
        ax.tick_params(axis="x", labelrotation=45)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
    if by == "day" and len(series) > 31:  # keep dates readable: about 15 labels
        step = math.ceil(len(series) / 15)
        for i, t in enumerate(ax.get_xticklabels()):
            t.set_visible(i % step == 0)
    ax.margins(y=0.12)
    ax.figure.tight_layout()
    return ax


def score_histogram(
    df: pd.DataFrame, threshold: float | None = None, ax: Axes | None = None, *, bins: int = 20
) -> Axes:
    """Histogram of detection scores over 0..1, with ``threshold`` (if given) marked and the boxes at or
    above it counted in the legend."""
    require(df, "score", "score_histogram()", "a detections frame (toolkit.load.detections) has them")
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    scores = df["score"].dropna().to_numpy(dtype=float)
    if not len(scores):
        ax.set_title("Detection scores")
        return no_data(ax, "the frame has no detections")
    ax.hist(scores, bins=np.linspace(0, 1, bins + 1), color="tab:blue", edgecolor="white")
    if threshold is not None:
        above = int((scores >= threshold).sum())
        ax.axvline(
            threshold,
            color="tab:red",
            linestyle="--",
            linewidth=2,
            label=f"threshold {threshold:g}: {above} of {len(scores)} boxes at or above",
        )
        ax.legend(loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_xlabel("score")
    ax.set_ylabel("number of detections")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Detection scores")
    ax.figure.tight_layout()
    return ax


def _labels(df: pd.DataFrame) -> list[str]:
    """All labels of the frame a slice came from (a categorical keeps them), so colours agree across plots."""
    col = df["label"] if "label" in df.columns else pd.Series([], dtype=object)
    values = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else col.dropna().unique()
    return [str(c) for c in values]


def _open(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray):
        return Image.fromarray(image)
    with Image.open(image) as img:
        return ImageOps.exif_transpose(img).convert("RGB")


def _resolve(file: str, images: Any) -> str:
    if images is None:
        return file
    if isinstance(images, pd.DataFrame):
        known = set(images["file"].dropna().astype(str))
        return file if file in known else next((f for f in known if f.endswith("/" + file)), file)
    if isinstance(images, Mapping):
        return str(images.get(file, file))
    return str(Path(images) / file)
