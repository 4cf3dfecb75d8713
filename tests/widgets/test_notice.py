"""The sandbox notice: once per workspace, info-styled in a Jupyter kernel, a log record elsewhere (never stderr)."""

from __future__ import annotations

import logging

import nbformat
from nbclient import NotebookClient

from toolkit.workspace import Workspace, service_variables

CELLS = [
    """\
import os
for var in %r:
    os.environ.pop(var, None)
from toolkit.workspace import Workspace
ws = Workspace(".toolkit", sandbox_time_scale=0.001)
ws.animaldetect
ws.sateais""",
    "Workspace('.toolkit').animaldetect  # the same workspace again: no second notice",
    "ws.sandbox.stop()",
]


def test_outside_a_kernel_the_notice_is_one_warning_record_per_workspace(tmp_path, monkeypatch, caplog, capfd):
    for var in service_variables():
        monkeypatch.delenv(var, raising=False)
    caplog.set_level(logging.INFO, logger="toolkit.notice")
    ws = Workspace(tmp_path / "ws", sandbox_time_scale=0.001)
    other = Workspace(tmp_path / "other", sandbox_time_scale=0.001)
    try:
        ws.animaldetect
        ws.claid
        Workspace(tmp_path / "ws").faces  # the same folder: already announced
        other.animaldetect
        url = ws.sandbox.url
    finally:
        for started in (ws.sandbox, other.sandbox):
            if started is not None:
                started.stop()
    records = [r for r in caplog.records if r.name == "toolkit.notice"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]  # one per workspace
    assert records[0].getMessage().startswith("no API key for animaldetect, sateais, authenta, claid, faces;")
    assert url in records[0].getMessage() and "simulated results" in records[0].getMessage()
    # a WARNING: a plain script (no logging set up) prints it on stderr; here pytest's handler takes it
    assert "sandbox" not in capfd.readouterr().err


def test_in_a_kernel_the_notice_is_an_info_display_not_stderr(tmp_path):
    cells = [CELLS[0] % (service_variables(),), *CELLS[1:]]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells for o in c.outputs]
    assert not [o for o in outputs if o["output_type"] == "stream" and o.get("name") == "stderr"]
    notes = [o for o in outputs if o["output_type"] == "display_data"]
    assert len(notes) == 1  # once for the workspace, whichever clients or Workspace objects follow
    html, text = notes[0]["data"]["text/html"], notes[0]["data"]["text/plain"]
    assert 'role="note"' in html and "border-left" in html and "embedded sandbox" in html
    assert text.startswith("toolkit: no API key for animaldetect") and "simulated results" in text
