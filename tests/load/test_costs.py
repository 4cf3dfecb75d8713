"""``tk.load.costs``: what a season cost in each provider's billing unit (issue 24: notebook 06 "... and what
they cost"). Pure over the ledger's jobs; checked against the sandbox's own count of jobs created."""

from __future__ import annotations

import time

import pytest

import toolkit as tk
from tests.client.test_faces_client import write_roster
from tests.helpers import stats
from toolkit.client.model import Job, Status
from toolkit.workspace import Workspace


def job(provider: str, status: Status, *, sent: bool = True, rows: int | None = None, at: float = 0.0) -> Job:
    meta = {"rows": [{"index": i} for i in range(rows)]} if rows is not None else {}
    return Job(
        key=f"k{time.monotonic_ns()}",
        provider=provider,
        operation="op",
        input="x",
        batch_id="b",
        status=status,
        job_id="j" if sent else None,
        created_at=at or time.time(),
        meta=meta,
    )


def test_each_provider_is_counted_in_its_own_unit_by_its_own_rules():
    jobs = [
        *[job("animaldetect", Status.SUCCEEDED) for _ in range(3)],
        job("animaldetect", Status.FAILED),  # created: the credit is taken (contracts §7)
        job("animaldetect", Status.DRAFT, sent=False),  # never sent: free
        job("sateais", Status.SUCCEEDED),
        job("sateais", Status.FAILED),  # documented: a failed analysis costs nothing
        job("authenta", Status.SUCCEEDED),
        job("authenta", Status.QUEUED),  # created, upload not finalised: processing not started, not charged
        job("claid", Status.SUCCEEDED),
        job("faces", Status.SUCCEEDED, rows=100),
        job("faces", Status.SUCCEEDED, rows=30),
    ]
    got = tk.load.costs(jobs)
    assert list(got.index) == ["animaldetect", "sateais", "authenta", "claid", "faces"]
    assert got[["jobs", "sent", "inputs", "billed", "unit"]].to_dict("index") == {
        "animaldetect": {"jobs": 5, "sent": 4, "inputs": 4, "billed": 4, "unit": "credits"},
        "sateais": {"jobs": 2, "sent": 2, "inputs": 2, "billed": 1, "unit": "credits"},
        "authenta": {"jobs": 2, "sent": 2, "inputs": 2, "billed": 1, "unit": "credits"},
        "claid": {"jobs": 1, "sent": 1, "inputs": 1, "billed": 1, "unit": "API calls"},
        "faces": {"jobs": 2, "sent": 2, "inputs": 130, "billed": 2, "unit": "jobs"},
    }
    assert got["basis"].str.contains("contracts").all()
    assert list(tk.load.costs(jobs, providers=["faces"]).index) == ["faces"]
    old = job("claid", Status.SUCCEEDED, at=time.time() - 40 * 86400)
    recent = tk.load.costs([old, *jobs], since=pd_days_ago(30))
    assert recent.loc["claid", "jobs"] == 1
    assert tk.load.costs([]).empty and list(tk.load.costs([]).columns) == tk.load.cost.COLUMNS


def pd_days_ago(days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86400))


def test_a_workspace_s_bill_matches_the_jobs_the_service_created(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=0.01)
    csv = write_roster(tmp_path / "staff", 3)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    ws.faces.enroll(csv).wait(timeout=120)
    ws.faces.enroll(csv).wait(timeout=120)  # a re-run re-attaches: nothing more to pay
    got = tk.load.costs(ws)
    created = stats(sb)["providers"]["faces"]["tenants"][sb.tenant("faces").id]["jobs"]["created"]
    assert got.loc["faces", ["jobs", "sent", "inputs", "billed"]].tolist() == [1, 1, 3, created]
    with pytest.raises(TypeError, match="Workspace, Ledger, Batch"):
        tk.load.costs("season")
