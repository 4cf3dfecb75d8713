"""Camera-trap plots over a real sandbox batch: what was drawn (boxes, bars, limits, labels), saved as PNGs under
test-output/plots/ for a look."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from tests.helpers import save_figure
from toolkit import load, plot
from toolkit.plot._figure import BACKDROP, LABEL_SIZE


def test_boxes_draws_one_rectangle_per_box_above_threshold(camera):
    det = camera["det"]
    file = det["file"].value_counts().idxmax()
    rows = det[det["file"] == file]
    thr = float(rows["score"].median())
    ax = plot.boxes(file, rows, threshold=thr)
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    above = rows[rows["score"] >= thr]
    assert len(rects) == len(above) >= 1 and len(rows) > len(above)
    drawn = sorted((round(r.get_x(), 3), round(r.get_width(), 3)) for r in rects)
    assert drawn == sorted((round(x * 480, 3), round(w * 480, 3)) for x, w in zip(above["x"], above["w"]))
    texts = [t.get_text() for t in ax.texts]
    assert sorted(texts) == sorted(f"{lab} {s:.2f}" for lab, s in zip(above["label"], above["score"]))
    assert ax.get_xlim() == (0, 480) and ax.get_ylim() == (360, 0)  # image coordinates, origin top-left
    assert Path(file).name in ax.get_title()
    save_figure(ax, "boxes")
    ax_all = plot.boxes(file, rows)  # no threshold: every box
    assert len([p for p in ax_all.patches if isinstance(p, Rectangle)]) == len(rows)
    plt.close(ax_all.figure)


def test_gallery_shows_the_top_detections_in_score_order_framed_on_grey(camera):
    det = camera["det"]
    fig = plot.gallery(det, n=8)
    assert isinstance(fig, plot.Figure)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == min(8, len(det))
    scores = [float(ax.get_title().split("\n")[0].rsplit(" ", 1)[1]) for ax in shown]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(det["score"].max(), abs=0.005)
    for ax in shown:
        assert len([p for p in ax.patches if p.get_gid() == "box"]) == 1
        frame = [p for p in ax.patches if p.get_gid() == "frame"][0]
        h, w = ax.images[0].get_array().shape[:2]
        assert (frame.get_width(), frame.get_height()) == (w, h)
        x0, x1 = ax.get_xlim()
        assert x0 < 0 and x1 > w  # a margin of backdrop around the picture
        assert ax.get_facecolor()[:3] == pytest.approx(to_rgb(BACKDROP)) and ax.patch.get_visible()
        assert ax.title.get_fontsize() >= LABEL_SIZE
    save_figure(fig, "gallery")
    # relative names (as from a MegaDetector file) are found through ``images=<folder>``
    relative = det.assign(file=det["file"].astype(str).str.rsplit("/", n=1).str[-1])
    fig2 = plot.gallery(relative, images=Path(str(det["file"].iloc[0])).parent, n=3, crop=False)
    assert [ax.images[0].get_array().shape[:2] for ax in fig2.axes if ax.images] == [(360, 480)] * 3
    plt.close(fig2)
    fig3 = plot.gallery(relative, n=2)  # not found: a placeholder panel, still titled
    assert not any(ax.images for ax in fig3.axes)
    assert [t.get_text() for ax in fig3.axes for t in ax.texts] == ["image not found"] * 2
    plt.close(fig3)


@pytest.mark.parametrize("by", ["label", "camera", "hour", "day"])
def test_counts_bar_heights_equal_the_counts(camera, by):
    det = camera["det"]
    ax = plot.counts(det, by=by)
    heights = {t.get_text(): p.get_height() for t, p in zip(ax.get_xticklabels(), ax.patches)}
    if by in ("label", "camera"):
        assert heights == {k: v for k, v in Counter(det[by].astype(str)).items()}
    elif by == "hour":
        assert len(ax.patches) == 24 and sum(heights.values()) == len(det)
        assert heights["3"] == (det["captured_at"].dt.hour == 3).sum()
    else:
        days = det["captured_at"].dt.strftime("%Y-%m-%d")
        assert list(heights) == ["2026-06-10", "2026-06-11", "2026-06-12", "2026-06-13", "2026-06-14"]
        assert heights["2026-06-12"] == 0 and heights["2026-06-10"] == (days == "2026-06-10").sum()
    assert ax.get_ylabel() == "number of detections" and ax.get_xlabel()
    save_figure(ax, f"counts_{by}")


def test_counts_of_an_images_table_counts_images(camera):
    t = load.images_table(camera["batch"])
    ax = plot.counts(t, by="camera")
    assert ax.get_ylabel() == "number of images" and sum(p.get_height() for p in ax.patches) == len(t)
    plt.close(ax.figure)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_score_histogram_marks_the_threshold_it_is_given(camera, threshold):
    det = camera["det"]
    ax = plot.score_histogram(det, threshold=threshold)
    assert sum(p.get_height() for p in ax.patches) == len(det)
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [threshold, threshold] and ax.get_xlim() == (0, 1)
    n_above = int((det["score"] >= threshold).sum())
    legend = ax.get_legend().get_texts()[0].get_text()
    assert legend == f"threshold {threshold:g}: {n_above} of {len(det)} boxes at or above"
    assert ax.get_xlabel() == "score" and ax.get_ylabel() == "number of detections"
    save_figure(ax, f"score_histogram_{threshold:g}")
    bare = plot.score_histogram(det)  # no threshold: no line, no legend
    assert not bare.get_lines() and bare.get_legend() is None
    plt.close(bare.figure)
    assert np.isclose(sum(p.get_height() for p in bare.patches), len(det))
