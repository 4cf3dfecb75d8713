"""Plots over SateAIs features, Authenta verdicts and face enrollment rows built from real sandbox output.

Each test checks what was drawn (paths, points, bar sizes, legend, lines, limits) and saves the figure as a
PNG under test-output/plots/ for a look.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import shapely  # noqa: E402

from tests.helpers import scene_image  # noqa: E402
from tests.load.test_authenta_faces_load import PICTURES, poll_faces, run_authenta, submit_faces  # noqa: E402
from tests.load.test_sateais_load import JOBS, SEA_AOI, record, run_jobs  # noqa: E402
from toolkit.load import faces, features, verdicts  # noqa: E402
from toolkit.plot import detections_map, enrollment_summary, sizes, verdict_distribution  # noqa: E402
from toolkit.sandbox import Sandbox, SandboxConfig  # noqa: E402
from toolkit.sandbox.engines.faces import synthetic_faces  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "test-output" / "plots"
MAP_TYPES = ("ship", "oilslick", "newbuilding", "disappearbuilding")


def save(fig, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    assert path.stat().st_size > 10_000
    return path


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("plots")
    faces_a = synthetic_faces(3, seed=7)
    auth_jobs = [(1, {"original": (scene_image(i), "image/jpeg")}) for i in range(5)]
    auth_jobs += [(1, {"original": (f, "image/png" if f[:4] == b"\x89PNG" else "image/jpeg")}) for f in faces_a]
    auth_jobs += [(5, {"original": (scene_image(10 + i, objects=3), "image/jpeg")}) for i in range(4)]
    auth_jobs += [(7, {"original": (faces_a[0], "image/png" if faces_a[0][:4] == b"\x89PNG" else "image/jpeg")})]
    auth_jobs += [(1, {"original": (b"\xff\xd8\xff\xe0 broken" * 8, "image/jpeg")})]
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001, runtimes={"sateais": 300})) as sb:
        runs = run_jobs(sb, {k: JOBS[k] for k in MAP_TYPES})
        details = [r["detail"] for r in run_authenta(sb, auth_jobs)]
        t = sb.tenant("faces")
        done = submit_faces(sb, t.collection, PICTURES, [f"emp-{i:03d}" for i in range(len(PICTURES))])
        bad = submit_faces(sb, "gone", PICTURES[:2], ["g-1", "g-2"])
        bodies = [poll_faces(sb, done["job_id"]), poll_faces(sb, bad["job_id"])]
    pending = {
        "job_id": "job-late",
        "input": "late",
        "status": "running",
        "result": None,
        "meta": {"rows": [{"index": 50 + i, "external_id": f"late-{i}", "file": "x"} for i in range(3)]},
    }
    return {
        "features": features([record(k, runs[k]) for k in MAP_TYPES]),
        "verdicts": verdicts(details),
        "faces": faces(bodies + [pending]),
    }


def test_detections_map_draws_every_feature_over_the_aoi(frames):
    g = frames["features"]
    ax = detections_map(g)
    drawn = [c for c in ax.collections if c.get_gid() == "detections"]
    assert sum(len(c.get_paths()) for c in drawn) == len(g)
    counts = g["class"].astype(str).value_counts()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"{c} ({counts[c]})" for c in dict.fromkeys(g["class"].astype(str))] + ["area of interest"]
    aoi = [c for c in ax.collections if c.get_gid() == "aoi"]
    assert len(aoi) == 1
    verts = np.vstack([p.vertices for p in aoi[0].get_paths()])
    np.testing.assert_allclose([*verts.min(axis=0), *verts.max(axis=0)], shapely.from_wkt(SEA_AOI).bounds)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert x0 <= 139.7 and x1 >= 139.9 and y0 <= 35.4 and y1 >= 35.6
    assert "Longitude" in ax.get_xlabel() and "Latitude" in ax.get_ylabel()
    width = 0.2  # the AOI's extent, larger than any detection's
    b = g.geometry.bounds
    small = int((np.maximum(b.maxx - b.minx, b.maxy - b.miny) < 0.01 * width).sum())
    markers = [c for c in ax.collections if c.get_gid() == "markers"]
    assert sum(len(c.get_offsets()) for c in markers) == small
    assert ax.get_title().startswith(f"{len(g)} detections")
    save(ax.figure, "detections_map")


def test_detections_map_into_given_axes_with_explicit_aoi(frames):
    ships = frames["features"][frames["features"]["class"] == "ship"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    ax = detections_map(ships, aoi=SEA_AOI, ax=axes[1])
    assert ax is axes[1] and not axes[0].collections
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"ship ({len(ships)})", "area of interest"]
    assert sum(len(c.get_paths()) for c in ax.collections if c.get_gid() == "detections") == len(ships)
    empty = detections_map(frames["features"].iloc[:0], ax=axes[0])
    assert empty.get_title() == "0 detections" and not [c for c in empty.collections if c.get_gid() == "detections"]
    save(fig, "detections_map_ships")


def test_sizes_histograms_count_every_feature(frames):
    g = frames["features"]
    fig = sizes(g)
    lengths_ax, areas_ax = fig.axes
    lengths = g.loc[g["class"] == "ship", "length_m"]
    bars = [p for p in lengths_ax.patches if p.get_gid() == "ship_length"]
    assert sum(p.get_height() for p in bars) == len(lengths) > 0
    assert bars[0].get_x() == pytest.approx(lengths.min()) and bars[-1].get_x() + bars[-1].get_width() == pytest.approx(
        lengths.max()
    )
    assert areas_ax.get_xscale() == "log"
    steps = {p.get_gid(): p for p in areas_ax.patches}
    classes = [c for c in dict.fromkeys(g["class"].astype(str))]
    assert list(steps) == [f"area:{c}" for c in classes]
    for c in classes:
        verts = steps[f"area:{c}"].get_path().vertices
        heights = verts[1 : 2 * 20 : 2, 1]  # stepfilled outline: (edge, count) pairs, 20 bins
        assert heights.sum() == (g["class"] == c).sum()
    assert [t.get_text() for t in areas_ax.get_legend().get_texts()][0] == f"ships (n={len(lengths)})"
    save(fig, "sizes")
    one = plt.figure().add_subplot()
    assert sizes(g, ax=one) is one.figure and one.get_xscale() == "log"
    plt.close(one.figure)


def test_verdict_distribution_points_threshold_and_labels(frames):
    v = frames["verdicts"]
    ax = verdict_distribution(v)
    scored = v[v["fake_confidence"].notna()]
    tasks = list(dict.fromkeys(scored["task"].astype(str)))
    assert tasks == ["ai-image-detection", "image-forgery-detection"]  # liveness has no fake confidence
    for task in tasks:
        pts = [c for c in ax.collections if c.get_gid() == f"verdicts:{task}"][0].get_offsets()
        expected = scored.loc[scored["task"] == task, "fake_confidence"].to_numpy(float)
        np.testing.assert_allclose(np.asarray(pts)[:, 0], expected)
    line = [ln for ln in ax.lines if ln.get_gid() == "threshold"][0]
    assert list(line.get_xdata()) == [0.5, 0.5]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("ai-image-detection\n(n=8, 1 not succeeded)")
    assert labels[1] == "image-forgery-detection\n(n=4)"
    assert ax.get_xlim() == pytest.approx((-0.03, 1.03))
    assert f"{len(scored)} scored, {int(scored['is_fake'].sum())} judged fake" in ax.get_title()
    save(ax.figure, "verdict_distribution")
    fig, given = plt.subplots()
    assert verdict_distribution(v, ax=given) is given
    plt.close(fig)


def test_enrollment_summary_bars_equal_the_counts(frames):
    f = frames["faces"]
    ax = enrollment_summary(f)
    names = [t.get_text() for t in ax.get_yticklabels()]
    widths = [p.get_width() for p in ax.patches]
    failed = f[f["success"] == False]  # noqa: E712
    codes = failed["error_code"].astype(str).value_counts()
    assert names == ["enrolled", *codes.index, "not finished"]
    assert widths == [int((f["success"] == True).sum()), *codes.tolist(), int(f["success"].isna().sum())]  # noqa: E712
    assert widths == [4, 2, 1, 1, 1, 3]
    assert [t.get_text() for t in ax.texts] == [str(w) for w in widths]
    assert ax.get_title() == f"Face enrollment: {len(f)} rows, 4 enrolled, 5 failed, 3 not finished"
    save(ax.figure, "enrollment_summary")
    fig, given = plt.subplots()
    done_only = f[f["success"].notna()]
    assert enrollment_summary(done_only, ax=given) is given
    assert [t.get_text() for t in given.get_yticklabels()][-1] != "not finished"
    plt.close(fig)
