"""Shift-Enter twice in a real kernel (issue #21): each of the five providers' submitting cells runs twice in a
row while its jobs are still being created; every job is created once at the sandbox and every row succeeds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.reliability.chaos_run import PROVIDERS, make_inputs, server_jobs

ROOT = Path(__file__).resolve().parents[2]
N = {"animaldetect": 4, "sateais": 4, "authenta": 4, "claid": 4, "faces": 2}

SETUP = f"""\
import sys, json
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from tests.reliability.chaos_run import find_inputs, submit_all, unthrottle
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.workspace import Workspace
sb = Sandbox(SandboxConfig(port=0, data_dir=Path("sandbox"), time_scale=0.01)).start()
ws = Workspace(".toolkit", sandbox=sb, quiet=True)
unthrottle(ws)
inp = find_inputs(Path("inputs"), {N!r})
runs = []"""
SUBMIT = "runs.append(submit_all(ws, inp, ({provider!r},))[{provider!r}])\nruns[-1][0]"
CHECK = """\
for bs in runs:
    for b in bs:
        b.wait(timeout=300, progress=False)
print(json.dumps([[dict(b.status_counts()) for b in bs] for bs in runs]))
sb.stop()"""


def test_each_providers_submitting_cell_run_twice_creates_each_job_once(tmp_path: Path) -> None:
    make_inputs(tmp_path / "inputs", N)
    cells = [SETUP]
    for provider in PROVIDERS:
        cells += [SUBMIT.format(provider=provider)] * 2
    cells.append(CHECK)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    counts = json.loads(nb.cells[-1].outputs[-1]["text"])
    for i, provider in enumerate(PROVIDERS):
        for run in counts[2 * i : 2 * i + 2]:  # both runs of the cell: every row succeeded
            c = sum((Counter(b) for b in run), Counter())  # faces: one batch per roster
            assert c["succeeded"] == N[provider] and sum(c.values()) == N[provider], (provider, c)
    rows = server_jobs(tmp_path / "sandbox")
    for provider in PROVIDERS:
        digests = Counter(r["input_digest"] for r in rows if r["provider"] == provider)
        assert len(digests) == N[provider] and set(digests.values()) == {1}, (provider, digests)
