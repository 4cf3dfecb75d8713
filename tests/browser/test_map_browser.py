"""JupyterLab in Debian's chromium (Playwright): on the SateAIs ``ship`` form a rectangle is drawn over Malta's
harbour with the map's own rectangle tool, the form plans it (1 new job) and submits it, and the monitor reaches
"1 succeeded" with the WKT in the code below. Screenshot: ``test-output/browser/map.png`` (the drawn area and its
plan; committed as ``docs/map.png``). The results map in the browser is not driven here yet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, jupyterlab, open_notebook, run_all

OUT = ROOT / "test-output" / "browser"
CELLS = [
    """\
import datetime
from pathlib import Path
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace
from toolkit.widgets import features_map
sb = Sandbox(SandboxConfig(port=0, data_dir=Path("sandbox"), time_scale=0.002, seed=3)).start()
ws = Workspace(".toolkit", sandbox=sb, quiet=True)
form = ws.form("sateais", "ship")
form.fields["date"].widget.value = datetime.date(2024, 6, 1)
form.aoi_map.map.center, form.aoi_map.map.zoom = (35.89, 14.515), 13
form""",
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / "map.ipynb")
    with jupyterlab(root, tmp_path, "map.ipynb") as url:
        yield url


def test_a_rectangle_drawn_on_the_sateais_form_is_planned_and_submitted(lab):
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.set_default_timeout(30_000)
            open_notebook(page, lab)
            run_all(page, len(CELLS))
            leaflet = page.locator(".toolkit-aoi-map .leaflet-container").first
            leaflet.wait_for(timeout=60_000)
            page.locator(".toolkit-aoi-map path.leaflet-interactive").first.wait_for(timeout=30_000)  # land
            page.locator(".leaflet-draw-draw-rectangle").first.click()
            box = leaflet.bounding_box()
            assert box is not None
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(cx - 120, cy - 80)
            page.mouse.down()
            page.mouse.move(cx, cy, steps=5)
            page.mouse.move(cx + 120, cy + 80, steps=5)
            page.mouse.up()
            status = page.locator(".toolkit-map-status")
            status.filter(has_text="km²").wait_for(timeout=30_000)
            submit = page.locator(".toolkit-form button", has_text="Submit")
            deadline = time.monotonic() + 30
            while submit.is_disabled() and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            assert "1 " in page.locator(".toolkit-form-preflight").inner_text()
            page.locator(".toolkit-form button", has_text="Plan").click()
            page.get_by_text("1 new job").first.wait_for(timeout=60_000)
            page.locator(".toolkit-form").first.screenshot(path=str(OUT / "map.png"))
            submit.click()
            monitor = page.locator(".toolkit-monitor").first
            monitor.wait_for(timeout=30_000)
            deadline = time.monotonic() + 120
            while "1 succeeded" not in monitor.inner_text() and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert "1 succeeded" in monitor.inner_text(), monitor.inner_text()
            assert "POLYGON ((" in page.locator(".toolkit-form-code").inner_text()
        except Exception:
            if page is not None:
                page.screenshot(path=str(OUT / "map-failure.png"))
            raise
        finally:
            browser.close()
