"""JupyterLab in Debian's chromium (Playwright): the monitor updates live while later cells run.

Starts JupyterLab on 127.0.0.1 over a temporary folder holding ``monitor.ipynb`` (written below), runs all
cells from the Run menu, and reads the page. Screenshot: ``test-output/browser/monitor.png``.
"""

from __future__ import annotations

import json
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
N = 24
CELLS = [
    """\
from pathlib import Path
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace
# jobs take ~2 s each here (time scale 0.5), so the batch runs for several seconds
sb = Sandbox(SandboxConfig(port=0, data_dir=Path("sandbox"), time_scale=0.5, seed=7,
                           faults={"animaldetect": {"fail": 0.15}})).start()
ws = Workspace(".toolkit", sandbox=sb, quiet=True)""",
    """\
b = ws.animaldetect.detect("camera_traps")
b""",
    """\
import time
print(f"later cell ran at {time.strftime('%H:%M:%S')}: batch done = {b.done}")""",
    """\
import json
b.wait(timeout=120)  # kernel busy; the monitor still updates
print("final counts", json.dumps({k: v for k, v in b.status_counts().items() if v}))""",
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab serving ``tmp_path/root``; yields (notebook URL, root). Killed at teardown."""
    root = tmp_path / "root"
    write_images(root / "camera_traps", N - 1)
    (root / "camera_traps" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 64)  # rejected before sending
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / "monitor.ipynb")
    with jupyterlab(root, tmp_path, "monitor.ipynb", {"TOOLKIT_SANDBOX_TIME_SCALE": "0.5"}) as url:
        yield url, root


def monitor_text(page: Page) -> str:
    loc = page.locator(".toolkit-monitor").first
    return loc.inner_text(timeout=1000) if loc.count() else ""


def test_monitor_updates_live_in_jupyterlab_while_later_cells_run(lab):
    url, _root = lab
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 820})
            page.set_default_timeout(30_000)
            open_notebook(page, url)
            run_all(page, len(CELLS))

            later = page.locator(".jp-OutputArea-output", has_text="later cell ran at")
            later.wait_for(timeout=60_000)
            page.locator(".toolkit-monitor").first.wait_for(timeout=5_000)
            at_later = monitor_text(page)
            page.locator(".jp-NotebookPanel").screenshot(path=str(OUT / "monitor-running.png"))
            assert "batch done = False" in later.inner_text()
            # the monitor was on the page, not finished, when the later cell had already printed
            assert "animaldetect · detect" in at_later and f"{N - 1}/{N - 1} done" not in at_later, at_later

            seen: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                text = monitor_text(page)
                if not seen or text != seen[-1]:
                    seen.append(text)
                if f"{N - 1}/{N - 1} done" in text:
                    break
                time.sleep(0.2)
            final = seen[-1]
            assert f"{N - 1}/{N - 1} done" in final, seen[-3:]
            ok = int(re.search(r"(\d+) succeeded", final).group(1))
            bad = int(m.group(1)) if (m := re.search(r"(\d+) failed", final)) else 0
            assert ok > 0 and ok + bad == N - 1 and "1 rejected" in final
            printed = page.locator(".jp-OutputArea-output", has_text="final counts")
            printed.wait_for(timeout=10_000)
            counts = json.loads(printed.inner_text().split("final counts", 1)[1])
            assert f"{counts['succeeded']} succeeded" in final and counts.get("failed", 0) == bad
            progress = {int(m.group(1)) for t in seen if (m := re.search(rf"(\d+)/{N - 1} done", t))}
            assert len(progress - {0, N - 1}) >= 2, seen  # it moved through intermediate states, live
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=10_000)
            page.wait_for_timeout(400)  # let the last repaint land before the picture
            page.locator(".jp-NotebookPanel").screenshot(path=str(OUT / "monitor.png"))
            (OUT / "monitor.txt").write_text(f"{final}\n\nstates seen: {len(seen)}\n")
        except Exception:
            if page is not None:
                page.screenshot(path=str(OUT / "failure.png"))  # what the page showed when the test gave up
            raise
        finally:
            browser.close()
