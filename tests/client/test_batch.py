"""The batch core on its own: ``ProviderClient`` / ``Batch`` / the driver over a fake in-memory provider.

No sandbox and no HTTP: ``FakeAdapter`` keeps the provider's jobs in a dict and counts every call; the
``Transport`` the client requires points at an unused address and is never used. The ledger is real
(``tmp_path``), so re-submitting, re-attaching and resuming go through the same rows a notebook re-run does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

from toolkit import load
from toolkit.client.batch import Batch, ProviderClient
from toolkit.client.ledger import Ledger
from toolkit.client.model import Job, JobError, Status, ServiceUnreachable
from toolkit.client.providers.base import Adapter, Item, PollPolicy, PollResult
from toolkit.client.settled import settled
from toolkit.client.transport import ProviderConfig, Transport

TIMEOUT = 20.0


class FakeAdapter(Adapter):
    """A provider in a dict. A job is queued at create, running at its first poll, and at its second poll
    succeeds (result ``{"input": ..., "n": ...}``) or, for inputs in ``verdict_failed``, fails with the
    provider's own verdict. ``unreachable``: inputs whose create raises UNREACHABLE (nothing is created);
    ``gone``: inputs whose provider job answers 404 to polls; ``hold``: inputs that stay queued."""

    name = "fake"
    policy = PollPolicy(first=0.0, interval=0.01, factor=1.0, max_interval=0.02)

    def __init__(self, transport: Transport, store: Callable[[bytes], str] | None = None) -> None:
        super().__init__(transport, store)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, int] = {"create": 0, "poll": 0, "fetch": 0, "cancel": 0, "delete": 0, "find": 0}
        self.verdict_failed: set[str] = set()
        self.unreachable: set[str] = set()
        self.gone: set[str] = set()
        self.hold: set[str] = set()

    async def create(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        if item.input in self.unreachable:
            raise ServiceUnreachable(self.name, "UNREACHABLE", "fake provider unreachable", input=item.input)
        self.calls["create"] += 1
        job_id = f"j{len(self.jobs) + 1}"
        self.jobs[job_id] = {
            "input": item.input,
            "key": job.key,
            "status": "queued",
            "polls": 0,
            "content": item.content,
        }
        job.job_id = job.job_id or job_id
        job.status, job.provider_status = Status.QUEUED, "queued"
        record(job)

    async def poll(self, job: Job) -> PollResult:
        self.calls["poll"] += 1
        pj = self.jobs.get(job.job_id or "")
        if pj is None or pj["input"] in self.gone:
            raise JobError(self.name, "NOT_FOUND", "no such job", http_status=404, job_id=job.job_id)
        if pj["status"] in ("queued", "running") and pj["input"] not in self.hold:
            pj["polls"] += 1
            if pj["polls"] == 1:
                pj["status"] = "running"
            else:
                pj["status"] = "failed" if pj["input"] in self.verdict_failed else "succeeded"
        status = {
            "queued": Status.QUEUED,
            "running": Status.RUNNING,
            "succeeded": Status.SUCCEEDED,
            "failed": Status.FAILED,
            "cancelled": Status.CANCELLED,
        }[pj["status"]]
        if status == Status.FAILED:
            return PollResult(status, "failed", "BAD_INPUT", f"the provider cannot process {pj['input']}")
        return PollResult(status, pj["status"])

    async def fetch(self, job: Job) -> bytes:
        self.calls["fetch"] += 1
        pj = self.jobs.get(job.job_id or "")
        if pj is None or pj["status"] != "succeeded":
            raise JobError(self.name, "NOT_FOUND", "no result", http_status=404, job_id=job.job_id)
        return json.dumps({"input": pj["input"], "job_id": job.job_id}).encode()

    async def cancel(self, job: Job) -> bool:
        self.calls["cancel"] += 1
        pj = self.jobs.get(job.job_id or "")
        if pj is None or pj["status"] != "queued":
            return False
        pj["status"] = "cancelled"
        return True

    async def delete(self, job: Job) -> bool:
        self.calls["delete"] += 1
        return self.jobs.pop(job.job_id or "", None) is not None

    async def find(self, job: Job) -> bool:
        self.calls["find"] += 1
        for job_id, pj in self.jobs.items():
            if pj["key"] == job.key:
                job.job_id = job_id
        return True  # found, or proven absent


class FakeClient(ProviderClient):
    adapter_class = FakeAdapter


class NoCancelAdapter(FakeAdapter):
    cancel = Adapter.cancel  # an API without cancel


class NoCancelClient(ProviderClient):
    adapter_class = NoCancelAdapter


def make_client(ledger: Ledger, cls: type[ProviderClient] = FakeClient) -> ProviderClient:
    # a real Transport, as ProviderClient requires; nothing listens there and the fake adapter never calls it
    config = ProviderConfig(name="fake", base_url="http://127.0.0.1:9/v1", key="test-key-not-used", time_scale=1.0)
    return cls(ledger, Transport(config))


def items(*names: str) -> list[Item]:
    return [Item(input=n, content=n.encode()) for n in names]


@pytest.fixture
def ledger(tmp_path: Path):
    led = Ledger(tmp_path / "ws")
    yield led
    led.close()


def fake(client: ProviderClient) -> FakeAdapter:
    assert isinstance(client.adapter, FakeAdapter)
    return client.adapter


def test_one_job_per_distinct_input_polled_to_success_and_cached(ledger):
    client = make_client(ledger)
    batch = client.submit("detect", items("a.jpg", "b.jpg", "a.jpg")).wait(timeout=TIMEOUT, progress=False)
    assert isinstance(batch, Batch) and len(batch) == 2
    assert [j.input for j in batch.jobs] == ["a.jpg", "b.jpg"]
    assert fake(client).calls["create"] == 2 and fake(client).calls["fetch"] == 2
    assert batch.done and batch.status_counts()["succeeded"] == 2
    for j in batch.jobs:
        assert j.status == Status.SUCCEEDED and j.started_at is not None  # a poll saw it running
        assert ledger.has_result(j.result_digest) and settled(j, ledger.has_result)
        assert json.loads(ledger.get_result(j.result_digest)) == {"input": j.input, "job_id": j.job_id}
    assert [r["result"]["input"] for r in batch.raw()] == ["a.jpg", "b.jpg"]
    rows = {j.key: j for j in ledger.jobs()}
    assert set(rows) == {j.key for j in batch.jobs} and all(r.status == Status.SUCCEEDED for r in rows.values())


def test_resubmitting_reattaches_without_creating(ledger, tmp_path):
    client = make_client(ledger)
    first = client.submit("detect", items("a.jpg", "b.jpg")).wait(timeout=TIMEOUT, progress=False)
    calls = dict(fake(client).calls)
    again = client.submit("detect", items("b.jpg", "a.jpg")).wait(timeout=TIMEOUT, progress=False)
    assert again.id == first.id and {j.key for j in again.jobs} == {j.key for j in first.jobs}
    assert fake(client).calls == calls  # nothing created, polled or fetched again
    assert again.done and again.status_counts()["succeeded"] == 2
    # a new session (new ledger connection, new client) re-attaches the same way
    other = make_client(Ledger(tmp_path / "ws"))
    try:
        third = other.submit("detect", items("a.jpg", "b.jpg")).wait(timeout=TIMEOUT, progress=False)
        assert third.id == first.id and third.done and fake(other).calls["create"] == 0
    finally:
        other.ledger.close()
    assert len(ledger.jobs()) == 2
    # other options are other jobs
    fourth = client.submit("detect", items("a.jpg"), options={"threshold": 0.5}).wait(timeout=TIMEOUT, progress=False)
    assert fourth.id != first.id and fake(client).calls["create"] == calls["create"] + 1


def test_a_provider_failure_stays_failed_and_retry_failed_creates_a_new_job(ledger):
    client = make_client(ledger)
    fake(client).verdict_failed = {"bad.jpg"}
    batch = client.submit("detect", items("ok.jpg", "bad.jpg")).wait(timeout=TIMEOUT, progress=False)
    bad = next(j for j in batch.jobs if j.input == "bad.jpg")
    assert bad.status == Status.FAILED and bad.error_code == "BAD_INPUT"
    assert [j.input for j in batch._failed_jobs()] == ["bad.jpg"] and batch.can_retry
    table = batch.failed()  # what a user reads: a table, one row per failed job, not dataclass reprs
    assert list(table.columns) == [
        "input",
        "status",
        "error_code",
        "error_message",
        "job_id",
        "http_status",
        "finished_at",
    ]
    assert table[["input", "status", "error_code"]].astype(str).values.tolist() == [["bad.jpg", "failed", "BAD_INPUT"]]
    assert len(repr(table)) < 400  # not kilobytes of dataclass fields
    # the provider's verdict: a re-run re-attaches and leaves it failed (nothing sent)
    creates = fake(client).calls["create"]
    rerun = client.submit("detect", items("ok.jpg", "bad.jpg")).wait(timeout=TIMEOUT, progress=False)
    assert rerun.id == batch.id and fake(client).calls["create"] == creates
    assert [j.status for j in rerun.jobs] == [Status.SUCCEEDED, Status.FAILED]
    # retry_failed: a new job for the failed input only (the provider now accepts it)
    fake(client).verdict_failed = set()
    retry = batch.retry_failed().wait(timeout=TIMEOUT, progress=False)
    assert retry is not batch and retry.id != batch.id
    assert [j.input for j in retry.jobs] == ["bad.jpg"] and retry.jobs[0].key != bad.key
    assert retry.jobs[0].status == Status.SUCCEEDED and fake(client).calls["create"] == creates + 1
    assert ledger.get(bad.key).status == Status.FAILED  # the failed job stays in the ledger as it was
    # the same retry run again re-attaches to the retry's jobs
    assert batch.retry_failed().id == retry.id and fake(client).calls["create"] == creates + 1


def test_an_unreachable_create_is_resumed_by_a_rerun_on_the_same_job(ledger):
    client = make_client(ledger)
    fake(client).unreachable = {"a.jpg"}
    batch = client.submit("detect", items("a.jpg", "b.jpg")).wait(timeout=TIMEOUT, progress=False)
    a = next(j for j in batch.jobs if j.input == "a.jpg")
    assert a.status == Status.FAILED and a.error_code == "UNREACHABLE" and a.job_id is None
    assert fake(client).calls["create"] == 1  # only b.jpg reached the provider
    fake(client).unreachable = set()  # the service is back
    rerun = client.submit("detect", items("a.jpg", "b.jpg")).wait(timeout=TIMEOUT, progress=False)
    assert rerun.id == batch.id
    resumed = next(j for j in rerun.jobs if j.input == "a.jpg")
    assert resumed.key == a.key and resumed.status == Status.SUCCEEDED and resumed.error_code is None
    assert fake(client).calls["create"] == 2 and len(fake(client).jobs) == 2  # one provider job per input
    assert len(ledger.jobs()) == 2 and ledger.get(a.key).status == Status.SUCCEEDED


def test_cancel_of_jobs_not_sent(ledger):
    client = make_client(ledger)
    batch = client.submit("detect", items("a.jpg", "b.jpg"), start=False)
    assert batch.can_cancel and not batch.done
    assert batch.cancel() == 2
    assert [j.status for j in batch.jobs] == [Status.CANCELLED, Status.CANCELLED]
    assert batch.done and batch.wait(timeout=TIMEOUT, progress=False).status_counts()["cancelled"] == 2
    assert fake(client).calls["create"] == 0 and fake(client).calls["cancel"] == 0  # nothing reached the provider
    assert {j.status for j in ledger.jobs()} == {Status.CANCELLED}
    assert batch.cancel() == 0  # nothing left to cancel


def test_cancel_of_a_queued_job_asks_the_provider_and_can_cancel_says_where_it_cannot(ledger):
    client = make_client(ledger)
    fake(client).hold = {"slow.jpg"}
    batch = client.submit("detect", items("slow.jpg"))
    try:
        deadline = time.monotonic() + TIMEOUT
        while batch.jobs[0].job_id is None or fake(client).calls["poll"] == 0:  # created, and seen queued
            assert time.monotonic() < deadline, "the job was never created"
            time.sleep(0.005)
        assert batch.cancel() == 1 and fake(client).calls["cancel"] == 1
        assert batch.wait(timeout=TIMEOUT, progress=False).jobs[0].status == Status.CANCELLED
    finally:
        fake(client).hold = set()
    assert not make_client(ledger, NoCancelClient).submit("detect", items("x.jpg"), start=False).can_cancel


def test_a_404_on_poll_of_a_known_job_ends_expired(ledger):
    client = make_client(ledger)
    fake(client).gone = {"old.jpg"}
    batch = client.submit("detect", items("old.jpg", "new.jpg")).wait(timeout=TIMEOUT, progress=False)
    old = next(j for j in batch.jobs if j.input == "old.jpg")
    assert old.job_id is not None and old.status == Status.EXPIRED and old.http_status == 404
    assert "retry_failed()" in old.error_message and old.finished_at is not None
    assert [j.input for j in batch._failed_jobs()] == ["old.jpg"] and batch.done
    assert next(j for j in batch.jobs if j.input == "new.jpg").status == Status.SUCCEEDED
    assert ledger.get(old.key).status == Status.EXPIRED


def test_a_lost_cache_file_is_fetched_again(ledger):
    client = make_client(ledger)
    batch = client.submit("detect", items("a.jpg", "b.jpg")).wait(timeout=TIMEOUT, progress=False)
    lost = batch.jobs[0]
    path = ledger.result_path(lost.result_digest)
    assert path.is_file() and fake(client).calls["fetch"] == 2
    path.unlink()
    assert not batch.done and not settled(lost, ledger.has_result) and settled(lost)  # the digest alone is recorded
    creates, polls = fake(client).calls["create"], fake(client).calls["poll"]
    again = client.submit("detect", items("a.jpg", "b.jpg")).wait(timeout=TIMEOUT, progress=False)
    assert again.done and path.is_file() and fake(client).calls["fetch"] == 3  # only the lost one
    assert fake(client).calls["create"] == creates and fake(client).calls["poll"] == polls
    assert json.loads(ledger.get_result(lost.result_digest))["input"] == "a.jpg"


def test_can_retry_needs_the_inputs_or_a_resumable_failure(ledger):
    client = make_client(ledger)
    fake(client).verdict_failed = {"bad.jpg"}
    batch = client.submit("detect", items("bad.jpg")).wait(timeout=TIMEOUT, progress=False)
    assert batch.can_retry
    attached = make_client(ledger).attach(batch.id)  # from the ledger alone: no inputs in this session
    assert attached._failed_jobs() and not attached.can_retry
    assert attached.retry_failed() is attached


def test_to_frame_is_the_jobs_table(ledger):
    client = make_client(ledger)
    fake(client).verdict_failed = {"bad.jpg"}
    batch = client.submit("detect", items("a.jpg", "bad.jpg")).wait(timeout=TIMEOUT, progress=False)
    df = batch.to_frame()
    old = {
        "input",
        "status",
        "job_id",
        "provider",
        "operation",
        "provider_status",
        "error_code",
        "error_message",
        "created_at",
        "submitted_at",
        "finished_at",
        "batch_id",
    }
    assert old <= set(df.columns) and set(load.jobs(batch).columns) <= set(df.columns)
    assert list(df["status"]) == ["succeeded", "failed"] and list(df["input"]) == ["a.jpg", "bad.jpg"]
    assert set(df["batch_id"]) == {batch.id} and list(df["cached"]) == [True, False]
    for c in ("created_at", "submitted_at", "started_at", "finished_at"):
        assert str(df[c].dtype) == "datetime64[ns, UTC]"
    # the same table as toolkit.load.jobs, and it reads back through it unchanged
    cols = list(load.jobs(batch).columns)
    pd.testing.assert_frame_equal(df[cols], load.jobs(batch))
    pd.testing.assert_frame_equal(load.jobs(df), load.jobs(batch))
