"""A real kernel (nbclient) runs a notebook with a live monitor: the saved notebook keeps the final state."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from tests.widgets.test_monitor import write_images

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

CELLS = [
    """\
import json
from pathlib import Path
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace
sb = Sandbox(SandboxConfig(port=0, data_dir=Path("sandbox"), time_scale=0.002, seed=5,
                           faults={"animaldetect": {"fail": 0.3}})).start()
ws = Workspace(".toolkit", sandbox=sb, quiet=True)""",
    """\
# NBVAL_IGNORE_OUTPUT
# (nbval ignores display updates: it compares this cell's state at display time)
b = ws.animaldetect.detect("imgs")
b""",
    'print("batch done right after the submitting cell:", b.done)',
    "b.wait(timeout=120)\nprint(json.dumps(b.status_counts()))",
    "display(b)",
    "sb.stop()",
]


def test_nbclient_stores_the_final_widget_state_and_output(tmp_path):
    write_images(tmp_path / "imgs", 16)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(
        nb, timeout=120, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outs = [c.outputs for c in nb.cells]

    assert outs[2][0]["text"].strip().endswith("False")  # a later cell ran while the batch was running
    counts = json.loads(outs[3][-1]["text"])
    ok, bad = counts["succeeded"], counts["failed"]
    assert ok + bad == 16 and ok > 0 and bad > 0
    final = f"16/16 done ({ok} succeeded, {bad} failed)"

    # the live display (cell 2) was rewritten with the final state through its display id
    live = outs[1][0]
    assert live["output_type"] == "display_data"  # Batch._ipython_display_ displays with a display id
    assert live["data"]["text/plain"].splitlines()[0].endswith(final)
    assert (
        f">{ok} succeeded</span>" in live["data"]["text/html"] and f">{bad} failed</span>" in live["data"]["text/html"]
    )
    assert "PROCESSING_FAILED" in live["data"]["text/html"]
    # display(b) goes through the registered formatter: a display_data with the same widget model
    shown = outs[4][0]
    assert shown["output_type"] == "display_data"
    assert shown["data"][WIDGET_VIEW]["model_id"] == live["data"][WIDGET_VIEW]["model_id"]
    assert shown["data"]["text/plain"] == live["data"]["text/plain"]

    # the widget state nbclient stored (from comm messages sent on the toolkit's loop thread) is final
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    root = state[live["data"][WIDGET_VIEW]["model_id"]]
    assert root["model_name"] == "VBoxModel"
    models = {k: v["state"] for k, v in state.items()}
    bars = [s for s in models.values() if s.get("_model_name") == "IntProgressModel"]
    assert [(b["value"], b["max"], b["bar_style"]) for b in bars] == [(16, 16, "warning")]
    htmls = [s["value"] for s in models.values() if s.get("_model_name") == "HTMLModel"]
    assert any(f">{ok} succeeded</span>" in h and f">{bad} failed</span>" in h for h in htmls)
    assert any("16/16 done" in h for h in htmls)

    # exported without widget state (a viewer without JS), the page shows the final counts from text/html
    plain = nbformat.reads(nbformat.writes(nb), as_version=4)
    plain.metadata.pop("widgets")
    page, _ = HTMLExporter().from_notebook_node(plain)
    assert page.count(f">{ok} succeeded</span>") == 2  # both displays of the batch
    body = re.sub(r"<script.*?</script>", "", live["data"]["text/html"], flags=re.S)
    assert body == live["data"]["text/html"] and "://" not in body  # no scripts, no CDN

    # nbval re-runs the saved notebook in a fresh folder and finds the same outputs (widget views aside)
    again = tmp_path / "again"
    write_images(again / "imgs", 16)
    nbformat.write(nb, again / "monitor.ipynb")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "monitor.ipynb"],
        cwd=again,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert f"{len(CELLS)} passed" in run.stdout
