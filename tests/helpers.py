"""Helpers shared by tests: HTTP clients on a sandbox, its stats, synthetic images, saving figures, and
JupyterLab driven by Debian's chromium."""

from __future__ import annotations

import io
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

from toolkit.sandbox import Sandbox


def api(sb: Sandbox, provider: str, key: str | None = None, **kw) -> httpx.Client:
    """An httpx client on a provider's base URL with its (demo) key as a Bearer token."""
    headers = {"Authorization": f"Bearer {key or sb.key(provider)}"}
    return httpx.Client(base_url=sb.base_url(provider), headers=headers, timeout=10, **kw)


def stats(sb: Sandbox) -> dict:
    return httpx.get(sb.url + "/__sandbox__/stats").json()


def scene_image(seed: int = 0, size: tuple[int, int] = (640, 480), objects: int = 2, fmt: str = "JPEG") -> bytes:
    """A camera-trap-like picture: a lit gradient with sensor noise and ``objects`` solid shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(60, 120, w)[None, :, None] * np.ones((h, 1, 3)) + rng.normal(0, 6, (h, w, 3))
    img = Image.fromarray(base.clip(0, 255).astype("uint8"))
    d = ImageDraw.Draw(img)
    for i in range(objects):
        slot = w // max(objects, 1)  # one column per object so shapes never touch
        x = i * slot + int(rng.integers(0, max(1, slot - w // 5)))
        y = int(rng.integers(h // 4, h * 3 // 4 - h // 6))
        if i % 2 == 0:
            d.ellipse((x, y, x + w // 5, y + h // 6), fill=(190, 90, 30))
        else:
            d.rectangle((x, y, x + w // 16, y + h // 4), fill=(30, 30, 30))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


# -- figures --------------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
PLOTS = ROOT / "test-output" / "plots"


def save_figure(fig_or_ax: Any, name: str, dpi: int = 90) -> Path:
    """Save a Figure (or an Axes' figure) as ``test-output/plots/<name>.png`` for a look, and close it."""
    import matplotlib.pyplot as plt

    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    PLOTS.mkdir(parents=True, exist_ok=True)
    path = PLOTS / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    assert path.stat().st_size > 5_000
    return path


# -- JupyterLab in Debian's chromium (Playwright) ----------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(root: Path, state: Path, notebook: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 serving ``root`` (its settings and runtime files under ``state``); yields the URL
    of ``notebook`` with its token. Stopped (SIGTERM, which shuts its kernels down) on exit."""
    settings = state / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})
    )
    token, port = secrets.token_hex(16), free_port()
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        **(env or {}),
    }
    log_path = state / "lab.log"
    with open(log_path, "wb") as log:
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
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/api/status", params={"token": token}, timeout=2)
                    if status.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "JupyterLab did not start in 60 s"
                time.sleep(0.25)
            yield f"http://127.0.0.1:{port}/lab/tree/{notebook}?token={token}"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def open_notebook(page: Any, url: str) -> None:
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


def run_all(page: Any, cells: int, attempts: int = 3) -> None:
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
