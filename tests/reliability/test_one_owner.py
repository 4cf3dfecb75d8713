"""One owner per job, not per process (issue #21): whatever submits a key — the same cell run twice, a thread,
another ``Workspace`` object on the same folder, a retry clicked twice — either drives the job or follows the
one that does. Every case counts the jobs in the sandbox's own database.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.reliability.chaos_run import PROVIDERS, make_inputs, server_jobs, submit_all, unthrottle, wait_all
from toolkit.client.model import Status
from toolkit.workspace import Workspace

N = {"animaldetect": 4, "sateais": 4, "authenta": 4, "claid": 4, "faces": 2}


def one_server_job_per_input(sb, provider: str, n: int) -> None:
    rows = [r for r in server_jobs(sb.config.data_dir) if r["provider"] == provider]
    digests = Counter(r["input_digest"] for r in rows)
    assert len(rows) == n and len(digests) == n, f"{provider}: {len(rows)} server jobs for {n} inputs: {digests}"


def all_succeeded(batches) -> None:
    for bs in batches.values():
        for b in bs:
            counts = Counter(j.status for j in b.jobs)
            assert counts == {Status.SUCCEEDED: len(b.jobs)}, [(j.input, j.status, j.error_code) for j in b.jobs]


@pytest.fixture
def slow_sandbox(make_sandbox):
    """A sandbox whose jobs take long enough that a second call starts while the first one's are in flight."""
    return make_sandbox(time_scale=0.01)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_same_cell_run_twice_within_a_second_creates_each_job_once(tmp_path: Path, slow_sandbox, provider):
    inp = make_inputs(tmp_path / "in", {**{p: 2 for p in PROVIDERS}, provider: N[provider]})
    ws = Workspace(tmp_path / "ws", sandbox=slow_sandbox, quiet=True)
    unthrottle(ws)
    first = submit_all(ws, inp, (provider,))
    second = submit_all(ws, inp, (provider,))  # Shift-Enter again while the first one's creates are in flight
    wait_all(second, timeout=180)
    wait_all(first, timeout=180)
    one_server_job_per_input(slow_sandbox, provider, N[provider])
    all_succeeded(first)
    all_succeeded(second)
    assert len(ws.ledger.jobs(provider=provider)) == N[provider]


def test_threads_on_one_workspace_and_one_workspace_per_thread_create_each_job_once(tmp_path: Path, slow_sandbox):
    inp = make_inputs(tmp_path / "in", {**{p: 2 for p in PROVIDERS}, "claid": 5, "faces": 1})
    shared = Workspace(tmp_path / "ws", sandbox=slow_sandbox, quiet=True)
    unthrottle(shared)
    go = threading.Barrier(6)
    out: list[dict] = []
    errors: list[BaseException] = []

    def run(own: bool) -> None:
        try:
            ws = Workspace(tmp_path / "ws", sandbox=slow_sandbox, quiet=True) if own else shared
            unthrottle(ws)
            go.wait(timeout=60)
            batches = submit_all(ws, inp, ("claid", "faces"))
            wait_all(batches, timeout=180)
            out.append(batches)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i % 2 == 1,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(out) == 6
    one_server_job_per_input(slow_sandbox, "claid", 5)
    one_server_job_per_input(slow_sandbox, "faces", 1)
    for batches in out:
        all_succeeded(batches)


def test_retry_failed_twice_pays_each_failed_input_once(tmp_path: Path, make_sandbox):
    sb = make_sandbox(time_scale=0.01, faults="authenta.fail=0.5", seed=3)
    inp = make_inputs(tmp_path / "in", {**{p: 2 for p in PROVIDERS}, "authenta": 8})
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    unthrottle(ws)
    (b,) = submit_all(ws, inp, ("authenta",))["authenta"]
    b.wait(timeout=180, progress=False)
    failed = len(b._failed_jobs())
    assert failed > 0, "the fault injection failed no job: pick another seed"
    httpx.put(sb.url + "/__sandbox__/faults", json={"spec": ""}).raise_for_status()  # the retries succeed
    r1 = b.retry_failed()  # the button clicked twice: the second click while the first retry runs
    r2 = b.retry_failed()
    for r in (r2, r1):
        r.wait(timeout=180, progress=False)
    assert r1.id == r2.id
    rows = [r for r in server_jobs(sb.config.data_dir) if r["provider"] == "authenta"]
    assert len(rows) == 8 + failed, f"{len(rows)} server jobs for 8 inputs and {failed} retries"
    assert Counter(j.status for j in r1.jobs) == {Status.SUCCEEDED: failed}
    assert Counter(j.status for j in r2.jobs) == {Status.SUCCEEDED: failed}
