"""A ledger you can trust: several processes, long outages, wrong keys, lost files and a full disk, and still
every input is one server job, in its true final state, with its result (issue #13).

Every case runs a real sandbox over loopback and reads its database for the server-side truth.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from tests.helpers import scene_image
from tests.reliability.chaos_run import server_jobs
from toolkit.client.ledger import DiskFullError, LedgerError
from toolkit.client.model import Status
from toolkit.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.001

#: one client process: AD or Authenta on the given images, against the sandbox at URL with KEY
CLIENT = (
    textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from toolkit.workspace import Workspace
    ws_dir, provider, base, key, images, start = sys.argv[2:8]
    ws = Workspace(ws_dir, keys={provider: key}, base_urls={provider: base}, quiet=True)
    cfg = ws._config(provider)
    cfg.sandbox, cfg.time_scale, cfg.rate_limits = True, %r, []
    while time.time() < float(start):  # every process sends its first request at the same moment
        time.sleep(0.001)
    paths = json.loads(images)
    if provider == "animaldetect":
        b = ws.animaldetect.detect(paths)
    else:
        b = ws.authenta.run("ai-image-detection", paths)
    b.wait(timeout=120, progress=False)
    print("RESULT", json.dumps({"counts": b.status_counts(), "requests": ws.client(provider).transport.requests,
                                "errors": sorted({str(j.error_code) for j in b.jobs if j.error_code})}), flush=True)
""")
    % SCALE
)


def images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"img-{i:03d}.jpg"
        p.write_bytes(scene_image(seed + i, size=(96, 72), objects=1 + i % 2))
        out.append(p)
    return out


def client_ws(path: Path, sb, provider: str, key: str | None = None) -> Workspace:
    """A workspace that talks to ``sb`` as if it were the real service (keys and base URL)."""
    ws = Workspace(
        path, keys={provider: key or sb.key(provider)}, base_urls={provider: sb.base_url(provider)}, quiet=True
    )
    cfg = ws._config(provider)
    cfg.sandbox, cfg.time_scale, cfg.rate_limits = True, SCALE, []
    cfg.max_attempts, cfg.backoff_base = 3, 0.01
    return ws


def server(sb, provider: str) -> list[dict]:
    return [r for r in server_jobs(sb.config.data_dir) if r["provider"] == provider]


def one_job_per_input(rows: list[dict], n: int) -> None:
    digests = [r["input_digest"] for r in rows]
    assert len(rows) == n and len(set(digests)) == n, f"{len(rows)} server jobs for {n} inputs"


def run_clients(n_procs: int, ws_dirs: list[Path], provider: str, sb, paths: list[Path]) -> list[dict]:
    start = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLIENT,
                str(ROOT),
                str(ws_dirs[i % len(ws_dirs)]),
                provider,
                sb.base_url(provider),
                sb.key(provider),
                json.dumps([str(p) for p in paths]),
                str(start),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n_procs)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        assert p.returncode == 0, stderr[-3000:]
        line = next(ln for ln in stdout.splitlines() if ln.startswith("RESULT "))
        out.append(json.loads(line[7:]))
    return out


@pytest.mark.parametrize("provider", ["animaldetect", "authenta"])
def test_several_processes_on_one_workspace_make_one_server_job_per_input_and_all_succeed(tmp_path, sandbox, provider):
    paths = images(tmp_path / "in", 20)
    results = run_clients(3, [tmp_path / "ws"], provider, sandbox, paths)
    for r in results:  # every process sees every job succeed: none is recorded as failed
        assert r["counts"]["succeeded"] == 20 and r["errors"] == [], r
    one_job_per_input(server(sandbox, provider), 20)
    ws = client_ws(tmp_path / "ws", sandbox, provider)
    jobs = ws.ledger.jobs(provider=provider)
    assert len(jobs) == 20 and {j.status for j in jobs} == {Status.SUCCEEDED}
    assert all(ws.ledger.get_result(j.result_digest) for j in jobs)
    again = (
        ws.animaldetect.detect(paths) if provider == "animaldetect" else ws.authenta.run("ai-image-detection", paths)
    )
    again.wait(timeout=60, progress=False)
    assert ws.client(provider).transport.requests == 0  # a re-run is free


def test_two_workspaces_on_one_key_with_the_same_images_share_the_jobs(tmp_path, sandbox):
    paths = images(tmp_path / "in", 20, seed=100)
    results = run_clients(2, [tmp_path / "ws-a", tmp_path / "ws-b"], "animaldetect", sandbox, paths)
    for r in results:
        assert r["counts"]["succeeded"] == 20 and r["errors"] == [], r
    one_job_per_input(server(sandbox, "animaldetect"), 20)


def outage_mid_batch(tmp_path: Path, make_sandbox, n: int, seed: int, created: int):
    """An Animal Detect batch of ``n`` images whose sandbox goes down (longer than every retry) once
    ``created`` jobs have ids; returns the sandbox's restart function, the workspace, the inputs and the batch."""
    data = tmp_path / "sandbox"
    sb = make_sandbox(data_dir=data)
    port = sb.port
    paths = images(tmp_path / "in", n, seed=seed)
    ws = client_ws(tmp_path / "ws", sb, "animaldetect")
    ws.client("animaldetect").transport.config.max_in_flight = 2  # the outage lands mid-batch
    b = ws.animaldetect.detect(paths)
    deadline = time.monotonic() + 30
    while sum(j.job_id is not None for j in b.jobs) < created and time.monotonic() < deadline:
        time.sleep(0.005)
    sb.stop()
    b.wait(timeout=120, progress=False)
    return (lambda: make_sandbox(data_dir=data, port=port)), ws, paths, b


def test_an_outage_longer_than_the_retry_budget_resumes_on_a_re_run_without_a_duplicate(tmp_path, make_sandbox):
    restart, ws, paths, b = outage_mid_batch(tmp_path, make_sandbox, 30, seed=200, created=5)
    stopped = [j for j in b.jobs if j.status == Status.FAILED]
    assert stopped, "the outage should have stopped some jobs"
    assert all(j.error_code == "UNREACHABLE" for j in stopped), {j.error_code for j in stopped}
    sb2 = restart()  # back, same port and data
    again = ws.animaldetect.detect(paths).wait(timeout=120, progress=False)
    assert again.status_counts()["succeeded"] == 30, [
        (j.status, j.error_code, j.error_message) for j in again.jobs if j.status != Status.SUCCEEDED
    ]
    one_job_per_input(server(sb2, "animaldetect"), 30)
    assert len({r["idem_key"] for r in server(sb2, "animaldetect")}) == 30


def test_retry_failed_after_an_outage_resumes_the_same_jobs_and_pays_for_none_twice(tmp_path, make_sandbox):
    restart, ws, paths, b = outage_mid_batch(tmp_path, make_sandbox, 20, seed=300, created=4)
    assert b.status_counts()["failed"] > 0
    sb2 = restart()
    retried = b.retry_failed()
    retried.wait(timeout=120, progress=False)
    b.wait(timeout=120, progress=False)
    assert b.status_counts()["succeeded"] == 20, b.status_counts()
    one_job_per_input(server(sb2, "animaldetect"), 20)


def test_a_wrong_key_fails_fast_and_the_right_key_resumes_every_job(tmp_path, sandbox, capsys):
    paths = images(tmp_path / "in", 20, seed=400)
    ws = client_ws(tmp_path / "ws", sandbox, "animaldetect", key="sk_wrong_key_000")
    b = ws.animaldetect.detect(paths).wait(timeout=60)
    assert b.status_counts()["failed"] == 20
    assert {j.http_status for j in b.jobs} == {401}
    # the first 401 stops the other creates: only those already in flight with it were sent (8 create slots)
    assert ws.client("animaldetect").transport.requests <= ws.client("animaldetect").transport.config.max_in_flight // 2
    err = capsys.readouterr().err
    assert "20 job(s) stopped with" in err and "re-run the same call and they resume" in err
    ws2 = client_ws(tmp_path / "ws", sandbox, "animaldetect")
    again = ws2.animaldetect.detect(paths).wait(timeout=120, progress=False)
    assert again.status_counts()["succeeded"] == 20
    one_job_per_input(server(sandbox, "animaldetect"), 20)


def test_the_ledger_file_alone_holds_every_row_once_a_batch_settles(tmp_path, sandbox):
    paths = images(tmp_path / "in", 5, seed=500)
    ws = client_ws(tmp_path / "ws", sandbox, "authenta")
    ws.authenta.run("ai-image-detection", paths).wait(timeout=120, progress=False)
    copy = tmp_path / "copy"  # a sync that copies ledger.sqlite3 and the cache, not the -wal file
    copy.mkdir()
    shutil.copy(tmp_path / "ws" / "ledger.sqlite3", copy / "ledger.sqlite3")
    shutil.copytree(tmp_path / "ws" / "cache", copy / "cache")
    ws2 = client_ws(copy, sandbox, "authenta")
    assert len(ws2.ledger.jobs(provider="authenta")) == 5
    ws2.authenta.run("ai-image-detection", paths).wait(timeout=60, progress=False)
    assert ws2.client("authenta").transport.requests == 0
    one_job_per_input(server(sandbox, "authenta"), 5)


def test_a_lost_ledger_is_noticed_and_reconciled_with_the_provider_not_resubmitted(tmp_path, sandbox):
    paths = images(tmp_path / "in", 5, seed=600)
    ws = client_ws(tmp_path / "ws", sandbox, "authenta")
    ws.authenta.run("ai-image-detection", paths).wait(timeout=120, progress=False)
    ws.ledger.close()
    for f in (tmp_path / "ws").glob("ledger.sqlite3*"):
        f.unlink()
    with pytest.warns(UserWarning, match="not the one this workspace's cache was written with"):
        ws2 = client_ws(tmp_path / "ws", sandbox, "authenta")
    b = ws2.authenta.run("ai-image-detection", paths).wait(timeout=120, progress=False)
    assert b.status_counts()["succeeded"] == 5
    one_job_per_input(server(sandbox, "authenta"), 5)  # found in the job list, not created again


def test_a_lost_ledger_on_a_provider_that_cannot_tell_stops_and_explains(tmp_path, sandbox):
    ws = client_ws(tmp_path / "ws", sandbox, "sateais")
    aoi = (14.50, 35.88, 14.53, 35.90)
    ws.sateais.ship(aoi, date="2026-06-15").wait(timeout=120, progress=False)
    ws.ledger.close()
    for f in (tmp_path / "ws").glob("ledger.sqlite3*"):
        f.unlink()
    # and the cache's record of the job id (as when the create's answer was lost too): nothing to follow
    (tmp_path / "ws" / "cache" / "job-ids").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws2 = client_ws(tmp_path / "ws", sandbox, "sateais")
    b = ws2.sateais.ship(aoi, date="2026-06-15").wait(timeout=60, progress=False)
    job = b.jobs[0]
    assert (
        job.status == Status.FAILED and job.error_code == "SUBMISSION_UNCERTAIN" and "force=True" in job.error_message
    )
    assert len(server(sandbox, "sateais")) == 1  # never sent blindly a second time
    forced = ws2.sateais.ship(aoi, date="2026-06-15", force=True).wait(timeout=120, progress=False)
    assert forced.status_counts()["succeeded"] == 1


def test_a_corrupt_ledger_is_a_clear_error_naming_the_file(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "ledger.sqlite3").write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(LedgerError, match=r"ledger\.sqlite3 is not a readable ledger .* Move it aside"):
        Workspace(tmp_path / "ws", quiet=True)


def test_a_lost_cache_is_fetched_again_and_loaders_never_return_silently_empty(tmp_path, sandbox):
    paths = images(tmp_path / "in", 8, seed=700)
    ws = client_ws(tmp_path / "ws", sandbox, "animaldetect")
    b = ws.animaldetect.detect(paths).wait(timeout=120, progress=False)
    rows = len(b.detections())
    shutil.rmtree(tmp_path / "ws" / "cache")
    with pytest.warns(UserWarning, match="8 of 8 succeeded job"):
        assert b.raw() == []
    again = ws.animaldetect.detect(paths)
    assert not again.done  # results missing: not settled
    again.wait(timeout=120, progress=False)
    assert len(again.raw()) == 8 and len(again.detections()) == rows
    one_job_per_input(server(sandbox, "animaldetect"), 8)
    digest = again.jobs[0].result_digest
    ws.ledger.result_path(digest).write_bytes(b"damaged")  # overwritten: fails its digest, fetched again
    ws2 = client_ws(tmp_path / "ws", sandbox, "animaldetect")  # the next session
    again = ws2.animaldetect.detect(paths)
    assert not again.done
    again.wait(timeout=120, progress=False)
    assert ws2.ledger.get_result(digest) is not None and len(again.raw()) == 8


def test_a_leftover_part_file_is_removed_when_the_workspace_opens(tmp_path):
    part = tmp_path / "ws" / "cache" / "ab" / "abcdef.123.456.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half")
    os.utime(part, (time.time() - 3600, time.time() - 3600))
    fresh = part.with_name("abcdef.789.1.part")  # another process may be writing this one now
    fresh.write_bytes(b"writing")
    Workspace(tmp_path / "ws", quiet=True)
    assert not part.exists() and fresh.exists()


def test_an_insert_race_is_not_an_error_and_a_row_never_moves_backwards(tmp_path):
    from toolkit.client.ledger import Ledger
    from toolkit.client.model import Job

    a, b = Ledger(tmp_path), Ledger(tmp_path)
    mine = Job(key="k1", provider="animaldetect", operation="detect", input="x.jpg", batch_id="b1")
    theirs = Job(key="k1", provider="animaldetect", operation="detect", input="x.jpg", batch_id="b2")
    assert a.insert(mine) is mine
    assert b.insert(theirs).batch_id == "b1"  # the row that won
    mine.status, mine.result_digest = Status.SUCCEEDED, "d" * 64
    a.save(mine)
    theirs = b.get("k1")
    theirs.status, theirs.error_code = Status.FAILED, "VALIDATION_ERROR"  # a lagging process's 409
    assert b.save(theirs, "status", "error_code") is False
    assert theirs.status == Status.SUCCEEDED and a.get("k1").status == Status.SUCCEEDED
    assert a.get("k1").error_code is None


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        # 4 MiB: room for the resumed batch's ledger, its write-ahead log and its results once the filler is gone
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"this test needs root to mount a tmpfs: {done.stderr}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_clear_error_and_everything_resumes_after_space_is_freed(tmp_path, sandbox, small_disk):
    paths = images(tmp_path / "in", 12, seed=800)
    ws = client_ws(small_disk / "ws", sandbox, "animaldetect")
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * max(0, free - 48 * 1024))
    with pytest.raises(DiskFullError, match=r"disk holding the workspace .*ws is full .*MB free.* re-run"):
        ws.animaldetect.detect(paths).wait(timeout=120, progress=False)
    filler.unlink()
    again = ws.animaldetect.detect(paths).wait(timeout=120, progress=False)
    assert again.status_counts()["succeeded"] == 12, again.status_counts()
    one_job_per_input(server(sandbox, "animaldetect"), 12)
    assert not list((small_disk / "ws" / "cache").glob("*/*.part"))
    db = sqlite3.connect(small_disk / "ws" / "ledger.sqlite3")
    assert db.execute("SELECT count(*) FROM jobs WHERE status='succeeded'").fetchone()[0] == 12


@pytest.mark.parametrize("provider", ["authenta", "animaldetect"])
def test_credits_running_out_mid_batch_stop_the_sends_and_a_top_up_resumes(tmp_path, make_sandbox, provider, capsys):
    import httpx

    sb = make_sandbox(credits={provider: 3})
    paths = images(tmp_path / "in", 10, seed=900)
    ws = client_ws(tmp_path / "ws", sb, provider)
    ws.client(provider).transport.config.max_in_flight = 2  # one create at a time: the 402 lands mid-batch
    run = (
        (lambda: ws.authenta.run("ai-image-detection", paths))
        if provider == "authenta"
        else (lambda: ws.animaldetect.detect(paths))
    )
    b = run().wait(timeout=120)
    counts = b.status_counts()
    assert counts["succeeded"] == 3 and counts["failed"] == 7, counts
    assert {j.http_status for j in b._failed_jobs()} == {402}
    creates = [r for r in server(sb, provider)]
    assert len(creates) == 3
    stats = httpx.get(sb.url + "/__sandbox__/stats").json()["providers"][provider]["tenants"]
    refused = sum(
        n
        for t in stats.values()
        for route, codes in t["requests"].items()
        for code, n in codes.items()
        if code == "402"
    )
    assert refused == 1, f"{refused} creates met the 402: the first should stop the others"
    assert "7 job(s) stopped with" in capsys.readouterr().err
    r = httpx.put(sb.url + "/__sandbox__/credits", json={"provider": provider, "key": sb.key(provider), "credits": 100})
    assert r.status_code == 200
    again = run().wait(timeout=120, progress=False)
    assert again.status_counts()["succeeded"] == 10
    one_job_per_input(server(sb, provider), 10)


def lose_ledger(ws_dir: Path) -> None:
    for f in ws_dir.glob("ledger.sqlite3*"):
        f.unlink()


def test_a_lost_ledger_then_the_claid_cell_again_follows_the_recorded_tasks_and_creates_none(tmp_path, sandbox):
    """Claid has no task list: the cache's record of each key's task id (written the moment it is known) is what
    lets the re-run adopt the four tasks instead of paying for four more (issue 21)."""
    paths = images(tmp_path / "in", 4, seed=640)
    ws = client_ws(tmp_path / "ws", sandbox, "claid")
    first = ws.claid.edit(paths, {"resizing": {"width": 40}}).wait(timeout=120, progress=False)
    assert first.status_counts()["succeeded"] == 4
    tasks = {j.key: j.job_id for j in first.jobs}
    ws.ledger.close()
    lose_ledger(tmp_path / "ws")
    shutil.rmtree(tmp_path / "ws" / "cache" / tasks_dir(first))  # and a result, so one task is fetched again
    with pytest.warns(UserWarning, match="not the one this workspace's cache was written with"):
        ws2 = client_ws(tmp_path / "ws", sandbox, "claid")
    b = ws2.claid.edit(paths, {"resizing": {"width": 40}}).wait(timeout=120, progress=False)
    assert b.status_counts()["succeeded"] == 4, [(j.error_code, j.error_message) for j in b.jobs]
    assert {j.key: j.job_id for j in b.jobs} == tasks  # the same tasks, adopted
    assert len(server(sandbox, "claid")) == 4  # no second Claid task for any input


def tasks_dir(batch) -> str:
    """The cache folder of the first job's result (its digest's first two characters)."""
    return batch.jobs[0].result_digest[:2]
