"""Job timelines (from the ledger or a frame): spans at the job times, and a legend whose every entry looks
different. PNGs under test-output/plots/."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from tests.helpers import save_figure
from toolkit import load, plot
from toolkit.client.model import STATUS_CATEGORIES, Job, Status
from toolkit.plot import STATUS_COLORS

T0 = 1_780_000_000.0


def test_timeline_spans_match_the_job_times():
    jobs = [
        Job(
            f"k{i}",
            "sateais",
            "ship",
            f"/data/aoi/harbour-{i}.geojson",
            "b-1",
            job_id=f"j{i}",
            status=s,
            created_at=T0 + i,
            started_at=T0 + 30 + 20 * i if s != Status.FAILED else None,
            finished_at=T0 + 300 + 60 * i if s != Status.RUNNING else None,
        )
        for i, s in enumerate([Status.SUCCEEDED, Status.SUCCEEDED, Status.FAILED, Status.RUNNING])
    ]
    df = load.jobs(jobs)
    now = pd.Timestamp(T0 + 500, unit="s", tz="UTC")
    ax = plot.timeline(df, now=now)
    spans = {}
    for p in ax.patches:
        spans.setdefault(p.get_gid(), []).append(p)
    assert len(spans["span:queued"]) == 3 and len(spans["span:running"]) == 3 and len(spans["span:unsplit"]) == 1
    assert ax.get_xlabel() == "time since the first job was created (min)"
    first_run = min(spans["span:running"], key=lambda p: p.get_y())
    assert first_run.get_x() == pytest.approx(30 / 60) and first_run.get_width() == pytest.approx(270 / 60)
    failed = spans["span:unsplit"][0]
    assert np.allclose(failed.get_facecolor()[:3], to_rgb(STATUS_COLORS["failed"]))
    assert failed.get_width() == pytest.approx((420 - 2) / 60)
    still = max(spans["span:running"], key=lambda p: p.get_y())  # unfinished: runs to "now"
    assert still.get_x() + still.get_width() == pytest.approx(500 / 60)
    assert [t.get_text() for t in ax.get_yticklabels()][0].endswith("harbour-0.geojson")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "succeeded",
        "failed",
        "running",
        "bar: pale while queued,\nsolid while running",
        "hatched: start not observed",
    ]
    save_figure(ax, "timeline_synthetic")


def test_every_status_has_its_own_colour():
    assert list(STATUS_COLORS) == list(STATUS_CATEGORIES)
    assert len({c.lower() for c in STATUS_COLORS.values()}) == len(STATUS_COLORS)


def swatch(handle) -> tuple:
    """What a legend key looks like: its colour over white, alpha applied, and its hatch; tuples part by part."""
    if isinstance(handle, tuple):
        return tuple(swatch(h) for h in handle)
    r, g, b, a = handle.get_facecolor()
    return (round(r * a + 1 - a, 2), round(g * a + 1 - a, 2), round(b * a + 1 - a, 2), handle.get_hatch())


def test_no_two_legend_entries_look_alike():
    """Notebook 06's case: cancelled and running jobs beside the key for the parts of a bar."""
    statuses = ["succeeded", "failed", "expired", "cancelled", "running", "queued", "draft"]
    n = len(statuses)
    created = pd.to_datetime(T0 + np.arange(n) * 10.0, unit="s", utc=True)
    df = pd.DataFrame(
        {
            "input": statuses,
            "status": statuses,
            "created_at": created,
            "started_at": [
                c + pd.Timedelta(seconds=20) if s != "failed" else pd.NaT for c, s in zip(created, statuses)
            ],
            "finished_at": created + pd.Timedelta(seconds=90),
        }
    )
    ax = plot.timeline(df, now=created[-1] + pd.Timedelta(seconds=120))
    legend = ax.get_legend()
    handles = legend.legend_handles
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:n] == statuses and len(labels) == n + 2
    keys = [swatch(h) for h in handles]
    singles = [k for k in keys if not isinstance(k[0], tuple)]
    assert len(set(keys)) == len(keys)
    for a, b in itertools.combinations(singles, 2):  # apart by more than a shade, unless hatched differently
        assert a[3] != b[3] or np.abs(np.subtract(a[:3], b[:3])).max() > 0.1, (a, b)
    assert legend.get_texts()[0].get_fontsize() >= 9
    save_figure(ax, "timeline_every_status")


def test_timeline_of_a_real_batch(camera):
    df = load.jobs(camera["ws"])
    ax = plot.timeline(df)
    bars = [p for p in ax.patches if str(p.get_gid()).startswith("span:")]
    n_split = int(df["started_at"].notna().sum())
    assert len(bars) == 2 * n_split + (len(df) - n_split) and ax.get_title() == f"Job timeline ({len(df)} jobs)"
    assert ax.get_xlabel().endswith("(s)")
    save_figure(ax, "timeline_batch")


def test_timeline_of_many_jobs_drops_the_job_labels():
    rng = np.random.default_rng(4)
    created = T0 + np.sort(rng.uniform(0, 600, 120))
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
    save_figure(ax, "timeline_many")
    plt.close("all")
