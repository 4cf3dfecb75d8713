"""JupyterLab in Debian's chromium (Playwright): each figure kind as a reader sees it, and the first-hour mistakes
of issue #16 (a missing path, a mistyped option, a loader called before the batch settled).

Figures come from frames of real sandbox jobs (made by ``tests/notebooks_kernel/test_plot_display.frames``);
the mistakes run against a sandbox in the kernel. Every cell is screenshotted into
``test-output/screenshots/``; what each mistake showed is written to ``mistakes.txt`` there.
"""

from __future__ import annotations

import json
import pickle
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, jupyterlab, open_notebook, run_all
from tests.notebooks_kernel.test_plot_display import frames
from tests.widgets.test_monitor import write_images

OUT = ROOT / "test-output" / "screenshots"
SETUP = """\
import pickle
from pathlib import Path
import toolkit as tk
from toolkit.sandbox import Sandbox, SandboxConfig
f = pickle.load(open("frames.pkl", "rb"))
det, feats, verdicts, images, faces, jobs = (f[k] for k in ("det", "feats", "verdicts", "images", "faces", "jobs"))
# jobs take ~2 s each here (time scale 0.5): a loader called at once meets an unsettled batch
sb = Sandbox(SandboxConfig(port=0, data_dir=Path("sandbox"), time_scale=0.5, seed=3)).start()
ws = tk.Workspace(".toolkit", sandbox=sb)"""
#: (screenshot name, cell) for each figure kind, each drawn as a cell's value (one image expected)
FIGURES = [
    ("gallery", "tk.plot.gallery(det, n=8)"),
    ("boxes", "one = det[det['file'] == det['file'].iloc[0]]\ntk.plot.boxes(one['file'].iloc[0], one)"),
    ("counts", "tk.plot.counts(det, by='camera')"),
    ("score_histogram", "tk.plot.score_histogram(det, threshold=0.8)"),
    ("detections_map", "tk.plot.detections_map(feats)"),
    ("sizes", "tk.plot.sizes(feats)"),
    ("verdicts", "tk.plot.verdict_distribution(verdicts)"),
    ("before_after", "tk.plot.before_after(images)"),
    ("enrollment", "tk.plot.enrollment_summary(faces)"),
    ("timeline", "tk.plot.timeline(jobs)"),
]
#: (screenshot name, cell, what the issue asks the page to show) -- run one by one: each may raise
MISTAKES = [
    ("missing_path", 'b = ws.animaldetect.detect("camera_trap/")', "PreflightError"),
    ("mistyped_option", 'b = ws.animaldetect.detect("camera_traps/", threshhold=0.3)', "InvalidOption"),
    ("unsettled_loader", 'b = ws.animaldetect.detect("camera_traps/")\nb.detections()', "UnsettledBatch"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "root"
    write_images(root / "camera_traps", 6)
    (root / "frames.pkl").write_bytes(pickle.dumps(frames(tmp_path / "frames")))
    sources = [SETUP, *(c for _, c in FIGURES), *(c for _, c, _ in MISTAKES)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / "figures.ipynb")
    # every cell stays in the page (no virtual scrolling), so each can be found and photographed
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    with jupyterlab(root, tmp_path, "figures.ipynb") as url:
        yield url


def cell(page: Page, index: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def wait_ran(page: Page, index: int, timeout: float = 120) -> None:
    """Until the cell's prompt shows an execution count (it finished)."""
    prompt = cell(page, index).locator(".jp-InputArea-prompt")
    deadline = time.monotonic() + timeout
    while not re.search(r"\[\d+\]", prompt.inner_text()):
        assert time.monotonic() < deadline, f"cell {index} did not finish"
        page.wait_for_timeout(200)


def test_figures_and_first_hour_mistakes_in_jupyterlab(lab):
    OUT.mkdir(parents=True, exist_ok=True)
    n_fig = len(FIGURES)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500})  # the tallest figure fits
            page.set_default_timeout(30_000)
            open_notebook(page, lab)
            run_all(page, 1 + n_fig + len(MISTAKES))  # stops at the first mistake that raises
            for i in range(1 + n_fig):
                wait_ran(page, i)
            cell(page, 0).screenshot(path=str(OUT / "setup.png"))  # what the first submit-free cell shows
            for i, (name, _) in enumerate(FIGURES, 1):
                c = cell(page, i)
                c.scroll_into_view_if_needed()
                imgs = c.locator(".jp-OutputArea-output img")
                imgs.first.wait_for(timeout=30_000)
                assert imgs.count() == 1, f"{name}: {imgs.count()} images"  # drawn once, here too
                box = imgs.first.bounding_box()
                assert box and box["width"] > 300 and box["height"] > 150, (name, box)
                assert not c.locator("[data-mime-type='application/vnd.jupyter.stderr']").count(), name
                c.screenshot(path=str(OUT / f"figure-{name}.png"))

            report = []
            for j, (name, _, expected) in enumerate(MISTAKES, 1 + n_fig):
                c = cell(page, j)
                if not re.search(r"\[\d+\]", c.locator(".jp-InputArea-prompt").inner_text()):
                    c.locator(".jp-InputArea-editor").click()  # Run All stopped at an earlier error: run it
                    page.keyboard.press("Shift+Enter")
                wait_ran(page, j)
                page.wait_for_timeout(300)
                shown = c.locator(".jp-OutputArea").inner_text()
                c.screenshot(path=str(OUT / f"mistake-{name}.png"))
                assert shown.strip(), f"{name}: the page shows nothing at all for this mistake"
                first = next((ln for ln in shown.splitlines() if expected in ln), None)
                report.append(f"{name}: {'OK' if first else 'NOT YET'} ({expected}) -- {first or shown[-400:]!r}")
            (OUT / "mistakes.txt").write_text("\n".join(report) + "\n")
            missing = [r for r in report if ": NOT YET" in r]
            if missing:  # the errors come with other helpers' work: reported, not skipped
                warnings.warn("first-hour mistakes not answered yet:\n" + "\n".join(missing), stacklevel=1)
            page.locator(".jp-NotebookPanel").screenshot(path=str(OUT / "notebook-end.png"))
        except Exception:
            if page is not None:
                page.screenshot(path=str(OUT / "failure.png"))
            raise
        finally:
            browser.close()
