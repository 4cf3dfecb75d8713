"""Execute notebooks with a real kernel and render them as self-contained, offline HTML (``make demo``)."""

from __future__ import annotations

import copy
import html
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.I)


def execute(path: Path, out: Path, *, cwd: Path, timeout: int = 900, env: dict[str, str] | None = None) -> Any:
    """Run every cell of ``path`` in a fresh kernel (cwd ``cwd``) and save the executed notebook to ``out``.

    Widget state is stored in the notebook, so the monitors' final state survives in the saved file.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                                store_widget_state=True)
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return nb


def to_html(nb: Any, out: Path) -> Path:
    """Self-contained HTML: images inline, no script or stylesheet fetched from the network.

    Live widget views cannot render without their JavaScript, so each output keeps its static HTML
    representation (the monitor's final state) instead.
    """
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and ("text/html" in data or "text/plain" in data):
                del data[WIDGET_VIEW]
    nb.metadata.pop("widgets", None)
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    body = _REMOTE_SCRIPT.sub("", body)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def build(notebooks: list[Path], reports: Path, *, cwd: Path, env: dict[str, str] | None = None) -> Path:
    """Execute each notebook, write ``reports/<name>.ipynb`` + ``.html`` and an ``index.html`` linking them."""
    rows = []
    for nb_path in notebooks:
        t0 = time.perf_counter()
        print(f"  running {nb_path.name} ...", flush=True, file=sys.stderr)
        nb = execute(nb_path, reports / nb_path.name, cwd=cwd, env=env)
        page = to_html(nb, reports / nb_path.with_suffix(".html").name)
        title = next((c.source.lstrip("# ").splitlines()[0] for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("#")), nb_path.stem)
        rows.append((page.name, title, time.perf_counter() - t0))
        print(f"  {nb_path.name}: {rows[-1][2]:.1f} s", flush=True, file=sys.stderr)
    items = "\n".join(f'<li><a href="{html.escape(name)}">{html.escape(title)}</a> '
                      f'<small>({secs:.0f} s)</small></li>' for name, title, secs in rows)
    index = reports / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>toolkit report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:48em;margin:3em auto;line-height:1.5}"
        "small{color:#777}</style></head><body><h1>toolkit: executed notebooks</h1>"
        f"<p>Built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} against "
        f"{'the embedded sandbox' if not _any_key() else 'the configured services'}.</p>"
        f"<ol>{items}</ol></body></html>", encoding="utf-8")
    return index


def _any_key() -> bool:
    from .workspace import ENV

    return any(os.environ.get(key_var) for key_var, _, _ in ENV.values())
