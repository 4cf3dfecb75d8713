"""The one batch machinery, public side: ``ProviderClient.submit`` records a batch exactly once and returns a
``Batch``, which waits, cancels, retries and loads. What runs per job on the background loop (create -> poll
-> fetch) is ``toolkit.client.driver``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import sys
import threading
import time
import uuid
import warnings
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterable, Literal, overload

from . import runtime
from .driver import JobDriver
from .ledger import Ledger
from .plan import AGAIN, PaidAgain, Plan, analysed_before, batch_id_of, key_items, outcomes, paid_again_text
from .model import (
    SHOWN,
    Job,
    JobError,
    PreflightError,
    RejectedInputs,
    Status,
    UnknownBatch,
    BatchTimeout,
    count_phrase,
    skipped_text,
)
from .model import rejected_text, warn_user
from .poller import RuntimeModel
from .surface import public_dir, wrong_loader
from ..widgets.notice import notice
from .resume import create_never_processed, resume_status, stop_summary
from .providers.base import Adapter, Item
from .transport import Transport, redact_url

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("toolkit.batch")


#: attributes of a client that the batch machinery uses and a user never calls (hidden from Tab)
_CLIENT_INTERNALS = (
    "adapter",
    "adapter_class",
    "batch_class",
    "failed_items",
    "halted",
    "item_for",
    "items",
    "enrolled_rows",
    "ledger",
    "preflight_outcome",
    "price",
    "refilter_hint",
    "resume_status",
    "slots",
    "target",
    "transport",
    "try_again",
)


#: the columns of ``Batch.failed()``
FAILED_COLUMNS = ["input", "status", "error_code", "error_message", "job_id", "http_status", "finished_at"]


class ProviderClient:
    """Shared base of ``ws.animaldetect`` & co.: owns the adapter, transport, ledger and job-slot limits."""

    adapter_class: type[Adapter] = Adapter
    batch_class: type["Batch"]  # set below to Batch; a provider may use a subclass

    def __init__(self, ledger: Ledger, transport: Transport) -> None:
        self.ledger = ledger
        self.transport = transport
        self.adapter = self.adapter_class(transport, store=ledger.put_result)
        self._active: asyncio.Semaphore | None = None
        self._submit_slots: asyncio.Semaphore | None = None
        self.halted: JobError | None = None  # a 401/402 on a create: the others wait for a re-run, unsent

    @property
    def name(self) -> str:
        return self.adapter.name

    @property
    def target(self) -> str:
        """Where the jobs run, part of every job's key: sandbox jobs are never re-attached as real ones."""
        return "sandbox" if self.transport.config.sandbox else self.transport.config.base_url

    def __dir__(self) -> list[str]:
        """Tab shows the operations and a few attributes, not the batch machinery."""
        return public_dir(self, _CLIENT_INTERNALS)

    def __repr__(self) -> str:
        mode = "sandbox" if self.transport.config.sandbox else "live"
        return f"<{type(self).__name__} {self.name} ({mode}) {redact_url(self.transport.config.base_url)}>"

    def slots(self) -> tuple[asyncio.Semaphore | None, asyncio.Semaphore]:
        """Per-key limits, created on the loop: active jobs (queue locally, never fail) and concurrent creates."""
        if self._submit_slots is None:
            cap = self.transport.config.max_active_jobs
            self._active = asyncio.Semaphore(cap) if cap else None
            self._submit_slots = asyncio.Semaphore(max(1, self.transport.config.max_in_flight // 2))
        return self._active, self._submit_slots

    @overload
    def submit(
        self,
        operation: str,
        items: Iterable[Item | PreflightError],
        *,
        options: dict[str, Any] | None = None,
        force: bool = False,
        start: bool = True,
        salt: str = "",
        dry_run: Literal[False] = False,
    ) -> "Batch": ...

    @overload
    def submit(
        self,
        operation: str,
        items: Iterable[Item | PreflightError],
        *,
        options: dict[str, Any] | None = None,
        force: bool = False,
        start: bool = True,
        salt: str = "",
        dry_run: bool,
    ) -> "Batch | Plan": ...

    def submit(
        self,
        operation: str,
        items: Iterable[Item | PreflightError],
        *,
        options: dict[str, Any] | None = None,
        force: bool = False,
        start: bool = True,
        salt: str = "",
        dry_run: bool = False,
    ) -> "Batch | Plan":
        """Record and start a batch. Re-submitting the same inputs re-attaches to their jobs unless ``force``.

        ``salt`` makes deliberate new jobs for the same inputs reproducible (retries). ``dry_run``: return the
        ``Plan`` of the call instead (``toolkit.client.plan``), sending and recording nothing."""
        options = options or {}
        salt = uuid.uuid4().hex if force else salt
        k = key_items(self.name, operation, self.target, items, options, salt)
        if k.aliases:
            self._adopt_earlier_keys(k.aliases, k.batch_keys, k.work, k.given, k.digests)
        batch_id = batch_id_of(self.name, operation, options, k.batch_keys)
        recorded = self.ledger.get_many(k.batch_keys)
        fresh = {key: d for key, d in k.digests.items() if key not in recorded}
        earlier = analysed_before(self.ledger.jobs(provider=self.name), operation, fresh) if fresh else {}
        plan = Plan(
            self.name,
            operation,
            outcomes(k, recorded, earlier, lambda j: self.resume_status(j, j.key in k.work) is not None),
            batch_id,
        )
        if dry_run:
            self.price(plan, k.work)
            return plan
        # nothing left to send: raises, nothing recorded. Inputs are counted as given (one job may carry several)
        self.preflight_outcome(operation, k.rejected, sum(it.inputs for it in k.work.values()), jobs=len(k.work))
        if plan.counts[AGAIN] and not force:
            warn_user(PaidAgain(paid_again_text(plan, self.refilter_hint)))
        self.try_again()
        sent_before = self.ledger.sent_keys()
        self._follow_inputs(recorded, k.work, k.given)
        intents: list[Job] = []
        for key in k.batch_keys:
            if key not in recorded:
                it = k.work[key]
                job = Job(
                    key=key,
                    provider=self.name,
                    operation=operation,
                    input=it.input,
                    batch_id=batch_id,
                    options=it.options,
                    meta={n: v for n, v in it.meta.items() if _jsonable(v)} | {"input_digest": fresh[key]},
                )
                if key in sent_before:  # the ledger that recorded it was lost: reconcile before creating
                    job.meta.update(create_sent=True, recovered=True)
                intents.append(job)
        recorded.update(self.ledger.insert_many(intents))  # the intent is durable before anything is sent
        jobs: list[Job] = []
        for key in k.batch_keys:
            job = recorded[key]
            if job.status == Status.FAILED:
                self._resumable(job, have_input=key in k.work)
            jobs.append(job)
        self.ledger.save_batch(batch_id, self.name, operation, k.batch_keys, {"options": options})
        batch = self.batch_class(self, batch_id, jobs, k.work, k.rejected)
        batch.skipped = k.skipped
        if k.skipped:
            notice(skipped_text(self.name, operation, k.skipped, list(k.work.values())))
        if start:
            batch.start()
        return batch

    #: how to get another option's answer from results already there (``PaidAgain``'s advice), per provider
    refilter_hint: str = ""

    def price(self, plan: Plan, work: dict[str, Item]) -> None:
        """Add the credits and warnings the provider states before a job (a free preview) to ``plan``'s new
        jobs; by default none. Must create nothing."""

    def _adopt_earlier_keys(
        self,
        aliases: dict[str, list[str]],
        batch_keys: list[str],
        work: dict[str, Item],
        given: dict[str, set[str]],
        digests: dict[str, str],
    ) -> None:
        """An input that an earlier version recorded under another key (an AOI before it was normalised) keeps
        that job: the batch uses the recorded key, so upgrading the toolkit pays for nothing twice."""
        have = self.ledger.get_many(aliases)
        earlier = self.ledger.get_many(a for k, keys in aliases.items() if k not in have for a in keys)
        for i, key in enumerate(batch_keys):
            found = next((a for a in aliases.get(key, ()) if a in earlier and a not in work), None)
            if key not in have and found is not None:
                batch_keys[i] = found
                work[found], given[found], digests[found] = work.pop(key), given.pop(key), digests.pop(key)

    def _follow_inputs(self, recorded: dict[str, Job], work: dict[str, Item], given: dict[str, set[str]]) -> None:
        """Recorded jobs whose input is given under another name now (a renamed or moved file: same bytes, same
        key) take that name, in the ledger too, so loaders, plots and exports show the file where it is. A name
        still given in this call (a copy beside the original) is kept."""
        moved: dict[str, tuple[str, dict[str, Any]]] = {}
        for key, job in recorded.items():
            it = work[key]
            if job.input == it.input or job.input in given[key]:
                continue
            names = {k: it.meta[k] for k in NAMING_META if k in it.meta and _jsonable(it.meta[k])}
            job.input = it.input
            job.meta.update(names)
            moved[key] = (it.input, names)
        if moved:
            log.info("%s: %d recorded input(s) found under a new name; the jobs follow them", self.name, len(moved))
            self.ledger.update_inputs(moved)

    def preflight_outcome(
        self, operation: str, rejected: list[PreflightError], accepted: int, jobs: int | None = None
    ) -> None:
        """Where refused inputs are answered: a call with nothing left to send raises ``PreflightError`` listing
        every input and its reason (nothing is sent or recorded); otherwise one ``RejectedInputs`` warning names
        each refused input, and the others go on."""
        if not accepted:
            raise PreflightError.every_input(self.name, operation, rejected)
        if rejected:
            warn_user(RejectedInputs(rejected_text(self.name, operation, rejected, accepted, jobs)))

    def attach(self, batch_id: str, start: bool = False) -> "Batch":
        """A recorded batch, re-attached from the ledger alone (e.g. from the CLI or after a restart).

        Jobs whose create was never sent need their inputs: re-run the submitting call for those."""
        spec = self.ledger.batch(batch_id)
        if spec is None or spec["provider"] != self.name:
            raise UnknownBatch(f"no {self.name} batch {batch_id!r} in the ledger at {self.ledger.path}")
        batch = self.batch_class(self, batch_id, self.ledger.jobs(keys=spec["keys"]), {}, [])
        if start:
            batch.start()
        return batch

    def _resumable(self, job: Job, have_input: bool = True) -> bool:
        """A re-run resumes a job that stopped for a reason outside it (``toolkit.client.resume``): an
        unreachable service, a refused key, no credits, an overload, a create whose fate a job-list lookup
        can settle. It continues on the same provider job where one exists. Returns whether it was reopened."""
        status = self.resume_status(job, have_input)
        if status is None:
            return False
        if create_never_processed(job):  # refused or never reached: send the create afresh
            self.adapter.forget_create(job)
        job.meta.pop("create_owner", None)
        return self.ledger.reopen(job, status)

    def try_again(self) -> None:
        """A re-run or a retry is the user's "I fixed it": lift the stop a refused create put on the others,
        and let the next request probe an unreachable service at once."""
        self.halted = None
        self.transport.probe_now()

    def resume_status(self, job: Job, have_input: bool = True) -> Status | None:
        """Where a re-run takes a failed job (None: it stays failed); see ``toolkit.client.resume``."""
        return resume_status(
            job,
            have_input=have_input,
            can_find=type(self.adapter).find is not Adapter.find,
            idempotent=self.adapter.idempotent_create,
        )

    def item_for(self, job: Job) -> Item | None:
        """The input of a recorded job preflighted again from what the ledger keeps (its file, its AOI), for a
        create that another run recorded but never sent (``submit --no-wait``); None where it cannot be."""
        return None

    def failed_items(self, batch: "Batch") -> list[Item]:
        """What ``Batch.retry_failed`` submits again: the inputs of failed jobs (faces: also failed rows)."""
        return [batch._items[j.key] for j in batch._failed_jobs() if j.key in batch._items]


class Batch(JobDriver):
    """A set of jobs of one provider and operation; its display in Jupyter is the live monitor."""

    def __init__(
        self,
        client: ProviderClient,
        batch_id: str,
        jobs: list[Job],
        items: dict[str, Item],
        rejected: list[PreflightError],
    ) -> None:
        self.client = client
        self.id = batch_id
        self.jobs: list[Job] = jobs
        self.rejected = rejected
        #: files a folder held that are not of the operation's kind (``labels.csv``): skipped, not refused
        self.skipped: list[str] = []
        self._items = items
        self._future: concurrent.futures.Future | None = None
        prior = client.ledger.runtimes(client.name, jobs[0].operation, exclude_batch=batch_id) if jobs else []
        self._model = RuntimeModel(self._running_elapsed, prior)  # runtimes seen (here and before) -> when to poll
        self._listeners: list[Callable[["Batch"], None]] = []
        self.version = 0  # bumps on every job change (monitors compare it)
        self.started = time.time()
        self._retry_lock = threading.Lock()

    # -- public surface -----------------------------------------------------------------------------
    def __dir__(self) -> list[str]:
        return public_dir(self, ("retry_salt", "version", "started"))

    def __getattr__(self, name: str) -> Any:
        # only reached for a missing name: another provider's loader gets the one that fits
        if "client" in self.__dict__ and not name.startswith("_"):
            raise wrong_loader(self, name, Batch)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        counts = count_phrase(self.status_counts())
        extra = f", {len(self.rejected)} rejected before sending" if self.rejected else ""
        lines = "".join(f"\n  rejected: {e.input}: {e.message}" for e in self.rejected[:SHOWN])
        more = f"\n  ... and {len(self.rejected) - SHOWN} more (batch.rejected)" if len(self.rejected) > SHOWN else ""
        return f"<Batch {self.id} {self.client.name}: {counts or 'empty'}{extra}>{lines}{more}"

    def _ipython_display_(self) -> None:
        """In IPython/Jupyter: show the live monitor (updated in place, final state kept in saved notebooks)."""
        from ..widgets import display_batch

        display_batch(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """In Jupyter: the live monitor widget, with HTML/text of the current state for static renderers."""
        from ..widgets import batch_mimebundle

        return batch_mimebundle(self, include=include, exclude=exclude)

    def __len__(self) -> int:
        return len(self.jobs)

    @property
    def done(self) -> bool:
        """Every job settled (``toolkit.client.settled``): terminal, and every success's result in the cache."""
        return all(self._settled(j) for j in self.jobs)

    @property
    def can_cancel(self) -> bool:
        """Whether the provider's API can cancel jobs (``cancel()`` still cancels unsent ones either way)."""
        return type(self.client.adapter).cancel is not Adapter.cancel

    @property
    def can_retry(self) -> bool:
        """Whether ``retry_failed()`` can act on failures: this session holds the batch's inputs (it was
        submitted here, not re-attached from the ledger alone), or a failed job would be resumed as it is."""
        return bool(self._items) or any(
            self.client.resume_status(j, have_input=False) is not None for j in self._failed_jobs()
        )

    def failed(self) -> "pd.DataFrame":
        """The failed (and expired) jobs, one row each: input, status, error code and message, job id, HTTP
        status, when it finished. Empty (same columns) when none failed; ``retry_failed()`` sends them again."""
        import pandas as pd

        from ..load.jobs import jobs as jobs_table

        failed = self._failed_jobs()
        df = jobs_table(failed)[FAILED_COLUMNS[:-2] + ["finished_at"]]
        df.insert(
            len(df.columns) - 1,
            "http_status",
            pd.Series([j.http_status for j in failed], dtype="Int64", index=df.index),
        )
        return df.reset_index(drop=True)

    def status_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for j in self.jobs:
            counts[j.status.value] += 1
        return counts

    def start(self) -> "Batch":
        if self._future is None or self._future.done():
            if self.done:
                f: concurrent.futures.Future = concurrent.futures.Future()
                f.set_result(self)
                self._future = f
            else:
                self._future = runtime.submit(self._run(), owner=self)
        return self

    def wait(
        self, timeout: float | None = None, cancel_on_timeout: bool = False, progress: bool | None = None
    ) -> "Batch":
        """Block until every job is terminal (and its result cached). Ctrl-C stops waiting, not the jobs."""
        self.start()
        assert self._future is not None
        tty = sys.stderr.isatty()
        show = tty if progress is None else progress
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        try:
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    self._future.result(timeout=0.5 if left is None else min(0.5, left))
                    break
                except concurrent.futures.TimeoutError:
                    if show and tty:  # one line, redrawn in place
                        print("\r" + self.progress_line(), end="", file=sys.stderr, flush=True)
                    elif show and self.version != last:  # a log or a pipe: a new line when something changed
                        last = self.version
                        print(self.progress_line(), file=sys.stderr, flush=True)
                    if left is not None and left <= 0:
                        if cancel_on_timeout:
                            self.cancel()
                        raise BatchTimeout(
                            f"batch {self.id} not finished after {timeout} s: {self.progress_line()}; "
                            "the jobs keep running: wait again, or re-run the call later"
                        ) from None
        except KeyboardInterrupt:
            print(
                f"\nStopped waiting; the jobs keep running and are recorded in {self.client.ledger.path}.\n"
                f"Call .wait() again, or re-run the submitting call (nothing is sent twice), to re-attach.",
                file=sys.stderr,
            )
            return self
        if show:
            print(("\r" if tty else "") + self.progress_line(), file=sys.stderr, flush=True)
        for line in stop_summary(
            self.client.name, self.jobs, lambda j: self.client.resume_status(j, j.key in self._items) is not None
        ):
            print(line, file=sys.stderr, flush=True)
        return self

    def __await__(self) -> Generator[Any, None, "Batch"]:
        self.start()
        assert self._future is not None  # start() set it
        return asyncio.wrap_future(self._future).__await__()

    def cancel(self) -> int:
        """Cancel jobs that have not started (where the API can); returns how many were cancelled."""
        return runtime.run(self._cancel())

    def delete(self) -> int:
        """Delete this batch's jobs at the provider (where the API can); returns how many were deleted."""
        return runtime.run(self._delete())

    def retry_failed(self, force: bool = False) -> "Batch":
        """Submit the failed inputs again as new jobs (the failed ones stay in the ledger).

        Running the same retry again (a re-run cell, a second click) re-attaches to the retry's jobs; ``force``
        sends anew."""
        with self._retry_lock:  # two threads retrying at once: one after the other, the second re-attaches
            return self._retry_failed(force)

    def _retry_failed(self, force: bool) -> "Batch":
        self.client.try_again()
        resumed = [j for j in self._failed_jobs() if self.client._resumable(j, have_input=j.key in self._items)]
        if resumed:  # not the provider's verdict: the same jobs continue, no new job is paid for
            self.start()
        items = self.client.failed_items(self)
        if not items:
            return self
        runtime.run(self._delete_drafts())  # a failed job's draft at the provider is never left behind
        return self.client.submit(self.jobs[0].operation, items, force=force, salt=self.retry_salt(items))

    def retry_salt(self, items: list[Item]) -> str:
        """The key salt of a retry of ``items``: the same retry run again gets the same jobs."""
        return "r" + hashlib.sha256("\n".join([self.id, *sorted(it.input for it in items)]).encode()).hexdigest()[:7]

    # -- loaders (toolkit.load); pure functions that also accept raw dicts or files ---------------------
    def results(self, wait: bool | None = None) -> Any:
        """The provider's tidy results frame (its registered loader): detections, features, verdicts, images
        or per-row face results. The provider's Batch subclass also names it (``DetectBatch.detections()``...).

        On a batch that has not settled it warns (``UnsettledBatch``) with how many jobs are unfinished and
        returns what is there; ``wait=True`` (or ``toolkit.load.WAIT = True``) waits for them first."""
        from ..load import honest
        from . import registry

        return honest(registry.get(self.client.name).loader_function())(self, wait=wait)

    def raw(self) -> list[dict[str, Any]]:
        """Raw result JSON of every succeeded job, from the cache (no HTTP)."""
        return [
            {"job_id": r["job_id"], "input": r["input"], "key": r["key"], "result": r["result"]}
            for r in self.records()
            if r["result"] is not None
        ]

    def records(self) -> list[dict[str, Any]]:
        """One dict per job, in submission order, with its outcome and parsed result (None when there is none).

        This is what the loaders in ``toolkit.load`` read from a Batch; failed and pending jobs are kept so
        "processed, nothing found" and "not processed" stay distinct.
        """
        out = []
        missing = 0
        for j in self.jobs:
            result = None
            if j.result_digest:
                data = self.client.ledger.get_result(j.result_digest)
                result = json.loads(data) if data is not None else None
                missing += data is None and j.status == Status.SUCCEEDED
            out.append(
                {
                    "job_id": j.job_id,
                    "input": j.input,
                    "key": j.key,
                    "provider": j.provider,
                    "operation": j.operation,
                    "status": j.status.value,
                    "error_code": j.error_code,
                    "error_message": j.error_message,
                    "options": j.options,
                    "meta": j.meta,
                    "submitted_at": j.submitted_at,
                    "started_at": j.started_at,
                    "finished_at": j.finished_at,
                    "result": result,
                }
            )
        if missing:
            warnings.warn(
                f"{missing} of {len(self.jobs)} succeeded job(s) of batch {self.id} have no result in the "
                f"cache at {self.client.ledger.cache_dir} (deleted or damaged): they are left out. "
                ".wait() fetches them again while the provider still has them.",
                stacklevel=3,
            )
        return out

    def to_frame(self) -> "pd.DataFrame":
        """One row per job, the jobs table of ``toolkit.load.jobs`` (the one ``ws.jobs()`` shows): provider,
        operation, batch, input, job_id, status, errors, timestamps (tz-aware UTC), durations, cached; plus
        ``batch_id`` (the same as ``batch``, kept for older code)."""
        from ..load.jobs import jobs

        df = jobs(self)
        df["batch_id"] = df["batch"]
        return df

    def progress_line(self) -> str:
        c = self.status_counts()
        done = sum(c[s.value] for s in Status if s.terminal)
        return f"{self.client.name} {done}/{len(self.jobs)} done ({count_phrase(c)}) {time.time() - self.started:.0f}s"

    def on_change(self, fn: Callable[["Batch"], None]) -> None:
        self._listeners.append(fn)


ProviderClient.batch_class = Batch


#: meta fields that name where an input is (not what it is): they follow the input when it is renamed or moved
NAMING_META = ("path", "filename", "aoi_name", "reference", "ref_filename")


def _jsonable(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool, type(None), list, dict))
