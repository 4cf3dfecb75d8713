"""What the command line prints, compared with committed text in tests/cli/snapshots/.

Each command runs for real (a subprocess against a sandbox). Ids, times, durations, ports and paths are masked
and runs of spaces collapsed (column widths follow the masked values); every line is checked to fit 100
columns before masking. Re-record after a deliberate change with ``TOOLKIT_UPDATE_SNAPSHOTS=1``, then review
the diff of tests/cli/snapshots/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd

from tests.helpers import scene_image
from toolkit.sandbox import Sandbox
from toolkit.sandbox.config import Tenant

KEY = "sk_CLI_SNAPSHOT_71c3"
ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("TOOLKIT_UPDATE_SNAPSHOTS") == "1"
PROGRESS = re.compile(r"^animaldetect \d+/\d+ done \(.*\) \d+s$")  # redrawn as jobs change: how often varies


class Masker:
    """Replaces what differs between runs with stable tokens; the same id gets the same token throughout."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = str(tmp)
        self.ids: dict[str, str] = {}

    def _id(self, kind: str, value: str) -> str:
        if value not in self.ids:
            self.ids[value] = f"<{kind}{sum(k.startswith(f'<{kind}') for k in self.ids.values()) + 1}>"
        return self.ids[value]

    def __call__(self, text: str) -> str:
        text = text.replace(self.tmp, "<TMP>")
        text = re.sub(r"\bb-[0-9a-f]{16}\b", lambda m: self._id("BATCH", m.group()), text)
        for value, token in self.ids.items():
            text = text.replace(value, token)
        text = re.sub(r"https?://127\.0\.0\.1:\d+", "http://<SANDBOX>", text)
        text = re.sub(r"\b\d+ (s|min|h) ago\b", "<AGO>", text)
        text = re.sub(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}\b", "<DATE>", text)
        text = re.sub(r"\b\d+(\.\d+)? (ms|s|min|h)\b", "<DUR>", text)
        return "\n".join(re.sub(r"(?<=\S) {2,}", "  ", line).rstrip() for line in text.splitlines()) + "\n"


def check(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE or not path.exists():
        assert UPDATE, f"no snapshot {path.name}: record it with TOOLKIT_UPDATE_SNAPSHOTS=1"
        path.write_text(text)
    assert text == path.read_text(), f"{name}: output changed (TOOLKIT_UPDATE_SNAPSHOTS=1 re-records)"


def test_cli_output_snapshots(make_sandbox, tmp_path):
    sb: Sandbox = make_sandbox(tenants=[Tenant("animaldetect", KEY)], time_scale=0.002)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        (imgs / f"cam-{i}.jpg").write_bytes(scene_image(i, size=(320, 240)))
    (imgs / "notes.jpg").write_text("not an image")
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(2):
        (broken / f"night-{i}.jpg").write_bytes(scene_image(10 + i, size=(320, 240)))
    env = {
        **os.environ,
        "AD_API_KEY": KEY,
        "AD_API_BASE_URL": sb.base_url("animaldetect"),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "100",
        "TZ": "UTC",
    }
    mask = Masker(tmp_path)

    def run(*args: str, code: int = 0, raw: bool = False, fit: bool = True) -> str:
        p = subprocess.run(
            [sys.executable, "-m", "toolkit", "-w", str(tmp_path / "ws"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == code, p.stderr
        assert "Traceback" not in p.stderr and KEY not in p.stdout + p.stderr
        if raw:
            return p.stdout
        lines = [line for line in (p.stderr + p.stdout).splitlines() if not PROGRESS.match(line)]
        if fit:  # tables and help; a message naming a long path may be wider
            assert all(len(line) <= 100 for line in lines), "wider than 100 columns"
        return mask("\n".join(lines))

    check("help", run("--help"))
    check("submit_help", run("submit", "animaldetect", "--help"))
    check("submit", run("submit", "animaldetect", "detect", str(imgs), "-o", "threshold=0.3", code=1, fit=False))
    httpx.put(sb.url + "/__sandbox__/faults", json={"spec": "animaldetect.fail=1"}).raise_for_status()
    check("submit_failing", run("submit", "animaldetect", "detect", str(broken), code=1, fit=False))
    httpx.put(sb.url + "/__sandbox__/faults", json={"spec": ""}).raise_for_status()
    check("jobs_ls", run("jobs", "ls"))
    check("jobs_ls_batches", run("jobs", "ls", "--batches"))
    ids = [token_id for token_id, token in mask.ids.items() if token.startswith("<BATCH")]
    check("jobs_show", run("jobs", "show", ids[0]))
    check("jobs_show_failures", run("jobs", "show", ids[1]))
    records = json.loads(run("jobs", "show", ids[0], "--json", raw=True))
    assert [r["status"] for r in records] == ["succeeded"] * 3 and all(r["job_id"] for r in records)
    mask.ids[records[0]["job_id"]] = "<JOB1>"
    check("jobs_show_job", run("jobs", "show", records[0]["job_id"]))
    check("results_export", run("results", "export", ids[0], "--out", str(tmp_path / "boxes.csv"), fit=False))
    run("results", "export", ids[0], "--out", str(tmp_path / "boxes.xlsx"), fit=False)
    sheet = pd.read_excel(tmp_path / "boxes.xlsx")
    assert len(sheet) == len(pd.read_csv(tmp_path / "boxes.csv")) and {"file", "label", "score"} <= set(sheet.columns)
    check("jobs_cancel", run("jobs", "cancel", ids[1]))
    errors = [
        run(*args, code=2, fit=False)
        for args in [
            ("jobs", "show", "b-0000000000000000"),
            ("jobs", "wait"),
            ("submit", "animaldetect", "detect", str(imgs), "-o", "threshhold=0.3"),
            ("submit", "animaldetect", "detect", str(imgs), "-o", "threshold=3"),
            ("submit", "animaldetect", "detect", str(tmp_path / "camera_trap")),
            ("submit", "animaldetect", "detekt", str(imgs)),
            ("results", "export", ids[0], "--out", str(tmp_path / "boxes.txt")),
            ("results", "export", ids[0], "--out", str(tmp_path / "nonexistent" / "dir" / "r.csv")),
            ("submit", "animaldetect", "detect", str(imgs), "--threshold", "0.3"),
            ("jobs", "ls", "--provider", "animaldetetc"),
            ("sandbox", "--port", "99999"),
        ]
    ]
    check("errors", "".join(errors))
    assert not (tmp_path / "nonexistent").exists()  # never created silently
