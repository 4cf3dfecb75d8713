"""Face enrollment client against the real sandbox: split into <= 100, per-row outcomes, retry of failed rows,
exactly-once under faults and lost answers, adoption after kill -9, JWT vs key polling, preflight."""

from __future__ import annotations

import functools
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import respx
from PIL import Image

from tests.helpers import stats
from toolkit.client.model import PreflightError, Status, ServiceUnreachable
from toolkit.sandbox.config import DEFAULT_COLLECTION, DEFAULT_ORG
from toolkit.sandbox.engines.faces import ItemError, enroll_item, synthetic_faces
from toolkit.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def face_pool() -> tuple[bytes, ...]:
    """Detectable portraits at 100x100 px (the smallest accepted size keeps the sandbox's detector quick)."""
    out = []
    for data in synthetic_faces(10, seed=7):
        buf = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").resize((100, 100), Image.LANCZOS).save(buf, "JPEG", quality=92)
        try:
            enroll_item("check", buf.getvalue())
            out.append(buf.getvalue())
        except ItemError:
            continue
    assert len(out) >= 5
    return tuple(out)


def no_face(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (120, 120, 3)).astype("uint8")).save(buf, "PNG")
    return buf.getvalue()


def write_roster(folder: Path, n: int, no_faces: set[int] = frozenset(), prefix: str = "emp") -> Path:
    """``folder/roster.csv`` with ``n`` rows; images under ``folder/img`` referenced by relative paths."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    pool = face_pool()
    lines = ["external_id,name,image"]
    for i in range(n):
        data = no_face(i) if i in no_faces else pool[i % len(pool)]
        name = f"img/{prefix}{i:03d}.{'png' if i in no_faces else 'jpg'}"
        (folder / name).write_bytes(data)
        lines.append(f"{prefix}-{i:03d},Person {i},{name}")
    (folder / "roster.csv").write_text("\n".join(lines) + "\n")
    return folder / "roster.csv"


def tenant_stats(sb) -> dict:
    return stats(sb)["providers"]["faces"]["tenants"][sb.tenant("faces").id]


def outcomes(batch) -> dict[str, tuple[bool, str | None, int]]:
    """external_id -> (success, error code, roster row) from the cached results and each job's rows."""
    out = {}
    for rec in batch.records():
        for x in (rec["result"] or {"data": {"results": []}})["data"]["results"]:
            row = rec["meta"]["rows"][x["index"]]
            assert row["external_id"] == x["external_id"]
            out[x["external_id"]] = (x["success"], (x.get("error") or {}).get("code"), row["index"])
    return out


def server_jobs(sb) -> list[dict]:
    with httpx.Client(base_url=sb.base_url("faces"), headers={"X-API-Key": sb.key("faces")}) as c:
        return c.get(f"/organizations/{DEFAULT_ORG}/batch", params={"limit": 100}).json()["data"]


def watch_headers(client) -> list[tuple[str, str, bool, str | None]]:
    """(method, path, X-API-Key sent, Authorization) of every request the client's transport sends."""
    seen: list = []

    async def hook(request: httpx.Request) -> None:
        seen.append(
            (request.method, request.url.path, "x-api-key" in request.headers, request.headers.get("authorization"))
        )

    client.transport._setup()
    client.transport._client.event_hooks["request"].append(hook)
    return seen


def test_large_roster_split_per_row_outcomes_rerun_and_retry(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=0.01)
    csv = write_roster(tmp_path / "staff", 101, no_faces={3, 50, 100})
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    b = ws.faces.enroll(csv).wait(timeout=90)
    assert [j.input for j in b.jobs] == ["roster.csv rows 2-101", "roster.csv row 102"] and not b.rejected
    assert [len(j.meta["rows"]) for j in b.jobs] == [100, 1]
    assert b.status_counts()["succeeded"] == 2  # failed items never fail the job
    assert sorted(j["total"] for j in server_jobs(sb)) == [1, 100]
    got = outcomes(b)
    assert len(got) == 101 and all(got[f"emp-{i:03d}"][2] == i for i in range(101))
    assert {k: v[1] for k, v in got.items() if not v[0]} == {
        "emp-003": "FACE_NOT_DETECTED",
        "emp-050": "FACE_NOT_DETECTED",
        "emp-100": "FACE_NOT_DETECTED",
    }
    face_ids = [x["face_id"] for r in b.raw() for x in r["result"]["data"]["results"] if x["success"]]
    assert len(face_ids) == 98 and all(f.startswith("face_") for f in face_ids)
    assert b.jobs[0].meta["rows"][7]["file"] == str((tmp_path / "staff/img/emp007.jpg").resolve())

    # a new workspace on the same folder (kernel restart): same batch from the cache, no request at all
    ws2 = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    again = ws2.faces.enroll(csv).wait(timeout=10)
    assert ws2.faces.transport.requests == 0 and again.id == b.id and again.raw() == b.raw()

    # retry: one new job holding only the three failed rows; the 98 enrolled rows are not sent again
    before = tenant_stats(sb)["requests"]["POST /collections/{collection_id}/faces/batch-async"]["202"]
    retry = b.retry_failed().wait(timeout=60)
    assert [j.input for j in retry.jobs] == ["roster.csv rows 5-102 (retry of 3 rows)"]
    assert [r["index"] for r in retry.jobs[0].meta["rows"]] == [3, 50, 100]
    assert {k: v[1] for k, v in outcomes(retry).items()} == {
        "emp-003": "FACE_NOT_DETECTED",
        "emp-050": "FACE_NOT_DETECTED",
        "emp-100": "FACE_NOT_DETECTED",
    }
    t = tenant_stats(sb)
    assert t["requests"]["POST /collections/{collection_id}/faces/batch-async"]["202"] == before + 1
    assert t["jobs"]["created"] == 3 and sorted(j["total"] for j in server_jobs(sb)) == [1, 3, 100]


def test_every_slice_is_one_server_job_under_faults(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"faces": {"5xx": 0.15, "429": 0.05, "drop": 0.1, "fail": 0.5}}, seed=23, time_scale=0.01)
    csv = write_roster(tmp_path / "staff", 104)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    b = ws.faces.enroll(csv).wait(timeout=90)
    counts = b.status_counts()
    assert counts["succeeded"] + counts["failed"] == 2 and counts["failed"] >= 1
    assert all(j.error_code == "INTERNAL_ERROR" and j.job_id for j in b._failed_jobs())
    t = tenant_stats(sb)
    assert len(t["jobs_per_input_digest"]) == 2 and set(t["jobs_per_input_digest"].values()) == {1}
    assert t["jobs"]["created"] == 2
    faults = stats(sb)["providers"]["faces"]["faults"]
    assert faults.get("5xx", 0) > 0 and faults.get("drop", 0) > 0
    assert ws.faces.transport.retries > 0
    # the first create was dropped before the server saw it: the job list proved it absent, so it was re-sent
    assert "absent" in {j.meta.get("lookup") for j in b.jobs}
    # a failed job's rows all come back for retry, as one new job
    (failed,) = b._failed_jobs()
    items = ws.faces.failed_items(b)
    assert [len(i.meta["rows"]) for i in items] == [len(failed.meta["rows"])]


def _lose_first_create(client, *, after_sending: bool) -> list[str]:
    """Make the first create's answer get lost, after (or before) the request reached the server."""
    transport, real = client.transport, client.transport.request
    sent: list[str] = []

    async def request(method, url, **kw):
        if method == "POST" and not sent:
            sent.append(url)
            if after_sending:
                await real(method, url, **kw)
            raise ServiceUnreachable("faces", "CONNECTION_LOST", "the connection dropped (test)")
        return await real(method, url, **kw)

    transport.request = request
    return sent


def test_create_whose_answer_was_lost_is_adopted_not_repeated(sandbox, tmp_path):
    csv = write_roster(tmp_path / "staff", 4)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    lost = _lose_first_create(ws.faces, after_sending=True)
    b = ws.faces.enroll(csv).wait(timeout=30)
    assert lost and b.status_counts()["succeeded"] == 1 and b.jobs[0].meta["lookup"] == "adopted"
    t = tenant_stats(sandbox)
    assert t["jobs"]["created"] == 1
    assert t["requests"]["POST /collections/{collection_id}/faces/batch-async"] == {"202": 1}
    assert all(v[0] for v in outcomes(b).values()) and len(outcomes(b)) == 4


def test_create_lost_before_the_server_is_sent_again_and_look_alikes_are_not_adopted(sandbox, tmp_path):
    pool = face_pool()
    with httpx.Client(base_url=sandbox.base_url("faces"), headers={"X-API-Key": sandbox.key("faces")}) as c:
        files = [("images", (f"x{i}.jpg", pool[i])) for i in range(4)]  # same size and collection, other ids
        decoy = c.post(
            f"/collections/{DEFAULT_COLLECTION}/faces/batch-async",
            files=files,
            data={"external_ids[]": [f"other-{i}" for i in range(4)]},
        ).json()["data"]["job_id"]
    csv = write_roster(tmp_path / "staff", 4)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    _lose_first_create(ws.faces, after_sending=False)
    b = ws.faces.enroll(csv).wait(timeout=30)
    (job,) = b.jobs
    assert job.status == Status.SUCCEEDED and job.meta["lookup"] == "absent" and job.job_id != decoy
    assert tenant_stats(sandbox)["jobs"]["created"] == 2  # the decoy and ours, nothing twice
    assert set(outcomes(b)) == {f"emp-{i:03d}" for i in range(4)}


KILLED_CLIENT = textwrap.dedent("""
    import os, sys
    from toolkit.client import transport

    real = transport.Transport.request

    async def request(self, method, url, **kw):
        r = await real(self, method, url, **kw)
        if method == "POST" and url.endswith("/faces/batch-async") and r.status_code == 202:
            os._exit(9)  # killed after the server stored the job, before its id reached the ledger
        return r

    transport.Transport.request = request
    from toolkit.workspace import Workspace
    ws = Workspace(sys.argv[1], keys={"faces": sys.argv[2]}, base_urls={"faces": sys.argv[3]}, quiet=True)
    ws.faces.enroll(sys.argv[4]).wait(timeout=60, progress=False)
""")


def test_interrupted_create_is_adopted_after_kill(sandbox, tmp_path, monkeypatch):
    csv = write_roster(tmp_path / "staff", 3)
    script = tmp_path / "client.py"
    script.write_text(KILLED_CLIENT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FR_ORG_ID": DEFAULT_ORG, "FR_COLLECTION_ID": DEFAULT_COLLECTION}
    env.pop("FR_JWT", None)
    args = [str(tmp_path / "ws"), sandbox.key("faces"), sandbox.base_url("faces"), str(csv)]
    proc = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    assert tenant_stats(sandbox)["jobs"]["created"] == 1

    for k in ("FR_ORG_ID", "FR_COLLECTION_ID"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.delenv("FR_JWT", raising=False)
    ws = Workspace(
        tmp_path / "ws",
        keys={"faces": sandbox.key("faces")},
        base_urls={"faces": sandbox.base_url("faces")},
        quiet=True,
    )
    (pending,) = ws.ledger.jobs(provider="faces")
    assert pending.job_id is None and pending.meta["create_sent"]
    b = ws.faces.enroll(csv).wait(timeout=30)
    (job,) = b.jobs
    assert job.status == Status.SUCCEEDED and job.meta["lookup"] == "adopted"
    assert job.job_id == server_jobs(sandbox)[0]["job_id"]
    assert tenant_stats(sandbox)["jobs"]["created"] == 1 and len(outcomes(b)) == 3


def test_poll_uses_the_key_or_the_jwt_and_a_refused_jwt_says_so(sandbox, tmp_path):
    csv = write_roster(tmp_path / "staff", 2)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    seen = watch_headers(ws.faces)
    assert ws.faces.enroll(csv).wait(timeout=30).status_counts()["succeeded"] == 1
    assert {(m, key, auth) for m, _, key, auth in seen} == {("POST", True, None), ("GET", True, None)}

    other = write_roster(tmp_path / "more", 2, prefix="new")
    ws2 = Workspace(tmp_path / "ws2", sandbox=sandbox, quiet=True)
    ws2.faces.transport.config.extra["jwt"] = "eyJ.expired.jwt"
    seen = watch_headers(ws2.faces)
    b = ws2.faces.enroll(other).wait(timeout=30)
    (job,) = b.jobs
    assert job.status == Status.FAILED and job.error_code == "JWT_REQUIRED" and job.http_status == 401
    assert "a dashboard JWT is required (FR_JWT)" in str(job.error()) and job.job_id
    assert seen[0][:3] == ("POST", f"/faces/api/v1/collections/{DEFAULT_COLLECTION}/faces/batch-async", True)
    assert {(m, key, auth) for m, _, key, auth in seen[1:]} == {("GET", False, "Bearer eyJ.expired.jwt")}
    assert ws2.faces.failed_items(b) == []  # the job may well have enrolled its rows: not re-sent

    # a fresh JWT (the sandbox accepts the key as one): the same call re-attaches, nothing is created again
    ws2.faces.transport.config.extra["jwt"] = sandbox.key("faces")
    seen.clear()
    again = ws2.faces.enroll(other).wait(timeout=30)
    assert again.jobs[0].job_id == job.job_id and again.status_counts()["succeeded"] == 1
    assert seen and all(m == "GET" and not key and auth == f"Bearer {sandbox.key('faces')}" for m, _, key, auth in seen)
    assert tenant_stats(sandbox)["jobs"]["created"] == 2 and len(outcomes(again)) == 2


def test_unknown_collection_fails_the_job_with_its_code(sandbox, tmp_path):
    csv = write_roster(tmp_path / "staff", 2)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.faces.enroll(csv, collection="no-such-collection").wait(timeout=30)
    (job,) = b.jobs
    assert job.status == Status.FAILED and job.error_code == "COLLECTION_NOT_FOUND" and job.job_id
    assert "no-such-collection" in job.error_message and job.options == {"collection": "no-such-collection"}
    assert [len(i.meta["rows"]) for i in ws.faces.failed_items(b)] == [2]
    # a wrong organisation id: the job is created, then polls answer 404; that is not called "expired"
    ws.faces.transport.config.extra["org"] = "someone-else"
    (job,) = ws.faces.enroll(csv).wait(timeout=30).jobs
    assert job.status == Status.FAILED and job.error_code == "JOB_NOT_FOUND" and "FR_ORG_ID" in job.error_message


def test_synchronous_404_on_create_fails_the_job_with_a_hint(sandbox, tmp_path):
    csv = write_roster(tmp_path / "staff", 2)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    body = {"success": False, "error": {"code": "COLLECTION_NOT_FOUND", "message": "Collection gone not found."}}
    with respx.mock(assert_all_called=True) as mock:  # the sandbox answers 202 then fails the job instead
        mock.post(url__regex=r".*/collections/gone/faces/batch-async$").respond(404, json=body)
        b = ws.faces.enroll(csv, collection="gone").wait(timeout=30)
    (job,) = b.jobs
    assert (job.status, job.error_code, job.http_status, job.job_id) == (
        Status.FAILED,
        "COLLECTION_NOT_FOUND",
        404,
        None,
    )
    assert (
        job.error_message.startswith("Collection gone not found.")
        and "check the collection id 'gone'" in job.error_message
    )


def test_preflight_names_each_bad_row_and_sends_only_good_rows(sandbox, tmp_path):
    folder = tmp_path / "staff"
    csv = write_roster(folder, 3)
    tiny = io.BytesIO()
    Image.open(io.BytesIO(face_pool()[0])).resize((80, 90)).save(tiny, "JPEG")
    webp = io.BytesIO()
    Image.open(io.BytesIO(face_pool()[0])).save(webp, "WEBP")
    files = {
        "tiny.jpg": tiny.getvalue(),
        "notes.jpg": b"this is text, not a picture\n",
        "empty.png": b"",
        "cut.jpg": face_pool()[1][:1500],
        "big.jpg": b"\xff\xd8\xff" + bytes(11 * 1024 * 1024),
        "pic.webp": webp.getvalue(),
    }
    for name, data in files.items():
        (folder / "img" / name).write_bytes(data)
    extra = [
        "bad-tiny,T,img/tiny.jpg",
        "bad-text,X,img/notes.jpg",
        "bad-empty,E,img/empty.png",
        "bad-cut,C,img/cut.jpg",
        "bad-big,B,img/big.jpg",
        "bad-webp,W,img/pic.webp",
        "gone,G,img/missing.jpg",
        ",N,img/emp000.jpg",
        "dup,D1,img/emp001.jpg",
        "dup,D2,img/emp002.jpg",
        "no-image,I,",
        "x" * 300 + ",L,img/emp000.jpg",
    ]
    csv.write_text(csv.read_text() + "\n".join(extra) + "\n")
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.faces.enroll(csv).wait(timeout=30)
    reasons = {e.input: e.message for e in b.rejected}
    assert reasons == {
        "roster.csv row 5 (bad-tiny)": "the image img/tiny.jpg is 80x90 px; at least 100x100 px is needed",
        "roster.csv row 6 (bad-text)": "the file img/notes.jpg is not an image (by its content); only JPEG or PNG "
        "images are accepted",
        "roster.csv row 7 (bad-empty)": "the image file img/empty.png is empty",
        "roster.csv row 8 (bad-cut)": reasons["roster.csv row 8 (bad-cut)"],
        "roster.csv row 9 (bad-big)": "the image file img/big.jpg is 11.5 MB; at most 10 MB is accepted",
        "roster.csv row 10 (bad-webp)": "the file img/pic.webp is image/webp; only JPEG or PNG images are accepted",
        "roster.csv row 11 (gone)": "the image file img/missing.jpg does not exist",
        "roster.csv row 12": "the external id is missing",
        "roster.csv row 13 (dup)": "the external id 'dup' is duplicated (rows 13, 14); ids must be unique",
        "roster.csv row 14 (dup)": "the external id 'dup' is duplicated (rows 13, 14); ids must be unique",
        "roster.csv row 15 (no-image)": "the image path is missing",
        f"roster.csv row 16 ({'x' * 300})": "the external id has 300 characters; at most 255 are accepted",
    }
    assert "cannot be decoded" in reasons["roster.csv row 8 (bad-cut)"]
    assert all(str(e).endswith("(not sent to faces)") for e in b.rejected)
    assert b.status_counts()["succeeded"] == 1 and [r["index"] for r in b.jobs[0].meta["rows"]] == [0, 1, 2]
    assert set(outcomes(b)) == {"emp-000", "emp-001", "emp-002"}
    assert b.jobs[0].input == "roster.csv rows 2-4"  # the rows the job carries (5-16 were rejected)


def test_roster_without_usable_columns_is_refused_whole_and_nothing_sent(sandbox, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("name,department\nalice,hr\n")
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    with pytest.raises(PreflightError) as e:
        ws.faces.enroll(csv)
    assert e.value.input == "people.csv" and "columns found: 'name', 'department'" in e.value.message
    assert "external-id column" in e.value.message and "image column" in e.value.message
    with pytest.raises(PreflightError, match="the image column 'photo'"):
        ws.faces.enroll(write_roster(tmp_path / "staff", 2), image_column="photo")
    with pytest.raises(PreflightError, match="does not exist"):
        ws.faces.enroll(tmp_path / "nope.csv")
    all_bad = tmp_path / "bad.csv"
    all_bad.write_text("id,image\n,a.jpg\nb,missing.jpg\n")
    with pytest.raises(PreflightError) as raised:  # every row refused: raised, each one in .rejected
        ws.faces.enroll(all_bad)
    assert len(raised.value.rejected) == 2
    assert ws.faces.transport.requests == 0 and "faces" not in stats(sandbox)["providers"]


def test_roster_forms_agree_and_the_split_is_stable(sandbox, tmp_path):
    csv = write_roster(tmp_path / "staff", 230, no_faces={120})
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    plan = ws.faces.preflight(csv, collection="c")
    assert [i.input for i in plan] == ["roster.csv rows 2-101", "roster.csv rows 102-201", "roster.csv rows 202-231"]
    frame = pd.read_csv(csv, dtype=str)
    as_frame = ws.faces.preflight(frame, collection="c", base_dir=csv.parent)
    pairs = [(r.external_id, csv.parent / r.image) for r in frame.itertuples()]
    as_pairs = ws.faces.preflight(pairs, collection="c")
    assert [i.content for i in as_frame] == [i.content for i in as_pairs] == [i.content for i in plan]
    # fixing a row (here: replacing one image) changes its own slice only, so a re-run keeps the other jobs
    (csv.parent / "img/emp150.jpg").write_bytes(face_pool()[151 % len(face_pool())])
    after = ws.faces.preflight(csv, collection="c")
    assert [a.content == b.content for a, b in zip(plan, after)] == [True, False, True]
    # a folder: one row per image, external id = file stem
    folder = ws.faces.preflight(csv.parent / "img", collection="c")
    assert [r["external_id"] for r in folder[0].meta["rows"][:2]] == ["emp000", "emp001"]
    assert sum(len(i.meta["rows"]) for i in folder) == 230
    assert ws.faces.transport.requests == 0
