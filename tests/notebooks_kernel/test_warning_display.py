"""What Jupyter shows of a toolkit warning, in a real kernel (nbclient): one formatted block, once, with no
``ipykernel_…py:1:`` path, no echo of the cell's source and nothing on stderr; files that are not media are a
count in a notice, not a warning."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import scene_image
from toolkit.workspace import service_variables

CELL = """\
import toolkit as tk
ws = tk.Workspace("ws", quiet=True)
b = ws.animaldetect.detect("imgs")"""


@pytest.fixture
def executed(tmp_path: Path, monkeypatch) -> nbformat.NotebookNode:
    for var in service_variables():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TOOLKIT_SANDBOX_TIME_SCALE", "0.001")
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    (imgs / "cam-0.jpg").write_bytes(scene_image(0, size=(160, 120)))
    (imgs / "broken.jpg").write_text("not an image")
    (imgs / "labels.csv").write_text("file,label\n")
    cells = [CELL, "b.wait(timeout=60, progress=False); print(len(b.jobs), len(b.skipped), len(b.rejected))"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def test_a_warning_is_one_formatted_block_and_skipped_files_a_count(executed):
    outputs = executed.cells[0].outputs
    assert not [o for o in outputs if o["output_type"] in ("stream", "error")], outputs  # no pink stderr box
    shown = [o["data"] for o in outputs if o["output_type"] == "display_data"]
    warned = [d for d in shown if "RejectedInputs" in d.get("text/html", "")]
    assert len(warned) == 1, shown
    html = warned[0]["text/html"]
    assert "broken.jpg" in html and "labels.csv" not in html
    assert "ipykernel" not in html and 'ws.animaldetect.detect("imgs")' not in html
    notices = [d["text/plain"] for d in shown if "skipped" in d.get("text/plain", "")]
    assert notices == ["toolkit: animaldetect detect: 1 image, 1 other file skipped (labels.csv)"]
    assert "".join(o.get("text", "") for o in executed.cells[1].outputs).split() == ["1", "1", "1"]
