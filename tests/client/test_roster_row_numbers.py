"""Row numbers people see are the ones their roster shows (issue 24): a CSV's spreadsheet row (the header is row 1,
so the first data row is row 2), a DataFrame's own index. Only labels change: a job's key hashes its rows'
(external id, image digest) pairs, so a ledger written with the old 0-based labels re-attaches with 0 new jobs."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd

from tests.client.test_faces_client import face_pool, server_jobs, write_roster
from tests.client.test_roster_rows import creates
from toolkit.client.roster import read_roster
from toolkit.workspace import Workspace


def test_csv_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path):
    csv = write_roster(tmp_path / "staff", 6)
    lines = csv.read_text().splitlines()
    lines[4] = lines[4].replace("img/emp003.jpg", "img/gone.jpg")  # 0-based data row 3: spreadsheet row 5
    lines[6] = lines[6].replace("emp-005", "emp-001")  # a duplicate of spreadsheet row 3
    csv.write_text("\n".join(lines) + "\n")
    roster = read_roster(csv)
    assert {e.input: e.message for e in roster.rejected} == {
        "roster.csv row 3 (emp-001)": "the external id 'emp-001' is duplicated (rows 3, 7); ids must be unique",
        "roster.csv row 5 (emp-003)": "the image file img/gone.jpg does not exist",
        "roster.csv row 7 (emp-001)": "the external id 'emp-001' is duplicated (rows 3, 7); ids must be unique",
    }
    assert [r.index for r in roster.rows] == [0, 2, 4]  # positions stay 0-based: only what is shown changes


def test_a_frame_roster_says_the_frame_s_own_index(tmp_path):
    csv = write_roster(tmp_path / "staff", 4)
    frame = pd.read_csv(csv, dtype=str).set_axis([10, 20, 30, 40])
    frame.loc[30, "image"] = "img/gone.jpg"
    roster = read_roster(frame, base_dir=csv.parent)
    assert [e.input for e in roster.rejected] == ["roster row 30 (emp-002)"]
    pairs = [("a", csv.parent / "img/emp000.jpg"), ("a", csv.parent / "img/emp001.jpg")]
    assert [e.message for e in read_roster(pairs).rejected] == [
        "the external id 'a' is duplicated (rows 0, 1); ids must be unique"
    ] * 2


def test_job_labels_use_spreadsheet_rows(sandbox, tmp_path):
    csv = write_roster(tmp_path / "staff", 130)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    assert [i.input for i in ws.faces.preflight(csv, collection="c")] == [
        "roster.csv rows 2-101",
        "roster.csv rows 102-131",
    ]
    frame = pd.read_csv(csv, dtype=str).iloc[5:8]  # a slice keeps its index: rows 5-7 of the frame
    assert [i.input for i in ws.faces.preflight(frame, collection="c", base_dir=csv.parent)] == ["roster rows 5-7"]


def test_a_ledger_with_the_old_labels_re_attaches_with_no_new_job(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=0.01)
    csv = write_roster(tmp_path / "staff", 130)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    first = ws.faces.enroll(csv).wait(timeout=120)
    assert creates(sb) == 2 and len(server_jobs(sb)) == 2
    # the ledger as the 0-based labels wrote it: old labels, rows without their shown number
    with sqlite3.connect(ws.ledger.path / "ledger.sqlite3") as db:
        for job, old in zip(first.jobs, ["roster.csv rows 0-99", "roster.csv rows 100-129"]):
            meta = {**job.meta, "rows": [{k: v for k, v in r.items() if k != "row"} for r in job.meta["rows"]]}
            db.execute("UPDATE jobs SET input = ?, meta = ? WHERE key = ?", (old, json.dumps(meta), job.key))
    again = Workspace(tmp_path / "ws", sandbox=sb, quiet=True).faces.enroll(csv).wait(timeout=120)
    assert creates(sb) == 2 and len(server_jobs(sb)) == 2  # server-side: no job created
    assert [j.key for j in again.jobs] == [j.key for j in first.jobs]
    assert again.results()["success"].all() and len(again.results()) == 130
    # an added row is a new job, labelled in spreadsheet rows, beside the old ones
    (csv.parent / "img/new.jpg").write_bytes(face_pool()[1])
    csv.write_text(csv.read_text() + "new,Newcomer,img/new.jpg\n")
    more = Workspace(tmp_path / "ws", sandbox=sb, quiet=True).faces.enroll(csv).wait(timeout=120)
    assert creates(sb) == 3 and more.jobs[-1].input == "roster.csv row 132"
