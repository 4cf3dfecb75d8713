"""JupyterLab in Debian's chromium (Playwright): the Animal Detect form, typed into and submitted, becomes the live
monitor that reaches "N succeeded", with the code it stands for below. Screenshots: ``test-output/browser/form.png``
(before submitting; committed as ``docs/form.png``) and ``form-submitted.png``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, jupyterlab, open_notebook, run_all
from tests.widgets.test_monitor import write_images

OUT = ROOT / "test-output" / "browser"
N = 12
CELLS = [
    """\
from pathlib import Path
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace
sb = Sandbox(SandboxConfig(port=0, data_dir=Path("sandbox"), time_scale=0.05, seed=3)).start()
ws = Workspace(".toolkit", sandbox=sb, quiet=True)
form = ws.form("animaldetect", "detect")
form""",
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "root"
    write_images(root / "camera_traps", N)
    (root / "camera_traps" / "labels.csv").write_text("file,label\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / "form.ipynb")
    with jupyterlab(root, tmp_path, "form.ipynb") as url:
        yield url


def field(page: Page, label: str) -> object:
    return page.locator(f'.toolkit-form .widget-inline-hbox:has(label:text-is("{label}")) input').first


def test_the_form_submits_from_the_browser_and_becomes_the_monitor(lab):
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(30_000)
            open_notebook(page, lab)
            run_all(page, len(CELLS))
            page.locator(".toolkit-form").first.wait_for(timeout=60_000)
            images = field(page, "images")
            images.fill("camera_traps")
            images.press("Enter")
            line = page.locator(".toolkit-form-preflight")
            line.filter(has_text=f"{N} images, 1 skipped (labels.csv is not an image").wait_for(timeout=30_000)
            threshold = field(page, "threshold")
            threshold.fill("0.5")
            threshold.press("Enter")
            submit = page.locator(".toolkit-form button", has_text="Submit")
            deadline = time.monotonic() + 30
            while submit.is_disabled() and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            page.locator(".jp-NotebookPanel").screenshot(path=str(OUT / "form.png"))
            submit.click()
            monitor = page.locator(".toolkit-monitor").first
            monitor.wait_for(timeout=30_000)
            deadline = time.monotonic() + 120
            while f"{N} succeeded" not in monitor.inner_text() and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert f"{N} succeeded" in monitor.inner_text(), monitor.inner_text()
            code = page.locator(".toolkit-form-code").inner_text()
            assert 'ws.animaldetect.detect("camera_traps", threshold=0.5)' in code and "Copy" in code
            assert re.search(rf"{N}/{N} done", monitor.inner_text())
            page.wait_for_timeout(400)
            page.locator(".jp-NotebookPanel").screenshot(path=str(OUT / "form-submitted.png"))
        except Exception:
            if page is not None:
                page.screenshot(path=str(OUT / "form-failure.png"))
            raise
        finally:
            browser.close()
