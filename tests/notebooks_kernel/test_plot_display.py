"""Every public plot function, run by a real kernel (nbclient) as a notebook cell's last line, draws one figure:
one ``image/png`` output per cell, not the inline backend's plus ``Out[]``'s. The frames come from real sandbox
jobs (made here, pickled for the kernel); the cells are written as a user would write them."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import toolkit.plot
from tests.helpers import scene_image
from tests.load.test_authenta_faces_load import PICTURES, poll_faces, run_authenta, submit_faces
from tests.load.test_claid_jobs_load import claid_tasks
from tests.load.test_sateais_load import JOBS, record, run_jobs
from toolkit import load
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace

SETUP = """\
import pickle
import matplotlib.pyplot as plt
import toolkit as tk
frames = pickle.load(open("frames.pkl", "rb"))
det, feats, verdicts, images, faces, jobs = (frames[k] for k in ("det", "feats", "verdicts", "images", "faces", "jobs"))
df = det
first = det[det["file"] == det["file"].iloc[0]]"""

#: (cell source, images it must show) -- each public plot function as the cell's value, then the other ways a
#: figure-level plot is used: assigned, silenced with ';', shown again later, display()ed, saved, as SVG
CELLS = [
    ("tk.plot.boxes(first['file'].iloc[0], first)", 1),
    ("tk.plot.gallery(df, n=12)", 1),  # README's line
    ("tk.plot.counts(det, by='camera')", 1),
    ("tk.plot.score_histogram(det, threshold=0.5)", 1),
    ("tk.plot.detections_map(feats)", 1),
    ("tk.plot.sizes(feats)", 1),
    ("tk.plot.verdict_distribution(verdicts)", 1),
    ("tk.plot.before_after(images)", 1),
    ("tk.plot.enrollment_summary(faces)", 1),
    ("tk.plot.timeline(jobs)", 1),
    ("fig = tk.plot.gallery(det, n=4)\nfig.suptitle('assigned, then retitled')", 1),
    ("tk.plot.before_after(images);", 1),
    ("fig", 1),  # the figure of two cells up, shown again on request
    ("pair = tk.plot.sizes(feats)\ndisplay(pair)\nprint('after display()')", 1),
    ("fig, axes = plt.subplots(1, 2)\ntk.plot.sizes(feats, ax=axes)", 1),  # the caller's figure, drawn once
    ("g = tk.plot.gallery(det, n=2)\ng.savefig('g.png')\nplt.close(g)", 0),  # closed by the user: not shown
]
SVG = ("%config InlineBackend.figure_formats = ['svg']\ntk.plot.gallery(det, n=2)", 1)


def frames(root: Path) -> dict:
    """One small result of each kind from a sandbox: detections (with their pictures), SateAIs features, Authenta
    verdicts, Claid images (with their files), face rows, and the workspace's jobs."""
    imgs = root / "imgs"
    imgs.mkdir(parents=True)
    for i in range(4):
        (imgs / f"CAM0{i % 2 + 1}_2026061{i}_031500.jpg").write_bytes(scene_image(i, size=(320, 240), objects=2))
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001, runtimes={"sateais": 300})) as sb:
        ws = Workspace(root / "ws", sandbox=sb, quiet=True)
        det = load.detections(ws.animaldetect.detect(imgs, threshold=0.05).wait(timeout=60))
        kinds = ("ship", "oilslick", "newbuilding")
        runs = run_jobs(sb, {k: JOBS[k] for k in kinds})
        auth = [(1, {"original": (scene_image(10 + i), "image/jpeg")}) for i in range(4)]
        details = [r["detail"] for r in run_authenta(sb, auth)]
        (root / "claid").mkdir()
        images = load.images(claid_tasks(sb, root / "claid"))
        done = submit_faces(sb, sb.tenant("faces").collection, PICTURES, [f"e-{i}" for i in range(len(PICTURES))])
        faces = load.faces([poll_faces(sb, done["job_id"])])
        jobs = load.jobs(ws)
    return {
        "det": det,
        "feats": load.features([record(k, runs[k]) for k in kinds]),
        "verdicts": load.verdicts(details),
        "images": images,
        "faces": faces,
        "jobs": jobs,
        "made": date.today(),
    }


def pngs(cell) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.outputs)


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> nbformat.NotebookNode:
    root = tmp_path_factory.mktemp("plot-display")
    (root / "frames.pkl").write_bytes(pickle.dumps(frames(root)))
    sources = [SETUP, *(src for src, _ in CELLS), SVG[0]]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(root)}}).execute()
    return nb


def test_every_public_plot_function_is_run_as_a_cell_value():
    public = {n for n in toolkit.plot.__all__ if callable(getattr(toolkit.plot, n)) and n[0].islower()}
    called = {n for src, _ in CELLS[:10] for n in public if src.startswith(f"tk.plot.{n}(")}
    assert called == public - {"for_provider"}


@pytest.mark.parametrize("index", range(len(CELLS)), ids=[src.splitlines()[0][:40] for src, _ in CELLS])
def test_each_cell_shows_its_figure_once(executed, index):
    cell = executed.cells[1 + index]
    assert not [o for o in cell.outputs if o["output_type"] == "error"], cell.outputs
    assert pngs(cell) == CELLS[index][1], [(o["output_type"], list(o.get("data", {}))) for o in cell.outputs]
    if CELLS[index][1]:  # the one image is a real figure, not an empty canvas
        png = next(o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {}))
        assert len(png) > 10_000


def test_svg_figures_are_shown_once_too(executed):
    cell = executed.cells[-1]
    kinds = [k for o in cell.outputs for k in o.get("data", {}) if k.startswith("image/")]
    assert kinds == ["image/svg+xml"], cell.outputs
