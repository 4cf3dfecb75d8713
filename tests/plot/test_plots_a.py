"""Plots over real sandbox results: what was drawn (boxes, bars, spans, limits, labels), saved as PNGs under
test-output/plots/ for a look."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from tests.helpers import scene_image  # noqa: E402
from tests.load.test_claid_jobs_load import claid_tasks  # noqa: E402
from toolkit import load, plot  # noqa: E402
from toolkit.client.model import Job, Status  # noqa: E402
from toolkit.plot.timeline import STATUS_COLORS  # noqa: E402
from toolkit.sandbox import Sandbox, SandboxConfig  # noqa: E402
from toolkit.workspace import Workspace  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "test-output" / "plots"


def save(fig_or_ax, name: str) -> Path:
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / name, dpi=80)
    plt.close(fig)
    return OUT / name


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    imgs = root / "imgs"
    imgs.mkdir()
    stamps = [
        "20260610_031522",
        "20260610_224501",
        "20260611_051000",
        "20260613_031500",
        "20260613_120000",
        "20260614_231500",
    ]
    for i, stamp in enumerate(stamps):
        (imgs / f"CAM0{i % 3 + 1}_{stamp}.jpg").write_bytes(scene_image(i, size=(480, 360), objects=2 + i % 3))
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001)) as sb:
        ws = Workspace(root / "ws", sandbox=sb, quiet=True)
        batch = ws.animaldetect.detect(imgs, threshold=0.05).wait(timeout=60)
        claid_dir = root / "claid"
        claid_dir.mkdir()
        tasks = claid_tasks(sb, claid_dir)
        yield {"batch": batch, "det": load.detections(batch), "ws": ws, "claid": load.images(tasks)}


def test_boxes_draws_one_rectangle_per_box_above_threshold(run):
    det = run["det"]
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
    save(ax, "boxes.png")
    ax_all = plot.boxes(file, rows)  # no threshold: every box
    assert len([p for p in ax_all.patches if isinstance(p, Rectangle)]) == len(rows)
    plt.close(ax_all.figure)


def test_gallery_shows_the_top_detections_in_score_order(run):
    det = run["det"]
    fig = plot.gallery(det, n=8)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == min(8, len(det))
    scores = [float(ax.get_title().split("\n")[0].rsplit(" ", 1)[1]) for ax in shown]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(det["score"].max(), abs=0.005)
    assert all(len([p for p in ax.patches if isinstance(p, Rectangle)]) == 1 for ax in shown)
    save(fig, "gallery.png")
    # relative names (as from a MegaDetector file) are found through ``images=<folder>``
    relative = det.assign(file=det["file"].astype(str).str.rsplit("/", n=1).str[-1])
    fig2 = plot.gallery(relative, images=Path(str(det["file"].iloc[0])).parent, n=3, crop=False)
    assert len([ax for ax in fig2.axes if ax.images]) == 3
    plt.close(fig2)
    fig3 = plot.gallery(relative, n=2)  # not found: a placeholder panel, still titled
    assert not any(ax.images for ax in fig3.axes)
    assert [t.get_text() for ax in fig3.axes for t in ax.texts] == ["image not found"] * 2
    plt.close(fig3)


@pytest.mark.parametrize("by", ["label", "camera", "hour", "day"])
def test_counts_bar_heights_equal_the_counts(run, by):
    det = run["det"]
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
    save(ax, f"counts_{by}.png")


def test_counts_of_an_images_table_counts_images(run):
    t = load.images_table(run["batch"])
    ax = plot.counts(t, by="camera")
    assert ax.get_ylabel() == "number of images" and sum(p.get_height() for p in ax.patches) == len(t)
    plt.close(ax.figure)


def test_score_histogram_marks_the_threshold(run):
    det = run["det"]
    ax = plot.score_histogram(det, threshold=0.5)
    assert sum(p.get_height() for p in ax.patches) == len(det)
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [0.5, 0.5] and ax.get_xlim() == (0, 1)
    n_above = int((det["score"] >= 0.5).sum())
    assert ax.get_legend().get_texts()[0].get_text() == f"threshold 0.5: {n_above} of {len(det)} boxes at or above"
    assert ax.get_xlabel() == "score" and ax.get_ylabel() == "number of detections"
    save(ax, "score_histogram.png")


def test_before_after_pairs_inputs_and_outputs(run):
    df = run["claid"]
    fig = plot.before_after(df, n=4)
    pictures = [ax for ax in fig.axes if ax.images]
    assert len(pictures) == 4  # two tasks with a downloaded output (the third failed), two panels each
    titles = [ax.get_title() for ax in pictures]
    assert titles[:2] == ["before: 160×120 PNG", "after: 400×300 PNG"] and titles[3] == "after: 64×64 JPEG"
    assert pictures[1].images[0].get_array().shape[:2] == (300, 400)
    save(fig, "before_after.png")


def test_timeline_spans_match_the_job_times():
    t0 = 1_780_000_000.0
    jobs = [
        Job(
            f"k{i}",
            "sateais",
            "ship",
            f"/data/aoi/harbour-{i}.geojson",
            "b-1",
            job_id=f"j{i}",
            status=s,
            created_at=t0 + i,
            started_at=t0 + 30 + 20 * i if s != Status.FAILED else None,
            finished_at=t0 + 300 + 60 * i if s != Status.RUNNING else None,
        )
        for i, s in enumerate([Status.SUCCEEDED, Status.SUCCEEDED, Status.FAILED, Status.RUNNING])
    ]
    df = load.jobs(jobs)
    now = pd.Timestamp(t0 + 500, unit="s", tz="UTC")
    ax = plot.timeline(df, now=now)
    spans = {}
    for p in ax.patches:
        spans.setdefault(p.get_gid(), []).append(p)
    assert len(spans["span:queued"]) == 3 and len(spans["span:running"]) == 3 and len(spans["span:unsplit"]) == 1
    assert ax.get_xlabel() == "time since the first job was created (min)"
    first_run = min(spans["span:running"], key=lambda p: p.get_y())
    assert first_run.get_x() == pytest.approx(30 / 60) and first_run.get_width() == pytest.approx(270 / 60)
    failed = spans["span:unsplit"][0]
    assert np.allclose(failed.get_facecolor()[:3], matplotlib.colors.to_rgb(STATUS_COLORS["failed"]))
    assert failed.get_width() == pytest.approx((420 - 2) / 60)
    still = max(spans["span:running"], key=lambda p: p.get_y())  # unfinished: runs to "now"
    assert still.get_x() + still.get_width() == pytest.approx(500 / 60)
    assert [t.get_text() for t in ax.get_yticklabels()][0].endswith("harbour-0.geojson")
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"succeeded", "failed", "running"}
    save(ax, "timeline_synthetic.png")


def test_timeline_of_a_real_batch(run):
    df = load.jobs(run["ws"])
    ax = plot.timeline(df)
    bars = [p for p in ax.patches if str(p.get_gid()).startswith("span:")]
    n_split = int(df["started_at"].notna().sum())
    assert len(bars) == 2 * n_split + (len(df) - n_split) and ax.get_title() == f"Job timeline ({len(df)} jobs)"
    assert ax.get_xlabel().endswith("(s)")
    save(ax, "timeline_batch.png")


def test_timeline_of_many_jobs_drops_the_job_labels():
    rng = np.random.default_rng(4)
    t0 = 1_780_000_000.0
    created = t0 + np.sort(rng.uniform(0, 600, 120))
    started = created + rng.uniform(5, 300, 120)
    finished = started + rng.uniform(60, 1800, 120)
    status = rng.choice(["succeeded", "failed", "expired"], 120, p=[0.85, 0.1, 0.05])
    df = pd.DataFrame(
        {
            "input": [f"aoi-{i}" for i in range(120)],
            "status": status,
            "created_at": pd.to_datetime(created, unit="s", utc=True),
            "started_at": pd.to_datetime(started, unit="s", utc=True),
            "finished_at": pd.to_datetime(finished, unit="s", utc=True),
        }
    )
    ax = plot.timeline(load.jobs(df))
    assert len(ax.get_yticks()) == 0 and ax.get_ylabel() == "120 jobs (by creation time)"
    assert len([p for p in ax.patches if p.get_gid() == "span:running"]) == 120
    assert ax.get_xlim()[1] == pytest.approx((finished.max() - created.min()) / 60 * 1.02)
    save(ax, "timeline_many.png")
