"""The per-job machinery every Batch runs on the background loop: create exactly once, poll, fetch.

A batch drives each of its jobs with a small coroutine (``_drive``): create (one driver at a time per job: in
this process ``toolkit.client.owners``, across processes ``_claim``) -> poll until terminal -> fetch the result
into the cache. A batch asking for a job another driver holds follows it and shows its state. The batch-level
poller policy adapts the per-provider schedule (``PollPolicy``) to the runtimes it observes, so most jobs are
polled right after they finish instead of at fixed intervals. Every state change goes through the ledger's compare-and-set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable

from . import owners
from .filedata import FileInput
from .ledger import DiskFullError, driver_owner, idempotency_key
from .model import Job, JobError, ServiceUnreachable, Status
from .poller import RuntimeModel
from .providers.base import Item
from .settled import settled

log = logging.getLogger("toolkit.batch")
MIN_GAP = 0.02  # seconds: never poll one job more often than this
#: a create answered with one of these stops the provider's other creates at once (they would meet the same)
HALT_CREATES = frozenset({401, 402})


class JobDriver:
    """What a ``Batch`` does on the loop; the public surface lives in ``toolkit.client.batch``."""

    client: Any  # the batch's ``toolkit.client.batch.ProviderClient`` (not imported: batch imports this module)
    id: str
    jobs: list[Job]
    version: int
    _items: dict[str, Item]
    _model: RuntimeModel
    _listeners: list[Callable[[Any], None]]

    def _failed_jobs(self) -> list[Job]:
        """The failed and expired jobs, as the machinery uses them (``Batch.failed()`` is the user's table)."""
        return [j for j in self.jobs if j.status in (Status.FAILED, Status.EXPIRED)]

    def _settled(self, job: Job) -> bool:
        """Nothing left to do (``toolkit.client.settled``), checked against the cache itself: a lost or
        corrupt cache file is fetched again while the provider still has it."""
        return settled(job, self.client.ledger.has_result)

    def _changed(self, job: Job, *fields: str) -> None:
        self.client.ledger.save(job, *fields)
        self._notify()

    def _notify(self) -> None:
        self.version += 1
        for fn in self._listeners:
            try:
                fn(self)
            except Exception:  # a broken listener must never stop the batch
                pass

    async def _run(self) -> "JobDriver":
        tasks = [asyncio.ensure_future(self._drive(j)) for j in self.jobs if not self._settled(j)]
        try:
            await asyncio.gather(*tasks)
        except DiskFullError:  # nothing can be recorded: stop all of this batch's work, resumable later
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        try:
            self.client.ledger.checkpoint()  # settled: ledger.sqlite3 alone now holds every row
        except DiskFullError:
            pass
        return self

    async def _drive(self, job: Job) -> None:
        where = owners.slot(self.client.ledger.path, job.key)
        while (held := owners.holder(where)) is not None:  # another batch of this process drives it: follow
            await self._follow(job, *held)
            if self._settled(job):
                return
        token = owners.hold(where, job)
        try:
            await self._drive_held(job, driver_owner(token))
        finally:
            owners.release(where, token)

    async def _follow(self, job: Job, task: "asyncio.Task[Any]", theirs: Job) -> None:
        """Show the state of a job another driver of this process holds until that driver ends, then take
        the ledger's row (the truth) as this batch's."""
        step = max(0.05, 0.5 * min(1.0, self.client.transport.config.time_scale * 50))
        while not task.done():
            await asyncio.wait({task}, timeout=step)
            self._mirror(job, theirs)
        fresh = self.client.ledger.get(job.key)
        self._mirror(job, fresh or theirs)

    def _mirror(self, job: Job, source: Job) -> None:
        if source is job:
            return
        seen = (job.status, job.provider_status, job.job_id, job.result_digest, job.error_code)
        for name, value in vars(source).items():
            setattr(job, name, dict(value) if isinstance(value, dict) else value)
        if seen != (job.status, job.provider_status, job.job_id, job.result_digest, job.error_code):
            self._notify()

    async def _drive_held(self, job: Job, owner: str) -> None:
        active, submit_slots = self.client.slots()
        holding = False
        try:
            if active is not None and not job.done:
                await active.acquire()  # SateAIs: at most N active jobs per key, the rest wait here
                holding = True
            if not job.done and not job.meta.get("submitted"):
                async with submit_slots:
                    await self._create(job, owner)
            await self._poll_until_done(job)
            if holding and active is not None:
                active.release()
                holding = False
            if job.status == Status.SUCCEEDED and not self._settled(job):
                await self._fetch(job)
        except DiskFullError:
            raise
        except JobError as e:
            self._fail(job, e.code, e.message, e.http_status, e.hint)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # an adapter bug or a malformed answer ends this job, never the batch
            log.exception("%s job %s (%s) failed in the client", self.client.name, job.job_id, job.input)
            self._fail(job, "CLIENT_ERROR", f"{type(e).__name__}: {e}", None)
        finally:
            if holding and active is not None:
                active.release()

    def _fail(self, job: Job, code: str | None, message: str, http_status: int | None, hint: str | None = None) -> None:
        if hint and hint not in message:
            message = f"{message} — {hint}"  # the ledger keeps what to do about it, too
        job.status = Status.FAILED if job.status != Status.EXPIRED else job.status
        job.error_code, job.error_message, job.http_status = code, message, http_status
        job.finished_at = job.finished_at or time.time()
        self._changed(job, "status", "error_code", "error_message", "http_status", "finished_at")

    async def _create(self, job: Job, owner: str) -> None:
        """Create/upload/submit once. After an interruption ``adapter.create`` is called again with whatever
        is recorded (``job.job_id``, ``job.meta``) and continues from there; a create whose answer was lost
        is looked up (``adapter.find``) instead of being sent again, unless the API is idempotent."""
        if job.done:  # cancelled while it waited for a slot
            return
        if self.client.halted is not None:  # a create was refused for the key (401) or credits (402)
            h = self.client.halted
            raise JobError(
                h.provider,
                h.code,
                h.message,
                http_status=h.http_status,
                input=job.input,
                hint="not sent, after an earlier create was refused" + (f"; {h.hint}" if h.hint else ""),
            )
        if not await self._claim(job, owner):
            return  # another process created it; this one follows the job it recorded
        try:
            with owners.creating():  # interpreter exit waits for its answer (``runtime._shutdown``)
                await self._create_claimed(job)
        except JobError as e:
            if e.http_status in HALT_CREATES and job.job_id is None:
                self.client.halted = e
            raise
        finally:
            if job.meta.pop("create_owner", None):
                self.client.ledger.save(job, "meta")

    async def _claim(self, job: Job, owner: str) -> bool:
        """One driver at a time sends a job's create. While another live one (another process, or a batch
        of this one on another ``Ledger`` object) holds it, follow the row it writes; returns False when that
        driver got the job created (``job`` then mirrors its row)."""
        ledger = self.client.ledger
        step = max(0.02, 0.5 * min(1.0, self.client.transport.config.time_scale * 50))
        # no deadline: the holder's create ends (its retries are bounded) and releases the claim, or the holder
        # dies and the ledger lets this process take the claim over
        while ledger.claim_create(job, owner) is not None:
            fresh = ledger.get(job.key)
            if fresh is not None and (fresh.meta.get("submitted") or fresh.status.terminal):
                job.__dict__.update(fresh.__dict__)
                return False
            await asyncio.sleep(step)
        fresh = ledger.get(job.key)
        if fresh is not None and (fresh.meta.get("submitted") or fresh.status.terminal):
            fresh.meta.pop("create_owner", None)
            job.__dict__.update(fresh.__dict__)
            ledger.save(job, "meta")  # release the claim just taken: nothing is left to create
            return False
        if fresh is not None and fresh.job_id and not job.job_id:  # another process got as far as the id
            job.job_id, job.urls, job.meta = fresh.job_id, fresh.urls, {**fresh.meta, **job.meta}
        return True

    async def _create_claimed(self, job: Job) -> None:
        item = self._items.get(job.key)
        adapter = self.client.adapter

        def record(j: Job) -> None:
            j.submitted_at = j.submitted_at or time.time()
            self._changed(j, "job_id", "urls", "status", "provider_status", "submitted_at", "meta")

        if job.job_id is None and job.meta.get("create_sent") and not adapter.idempotent_create:
            if not await adapter.find(job):
                raise JobError(
                    adapter.name,
                    "SUBMISSION_UNCERTAIN",
                    "an earlier create request for this input was interrupted before its job id was "
                    "recorded, and the provider's job list does not show it; it is not sent again to "
                    "avoid a duplicate job",
                    input=job.input,
                    hint="check the provider's job list, or submit with force=True",
                )
            record(job)
        if item is None:
            item = await asyncio.to_thread(self._input_again, job)
        if item is None:
            raise JobError(
                adapter.name,
                "INPUT_UNAVAILABLE",
                "the input is needed to create this job again",
                input=job.input,
                hint="re-run the submitting call with the same inputs",
            )
        if isinstance(item.content, FileInput):  # re-hashed off the loop; a changed file fails (INPUT_CHANGED) here
            await asyncio.to_thread(item.content.verify)
        if job.job_id is None:
            await self.client.ledger.mark_sent_async(job.key)  # survives a lost ledger (see Ledger.sent_keys)
            job.meta["create_sent"] = True
            self.client.ledger.save(job, "meta")
        await adapter.create(job, item, record)
        job.meta["submitted"] = True
        record(job)

    def _input_again(self, job: Job) -> Item | None:
        """The input of a job recorded by another run and never created there, rebuilt by the provider's own
        preflight (``client.item_for``) when its file is still there with the same content: the same key."""
        try:
            item = self.client.item_for(job)
        except Exception as e:  # a file gone or unreadable: the input is unavailable
            log.info("%s: %s cannot be preflighted again: %s", self.client.name, job.input, e)
            return None
        if not isinstance(item, Item):
            return None
        content = item.content if item.content is not None else json.dumps(item.meta, sort_keys=True, default=str)
        if (
            idempotency_key(self.client.name, f"{job.operation}@{self.client.target}", job.options, content)
            != job.key[:32]
        ):
            return None  # changed since it was recorded
        item.options = dict(job.options)
        self._items[job.key] = item
        return item

    async def _poll_until_done(self, job: Job) -> None:
        adapter = self.client.adapter
        policy = adapter.policy_for(job)
        scale = self.client.transport.config.time_scale
        interval = policy.interval * scale
        unknown = 0
        polled_once = False
        while not job.done:
            await asyncio.sleep(self._next_delay(job, polled_once, interval, scale))
            if polled_once:
                interval = min(policy.max_interval * scale, interval * policy.factor)
            polled_once = True
            try:
                r = await adapter.poll(job)
            except ServiceUnreachable as e:
                if e.code == "UNREACHABLE":  # the service is down past every retry: stop, a re-run follows it again
                    raise
                continue  # transient trouble never ends the wait; the transport already backed off
            except JobError as e:
                if e.http_status in (404, 410) and job.job_id:
                    job.status = Status.EXPIRED
                    job.error_code, job.error_message, job.http_status = e.code, _gone(e.message), e.http_status
                    job.finished_at = time.time()
                    self._changed(job, "status", "error_code", "error_message", "http_status", "finished_at")
                    return
                raise
            if r.status is None:
                unknown += 1
                if unknown >= policy.max_unknown:
                    raise JobError(
                        adapter.name,
                        "UNKNOWN_STATUS",
                        f"status {r.provider_status!r} not understood after {unknown} polls",
                        job_id=job.job_id,
                        input=job.input,
                    )
                continue
            unknown = 0
            changed = r.status != job.status or r.provider_status != job.provider_status
            job.status, job.provider_status = r.status, r.provider_status
            if r.status == Status.RUNNING and job.started_at is None:
                job.started_at = time.time()
            if r.status.terminal:
                job.finished_at = time.time()
                job.error_code, job.error_message = r.error_code, r.error_message
                if job.submitted_at:
                    self._model.observe(job.finished_at - job.submitted_at)
                if r.status == Status.SUCCEEDED and r.result is not None:  # file writes off the loop
                    job.result_digest = await asyncio.to_thread(self.client.ledger.put_result, r.result)
            if changed or r.status.terminal:
                self._changed(
                    job,
                    "status",
                    "provider_status",
                    "started_at",
                    "finished_at",
                    "error_code",
                    "error_message",
                    "result_digest",
                )

    def _next_delay(self, job: Job, polled_once: bool, interval: float, scale: float) -> float:
        """The policy's delay, or (once this batch has seen jobs finish) the next runtime quantile."""
        gap = MIN_GAP * min(1.0, scale * 50)
        policy = self.client.adapter.policy_for(job)
        elapsed = time.time() - (job.submitted_at or time.time())
        policy_delay = policy.first * scale - elapsed if not polled_once else interval
        at = self._model.next_at(elapsed, gap)
        # the estimate may be skewed (e.g. slow first jobs): never wait longer than the policy's longest gap
        delay = min(at - elapsed, policy.max_interval * scale) if at is not None else policy_delay
        return max(gap, delay)

    def _running_elapsed(self) -> list[float]:
        now = time.time()
        return [now - j.submitted_at for j in self.jobs if j.submitted_at and not j.done]

    async def _fetch(self, job: Job) -> None:
        try:
            content = await self.client.adapter.fetch(job)
        except JobError as e:
            if e.http_status in (404, 410):
                job.status = Status.EXPIRED
                job.error_code, job.error_message, job.http_status = e.code, _gone(e.message), e.http_status
                self._changed(job, "status", "error_code", "error_message", "http_status")
                return
            raise
        job.result_digest = await asyncio.to_thread(self.client.ledger.put_result, content)
        self._changed(job, "result_digest")

    async def _delete_drafts(self) -> None:
        """Delete the provider-side drafts of failed jobs that never ran (before they are sent as new jobs)."""
        for job in self._failed_jobs():
            if job.job_id and not job.meta.get("submitted") and not job.meta.get("deleted"):
                try:
                    if await self.client.adapter.delete(job):
                        job.meta["deleted"] = True
                        self._changed(job, "meta")
                except (JobError, ServiceUnreachable) as e:
                    log.info("could not delete the draft %s of %s: %s", job.job_id, job.input, e)

    async def _delete(self) -> int:
        n = 0
        for job in self.jobs:
            if job.job_id and not job.meta.get("deleted") and await self.client.adapter.delete(job):
                job.meta["deleted"] = True
                self._changed(job, "meta")
                n += 1
        return n

    async def _cancel(self) -> int:
        n = 0
        for job in self.jobs:
            if not job.done and job.job_id is None and not job.meta.get("create_sent"):
                job.status = Status.CANCELLED  # never sent: cancelled here, and its create is skipped
                job.finished_at = time.time()
                self._changed(job, "status", "finished_at")
                n += 1
                continue
            if not job.done and job.status in (Status.DRAFT, Status.QUEUED) and job.job_id:
                if await self.client.adapter.cancel(job):
                    job.status = Status.CANCELLED
                    job.finished_at = time.time()
                    self._changed(job, "status", "finished_at")
                    n += 1
                else:
                    self.client.ledger.save(job, "meta")  # the adapter may have noted why it was refused
        return n


def _gone(message: str) -> str:
    return (
        f"{message} — the job or its result is no longer at the provider (retention over, or deleted); "
        "retry_failed() submits the input again"
    )
