"""JupyterLab in Debian's chromium (Playwright): the monitor updates live while later cells run.

Starts JupyterLab on 127.0.0.1 over a temporary folder holding ``monitor.ipynb`` (written below), runs all
cells from the Run menu, and reads the page. Screenshot: ``test-output/browser/monitor.png``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.widgets.test_monitor import write_images

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output" / "browser"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab serving ``tmp_path/root``; yields (notebook URL, root). Killed at teardown."""
    root = tmp_path / "root"
    write_images(root / "camera_traps", N - 1)
    (root / "camera_traps" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 64)  # rejected before sending
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / "monitor.ipynb")
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})
    )
    token, port = secrets.token_hex(16), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "TOOLKIT_SANDBOX_TIME_SCALE": "0.5",
    }
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            f"--IdentityProvider.token={token}",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/api/status", params={"token": token}, timeout=2).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not start in 60 s"
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}/lab/tree/monitor.ipynb?token={token}", root
    finally:
        proc.send_signal(signal.SIGTERM)  # JupyterLab shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


def open_notebook(page: Page, url: str) -> None:
    """Open the notebook and wait until its kernel is connected and idle. JupyterLab shows "idle" before the
    kernel's websocket is up; a Run All sent then is dropped or answered with a kernel dialog."""
    channels: list[str] = []
    page.on("websocket", lambda ws: channels.append(ws.url) if "/channels" in ws.url else None)
    page.goto(url)
    deadline = time.monotonic() + 60
    while not channels:
        assert time.monotonic() < deadline, "the notebook's kernel never connected"
        page.wait_for_timeout(100)
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=60_000)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
    page.wait_for_timeout(1_000)  # kernel_info / comm_info round trips right after connecting


def run_all(page: Page, cells: int, attempts: int = 3) -> None:
    """Run > Run All Cells, and check that every cell was sent to the kernel (its prompt shows [*] or [n])."""
    sent = page.locator(".jp-InputArea-prompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(attempts):
        page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sent.count() < cells:
            page.wait_for_timeout(100)
        if sent.count() == cells:
            return
        dialog = page.locator(".jp-Dialog")
        why = dialog.first.inner_text() if dialog.count() else "no dialog"
        assert sent.count() == 0, f"only {sent.count()} of {cells} cells ran ({why})"
        page.keyboard.press("Escape")  # a dialog (e.g. kernel selection), or the menu: try again
    raise AssertionError("Run All Cells did not start the notebook")


def monitor_text(page: Page) -> str:
    loc = page.locator(".toolkit-monitor").first
    return loc.inner_text(timeout=1000) if loc.count() else ""


def test_monitor_updates_live_in_jupyterlab_while_later_cells_run(lab):
    url, _root = lab
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
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
