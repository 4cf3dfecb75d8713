"""Rows are the unit for rosters (issue 21 item 2): a row enrolled (or in flight) is never sent again, whatever its
position in the roster; new rows form new jobs of <= 100; an edited image is a new enrollment of that row only.
Counted server-side: each sandbox job's items (external ids) and sizes."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx

from tests.client.test_faces_client import face_pool, server_jobs, tenant_stats, write_roster
from toolkit.sandbox.config import DEFAULT_ORG
from toolkit.workspace import Workspace

CREATES = "POST /collections/{collection_id}/faces/batch-async"


def enrolled(sb) -> Counter:
    """external id -> how many times the sandbox was sent it (every job's per-item results)."""
    seen: Counter = Counter()
    with httpx.Client(base_url=sb.base_url("faces"), headers={"X-API-Key": sb.key("faces")}) as c:
        for job in server_jobs(sb):
            data = c.get(f"/organizations/{DEFAULT_ORG}/batch/{job['job_id']}").json()["data"]
            assert data["status"] == "done", data
            seen.update(x["external_id"] for x in data["results"])
    return seen


def creates(sb) -> int:
    return tenant_stats(sb)["requests"][CREATES].get("202", 0)


def add_row(csv: Path, line: str, *, top: bool) -> None:
    header, *lines = csv.read_text().splitlines()
    csv.write_text("\n".join([header, line, *lines] if top else [header, *lines, line]) + "\n")


def check_frame(batch, csv: Path) -> None:
    """One result row per roster row, in roster order, with the row's current index and file."""
    roster = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    f = batch.results()
    assert f["external_id"].tolist() == [r[0] for r in roster]
    assert f["index"].tolist() == list(range(len(roster)))
    assert f["file"].tolist() == [str((csv.parent / r[2]).resolve()) for r in roster]
    assert f["success"].all() and f["face_id"].notna().all()


def test_rows_already_enrolled_are_never_sent_again_whatever_their_position(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=0.01)
    csv = write_roster(tmp_path / "staff", 130)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    first = ws.faces.enroll(csv).wait(timeout=120)
    assert [len(j.meta["rows"]) for j in first.jobs] == [100, 30] and creates(sb) == 2
    pool = face_pool()

    # one new person at the top: every other row moves down one place, and only the new row is sent
    (csv.parent / "img/new.jpg").write_bytes(pool[1])
    add_row(csv, "new-top,Newcomer,img/new.jpg", top=True)
    top = ws.faces.enroll(csv).wait(timeout=120)
    assert creates(sb) == 3 and sorted(j["total"] for j in server_jobs(sb)) == [1, 30, 100]
    sent = enrolled(sb)
    assert sum(sent.values()) == 131 and set(sent.values()) == {1} and "new-top" in sent
    assert top.jobs[0].input == "roster.csv row 2" and len(top.jobs[0].meta["rows"]) == 1
    assert [j.key for j in top.jobs[1:]] == [j.key for j in first.jobs]  # the rows enrolled before: their jobs
    check_frame(top, csv)

    # one more at the bottom: one row sent
    (csv.parent / "img/late.jpg").write_bytes(pool[2])
    add_row(csv, "late-end,Latecomer,img/late.jpg", top=False)
    bottom = ws.faces.enroll(csv).wait(timeout=120)
    assert creates(sb) == 4 and enrolled(sb)["late-end"] == 1 and sum(enrolled(sb).values()) == 132
    assert len(bottom.jobs) == 4 and len(bottom.jobs[-1].meta["rows"]) == 1
    check_frame(bottom, csv)

    # a new picture for one person: that row alone is a new enrollment
    (csv.parent / "img/emp050.jpg").write_bytes(pool[(50 + 1) % len(pool)])
    edited = ws.faces.enroll(csv).wait(timeout=120)
    sent = enrolled(sb)
    assert creates(sb) == 5 and sent["emp-050"] == 2 and sum(sent.values()) == 133
    (job,) = [j for j in edited.jobs if j.key not in {k.key for k in bottom.jobs}]
    assert [(r["index"], r["external_id"]) for r in job.meta["rows"]] == [(51, "emp-050")]
    check_frame(edited, csv)
    row = edited.results().set_index("external_id").loc["emp-050"]
    assert row["job_id"] == job.job_id  # the row's result is its latest picture's, the old one is left out

    # the very same roster again, in a new kernel: the same batch, not one request
    ws2 = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    again = ws2.faces.enroll(csv).wait(timeout=30)
    assert ws2.faces.transport.requests == 0 and again.id == edited.id and creates(sb) == 5
    check_frame(again, csv)

    # the identity includes the collection: another collection is sent every row
    other = ws2.faces.preflight(csv, collection="elsewhere")
    assert sum(len(i.meta["rows"]) for i in other) == 132 and all(i.key is None for i in other)


def test_rows_in_flight_are_not_sent_again(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=3.0)  # a 10-row job runs 4.5 s and is first polled after 6 s
    csv = write_roster(tmp_path / "staff", 10)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    first = ws.faces.enroll(csv)
    # once its create is answered (two drivers of one still-unsent job in one kernel are issue 21 item 1's)
    deadline = time.monotonic() + 60
    while not ws.ledger.get(first.jobs[0].key).job_id and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.02)
    (csv.parent / "img/new.jpg").write_bytes(face_pool()[1])
    add_row(csv, "new-top,Newcomer,img/new.jpg", top=True)
    second = ws.faces.enroll(csv)
    (running,) = ws.ledger.get_many([first.jobs[0].key]).values()
    assert not running.status.terminal  # still in flight when the second call planned its jobs
    assert [j.key for j in second.jobs][1:] == [first.jobs[0].key] and len(second.jobs[0].meta["rows"]) == 1
    second.wait(timeout=120)
    sent = enrolled(sb)
    assert creates(sb) == 2 and sum(sent.values()) == 11 and set(sent.values()) == {1}
    check_frame(second, csv)


def test_retry_and_fixes_follow_the_roster_as_it_is_now(sandbox, tmp_path):
    csv = write_roster(tmp_path / "staff", 5, no_faces={3})
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    ws.faces.enroll(csv).wait(timeout=60)
    (csv.parent / "img/new.jpg").write_bytes(face_pool()[1])
    add_row(csv, "new-top,Newcomer,img/new.jpg", top=True)
    moved = ws.faces.enroll(csv).wait(timeout=60)
    f = moved.results()
    assert len(f) == 6 and f.loc[f["success"] == False, ["index", "external_id"]].values.tolist() == [[4, "emp-003"]]  # noqa: E712
    # a retry sends the failed row at its place in the roster now
    (retry,) = ws.faces.failed_items(moved)
    assert [(r["index"], r["external_id"]) for r in retry.meta["rows"]] == [(4, "emp-003")]

    # a fixed picture is a new enrollment of that row; the old picture's failure is no longer the roster's
    (csv.parent / "img/emp003.png").write_bytes(face_pool()[3])
    fixed = ws.faces.enroll(csv).wait(timeout=60)
    assert creates(sandbox) == 3 and enrolled(sandbox)["emp-003"] == 2
    assert ws.faces.failed_items(fixed) == [] and fixed.retry_failed() is fixed
    check_frame(fixed, csv)


def test_the_same_cells_after_a_retry_find_the_same_jobs(sandbox, tmp_path):
    """Notebook 05 run twice: enroll, retry the failed rows, then the whole notebook again pays nothing (the
    enrollment finds its own job, not the retry's, and the retry re-attaches)."""
    csv = write_roster(tmp_path / "staff", 5, no_faces={3})
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    first = ws.faces.enroll(csv).wait(timeout=60)
    retry = first.retry_failed().wait(timeout=60)
    assert creates(sandbox) == 2
    ws2 = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    again = ws2.faces.enroll(csv).wait(timeout=60)
    assert again.id == first.id and [j.key for j in again.jobs] == [j.key for j in first.jobs]
    assert again.retry_failed().wait(timeout=60).id == retry.id
    assert ws2.client("faces").transport.requests == 0 and creates(sandbox) == 2
