"""Warm loads of a workspace trust its columnar store only as far as the ledger's generation allows (issue 25,
item 2): a job changed since the store last looked (re-run, refetched, changed by any connection) is rebuilt,
and so is everything when the ledger is replaced, while an unchanged ledger re-checks no job."""

from __future__ import annotations

import json
import shutil
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.columnar import settled_workspace
from toolkit import load
from toolkit.client.model import Status
from toolkit.load import store
from toolkit.workspace import Workspace


def result(i: int, label: str) -> dict[str, Any]:
    return {
        "id": f"job-{i}",
        "job_id": f"job-{i}",
        "annotations": [{"id": 0, "bbox": [0.1, 0.1, 0.2, 0.2], "score": 0.9, "label": label}],
        "info": {"model_id": "m", "model_version": "v"},
    }


@pytest.fixture
def ws_dir(tmp_path: Path) -> Path:
    settled_workspace(
        tmp_path / "ws", "animaldetect", "detect", [(f"CAM01/IMG_{i:04d}.jpg", result(i, "fox")) for i in range(6)]
    )
    return tmp_path / "ws"


def labels(ws: Workspace) -> dict[str, str]:
    df = load.detections(ws)
    return {str(j): str(lab) for j, lab in zip(df["job_id"], df["label"])}


def test_an_unchanged_ledger_is_trusted_and_every_kind_of_change_is_rebuilt(ws_dir):
    ws = Workspace(ws_dir, quiet=True)
    assert set(labels(ws).values()) == {"fox"}
    st = store.Store(ws_dir, "detections")
    (gen, parts, stale) = st.trusted() or ((None, None), None, None)
    assert gen == ws.ledger.generation() and parts and stale == set()
    assert set(labels(ws).values()) == {"fox"}  # trusted: the same frame

    jobs = {j.job_id: j for j in ws.ledger.jobs(provider="animaldetect")}
    # a refetched result: a new digest for job-1
    j1 = jobs["job-1"]
    j1.result_digest = ws.ledger.put_result(json.dumps(result(1, "deer")).encode())
    ws.ledger.save(j1, "result_digest")
    assert labels(ws)["job-1"] == "deer"
    # a re-run job: job-2 reopened holds no boxes, then finishes with another result
    j2 = jobs["job-2"]
    j2.status = Status.FAILED
    ws.ledger.save(j2, "status")
    assert ws.ledger.reopen(j2, Status.QUEUED)
    assert "job-2" not in labels(ws)
    j2.status, j2.finished_at = Status.SUCCEEDED, 123.0
    j2.result_digest = ws.ledger.put_result(json.dumps(result(2, "boar")).encode())
    ws.ledger.save(j2, "status", "finished_at", "result_digest")
    assert labels(ws)["job-2"] == "boar"
    # a change by another connection (another process, or the sqlite3 shell) counts too
    boar = ws.ledger.put_result(json.dumps(result(3, "bird")).encode())
    db = sqlite3.connect(ws_dir / "ledger.sqlite3", isolation_level=None)
    db.execute("UPDATE jobs SET result_digest=? WHERE job_id='job-3'", (boar,))
    db.close()
    assert labels(ws)["job-3"] == "bird"
    assert labels(ws) == {
        "job-0": "fox",
        "job-1": "deer",
        "job-2": "boar",
        "job-3": "bird",
        "job-4": "fox",
        "job-5": "fox",
    }


def test_a_replaced_ledger_rebuilds_what_changed(ws_dir, tmp_path):
    ws = Workspace(ws_dir, quiet=True)
    assert set(labels(ws).values()) == {"fox"}
    ws.ledger.close()
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(ws_dir / "ledger.sqlite3", backup)
    ws = Workspace(ws_dir, quiet=True)
    j = next(j for j in ws.ledger.jobs(provider="animaldetect") if j.job_id == "job-4")
    j.result_digest = ws.ledger.put_result(json.dumps(result(4, "deer")).encode())
    ws.ledger.save(j, "result_digest")
    assert labels(ws)["job-4"] == "deer"
    ws.ledger.close()
    # the backup comes back (same ledger id), and changes another row as often as the lost copy did
    shutil.copy(backup, ws_dir / "ledger.sqlite3")
    ws = Workspace(ws_dir, quiet=True)
    assert labels(ws)["job-4"] == "fox"
    j = next(j for j in ws.ledger.jobs(provider="animaldetect") if j.job_id == "job-5")
    j.result_digest = ws.ledger.put_result(json.dumps(result(5, "bird")).encode())
    ws.ledger.save(j, "result_digest")
    assert labels(ws) == {
        "job-0": "fox",
        "job-1": "fox",
        "job-2": "fox",
        "job-3": "fox",
        "job-4": "fox",
        "job-5": "bird",
    }
    # a new ledger (another id) in place of this one: nothing of the store is trusted
    ws.ledger.close()
    (ws_dir / "ledger.sqlite3").unlink()
    warnings.simplefilter("ignore")  # the cache names the ledger this one replaced
    settled_workspace(
        ws_dir, "animaldetect", "detect", [(f"CAM01/IMG_{i:04d}.jpg", result(i, "human")) for i in range(2)]
    )
    ws = Workspace(ws_dir, quiet=True)
    assert labels(ws) == {"job-0": "human", "job-1": "human"}


def test_a_version_1_ledger_is_migrated_and_counts_changes(ws_dir):
    db = sqlite3.connect(ws_dir / "ledger.sqlite3", isolation_level=None)
    for w in ("insert", "update", "delete"):
        db.execute(f"DROP TRIGGER jobs_gen_{w}")
    db.execute("ALTER TABLE jobs DROP COLUMN gen")
    db.execute("DELETE FROM stamp WHERE k IN ('generation', 'epoch')")
    db.execute("PRAGMA user_version=1")
    db.close()
    ws = Workspace(ws_dir, quiet=True)
    assert ws.ledger._db.execute("PRAGMA user_version").fetchone()[0] == 2
    before = ws.ledger.generation()
    assert before is not None and set(labels(ws).values()) == {"fox"}
    j = next(j for j in ws.ledger.jobs(provider="animaldetect") if j.job_id == "job-0")
    j.result_digest = ws.ledger.put_result(json.dumps(result(0, "deer")).encode())
    ws.ledger.save(j, "result_digest")
    assert ws.ledger.generation() == (before[0], before[1] + 1)
    assert labels(ws)["job-0"] == "deer"
