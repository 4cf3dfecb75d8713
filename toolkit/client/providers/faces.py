"""Face batch enrollment, FR-APIaaS (docs/contracts.md §5): a roster -> multipart batches of <= 100 -> poll -> results.

POST /collections/{collection}/faces/batch-async   X-API-Key, multipart `images` + `external_ids[]`   202
GET  /organizations/{org}/batch/{job_id}            Bearer JWT (FR_JWT) when configured, else the API key
GET  /organizations/{org}/batch?page&limit          the same; used to find a job whose create answer was lost

Rows are the unit (``faces_rows``): a row already enrolled is never sent again, wherever it stands in the roster.
The create is not idempotent (no key), so a create whose answer was lost is looked up in the organisation's
job list and adopted instead of being sent again. A job is ``done`` even when some of its items failed: the
per-row outcomes are in the stored result (the final poll JSON), and ``retry_failed`` re-submits those rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, cast
from urllib.parse import quote

import httpx

from ..options import DRY_RUN, FORCE, Input, Option, operation
from ...media import sniff
from ..batch import Batch, ProviderClient
from ..plan import Plan
from ..ledger import Ledger
from ..model import ConfigurationError, Job, JobError, PreflightError, ServiceUnreachable, Status, map_status
from ..registry import ProviderInfo, flaw
from ..roster import RosterSource, read_roster
from ..transport import Transport, expect_json
from .base import Adapter, Item, PollPolicy, PollResult
from .faces_rows import MAX_BATCH, Ident, RowView, body_data, covering, item_index, plan, retry_items, shown, view

RETENTION = 7 * 86400.0  # jobs are kept 7 days after completion, then 404
CLOCK_SKEW = 300.0  # seconds of client/server clock difference tolerated when matching a lost create
MAX_SENDS = 3  # creates sent for one job when the answer keeps getting lost and the job list shows none
LOOKUP_ROUNDS = 8  # list rounds while candidate jobs are still too early to show their external ids
#: seconds between two list rounds at least: a server needs real time to store and start a job, however fast the
#: (sandbox's) time scale runs its jobs
LOOKUP_FLOOR = 0.25
MAX_PAGES = 50
#: failures that are about this client, not the job: a re-run with fixed credentials re-attaches
RESUMABLE = {"JWT_REQUIRED", "SUBMISSION_UNCERTAIN"}


class FacesAdapter(Adapter):
    name = "faces"
    policy = PollPolicy(first=2.0, interval=2.0, factor=1.5, max_interval=15.0)
    statuses = {
        "queued": Status.QUEUED,
        "processing": Status.RUNNING,
        "done": Status.SUCCEEDED,
        "failed": Status.FAILED,
    }
    idempotent_create = False

    def __init__(self, transport: Transport, store: Callable[[bytes], str] | None = None) -> None:
        super().__init__(transport, store)
        # job ids the ledger already holds (the client wires it); such a job is never adopted twice
        self.known_job_ids: Callable[[], set[str]] = set
        self._final: dict[str, bytes] = {}  # job key -> its terminal poll body, so fetch needs no request

    # -- configuration ------------------------------------------------------------------------------
    @property
    def org(self) -> str:
        org = self.t.config.extra.get("org")
        if not org:
            raise ConfigurationError("faces: the organisation id is not configured (set FR_ORG_ID)")
        return org

    def _read_kw(self) -> dict[str, Any]:
        """Per-call auth of the status and list calls: the dashboard JWT when configured, else the API key."""
        jwt = self.t.config.extra.get("jwt")
        return {"bearer": jwt} if jwt else {}

    def _scale(self) -> float:
        return self.t.config.time_scale

    def _job_path(self, job_id: str) -> str:
        return f"/organizations/{quote(self.org, safe='')}/batch/{quote(job_id, safe='')}"

    async def _read(self, path: str, job: Job, params: dict[str, Any] | None = None) -> httpx.Response:
        r = await self.t.request("GET", path, params=params, expect=expect_json, **self._read_kw())
        if r.status_code in (401, 403):
            raise self._auth_error(r, job)
        return r

    def _auth_error(self, r: httpx.Response, job: Job) -> JobError:
        code, message = self.parse_error(r)
        if code == "IP_NOT_ALLOWED":  # not about the token: the key's IP allow-list excludes this machine
            return self.error(r, job)
        jwt = bool(self.t.config.extra.get("jwt"))
        sent = "the configured JWT" if jwt else "the API key"
        return JobError(
            self.name,
            "JWT_REQUIRED",
            f"reading batch jobs was refused with {sent} ({code}: {message}); a dashboard JWT is required (FR_JWT)",
            http_status=r.status_code,
            job_id=job.job_id,
            input=job.input,
            hint=("dashboard JWTs last 1 h: set a fresh FR_JWT" if jwt else "set FR_JWT to a dashboard JWT")
            + " and re-run the same enroll call; it re-attaches to the job",
        )

    # -- create -------------------------------------------------------------------------------------
    async def create(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        if job.job_id:  # adopted by find() after an interrupted create
            return
        files = await asyncio.to_thread(_read_rows, self.name, job)
        ids = [row["external_id"] for row in job.meta["rows"]]
        collection = job.options["collection"]
        path = f"/collections/{quote(collection, safe='')}/faces/batch-async"
        job.meta["create_at"] = time.time()  # bounds the job-list search if the answer is lost
        record(job)
        lost: JobError | None = None
        for _ in range(MAX_SENDS):
            try:
                r = await self.t.request(
                    "POST", path, files=files, data={"external_ids[]": ids}, safe_to_retry=False, expect=expect_json
                )
            except ServiceUnreachable as e:
                if e.code != "CONNECTION_LOST":
                    raise  # never reached the server: nothing was created
                lost = e
            else:
                if r.status_code != 500:
                    break
                lost = self.error(r, job)  # a 500 may come after the job was stored
            if await self._lookup(job, record, settle=True):
                return
        else:
            assert lost is not None
            raise lost
        if r.status_code == 404:
            err = self.error(r, job)
            # in the message, not only the hint: the ledger keeps the message
            err.message += f" — check the collection id {collection!r} (collection= or FR_COLLECTION_ID)"
            raise err
        if r.status_code not in (200, 201, 202):
            raise self.error(r, job)
        data = body_data(r.json())
        self._adopt(job, data)
        record(job)

    def _adopt(self, job: Job, data: dict[str, Any]) -> None:
        job.job_id = str(data["job_id"])
        job.urls = {"status_url": self._job_path(job.job_id)}
        job.provider_status = data.get("status")
        status = map_status(job.provider_status, self.statuses)
        # an adopted job is polled once before being called terminal, so its error fields are filled in
        job.status = status if status in (Status.QUEUED, Status.RUNNING) else Status.QUEUED

    async def find(self, job: Job) -> bool:
        """Adopt the job of an interrupted create from the organisation's job list.

        Returns True when adopted, and also when the complete list proves no such job exists (then
        ``job.job_id`` stays None and the batch sends the create); raises SUBMISSION_UNCERTAIN when it
        cannot tell, so nothing is sent again.
        """
        await self._lookup(job, None)  # raises SUBMISSION_UNCERTAIN when it cannot tell
        return True

    async def _lookup(self, job: Job, record: Callable[[Job], None] | None, settle: bool = False) -> bool:
        """Look for this job's batch among the organisation's jobs. True: adopted. False: absent (safe to send).

        Raises SUBMISSION_UNCERTAIN when candidates never show enough to tell them apart.
        A candidate has the same total and collection, was created since shortly before our create, is not
        already in the ledger, and the external ids of its per-item results match this job's rows.
        ``settle``: right after a lost answer the server may still be storing the job, so wait a poll
        interval first and call it absent only when two lists in a row do not show it.
        """
        ids = [row["external_id"] for row in job.meta["rows"]]
        since = float(job.meta.get("create_at") or job.created_at) - CLOCK_SKEW
        absent = 0
        for attempt in range(LOOKUP_ROUNDS):
            if attempt or settle:
                step = min(self.policy.max_interval, self.policy.interval * self.policy.factor**attempt) * self._scale()
                await asyncio.sleep(max(LOOKUP_FLOOR, step))
            matched, pending, failed = [], [], []
            for entry in await self._candidates(job, len(ids), since):
                r = await self._read(self._job_path(str(entry["job_id"])), job)
                if r.status_code != 200:
                    continue
                data = body_data(r.json())
                shown = data.get("results") or []
                if shown:
                    if all(
                        (at := item_index(x)) is not None and at < len(ids) and x.get("external_id") == ids[at]
                        for x in shown
                    ):
                        matched.append(data)
                elif str(data.get("status")).lower() == "failed":
                    failed.append(data)  # a job that never started shows no items: adopting it is harmless
                else:
                    pending.append(data)
            found = matched or (failed if not pending else [])
            if found:
                self._adopt(job, min(found, key=lambda d: str(d.get("created_at") or "")))
                job.meta["lookup"] = "adopted"
                if record:
                    record(job)
                return True
            if not pending:
                absent += 1
                if absent >= (2 if settle else 1):
                    job.meta["lookup"] = "absent"
                    return False
        raise JobError(
            self.name,
            "SUBMISSION_UNCERTAIN",
            f"the create of this batch was interrupted before its job id came back, and {len(pending)} "
            "recent job(s) of the same size never showed their items; it is not sent again (that could "
            "enroll the rows twice)",
            input=job.input,
            hint="re-run the same enroll call later to look again, or use force=True",
        )

    async def _candidates(self, job: Job, total: int, since: float) -> list[dict[str, Any]]:
        known = self.known_job_ids()
        collection = job.options.get("collection")
        out: list[dict[str, Any]] = []
        path = f"/organizations/{quote(self.org, safe='')}/batch"
        for page in range(1, MAX_PAGES + 1):
            r = await self._read(path, job, params={"page": page, "limit": MAX_BATCH})
            if r.status_code != 200:
                raise self.error(r, job)
            body = r.json()
            rows = (body.get("data") or []) if isinstance(body, dict) else []
            for d in rows:
                if not isinstance(d, dict) or not d.get("job_id") or str(d["job_id"]) in known:
                    continue
                if d.get("total") not in (None, total) or d.get("collection_id") not in (None, collection):
                    continue
                created = _timestamp(d.get("created_at"))
                if created is not None and created < since:
                    continue
                out.append(d)
            listed = (body.get("pagination") or {}).get("total")
            if len(rows) < MAX_BATCH or (isinstance(listed, int) and page * MAX_BATCH >= listed):
                break
        return out

    # -- poll and fetch -----------------------------------------------------------------------------
    async def poll(self, job: Job) -> PollResult:
        r = await self._read(job.urls.get("status_url") or self._job_path(job.job_id or ""), job)
        if r.status_code == 404 and time.time() - (job.submitted_at or job.created_at) < RETENTION * self._scale():
            code, message = self.parse_error(r)
            # not expired (too recent for the 7-day retention): the org id does not match the key, or it was deleted
            raise JobError(
                self.name,
                code or "JOB_NOT_FOUND",
                f"HTTP 404: {message} — check the organisation id {self.org!r} (FR_ORG_ID)",
                job_id=job.job_id,
                input=job.input,
            )
        if r.status_code != 200:
            raise self.error(r, job)
        data = body_data(r.json())
        word = data.get("status")
        status = map_status(word, self.statuses)
        err = data.get("error")
        err = err if isinstance(err, dict) else {}
        if status == Status.SUCCEEDED:
            self._final[job.key] = r.content
        return PollResult(status, word, err.get("code"), err.get("message"))

    async def fetch(self, job: Job) -> bytes:
        """The final poll JSON (job counters and ``results[]``); usually kept from the last poll."""
        content = self._final.pop(job.key, None)
        if content is not None:
            return content
        r = await self._read(job.urls.get("status_url") or self._job_path(job.job_id or ""), job)
        if r.status_code != 200:
            raise self.error(r, job)
        return r.content


class FacesBatch(Batch):
    """A face enrollment batch. ``roster_rows`` (set by ``enroll``) says which job position holds each roster
    row now, so results give one row per roster row, at its current index and file."""

    roster_rows: RowView | None = None
    row_names: dict[int, str] | None = None  # roster index -> the row number people see (RosterRow.row)


class FacesClient(ProviderClient):
    """``ws.faces``: a roster of people and face pictures -> enrolled face ids, in batch jobs of at most 100."""

    adapter_class = FacesAdapter
    adapter: FacesAdapter
    batch_class = FacesBatch

    def __init__(self, ledger: Ledger, transport: Transport) -> None:
        super().__init__(ledger, transport)
        self.adapter.known_job_ids = lambda: {j.job_id for j in ledger.jobs(provider=self.name) if j.job_id}

    @operation(
        Input("roster", "a roster CSV, a DataFrame, (external_id, path) pairs, or a folder of images"),
        Option("collection", str, help="the collection to enroll into (default: FR_COLLECTION_ID)"),
        Option("image_column", str, help="the roster's image column (default: found by name)"),
        Option("id_column", str, help="the roster's external id column (default: found by name)"),
        Option("base_dir", (str, Path), help="where relative image paths start (default: the CSV's folder)"),
        FORCE,
        DRY_RUN,
    )
    def enroll(
        self,
        roster: RosterSource,
        *,
        collection: str | None = None,
        image_column: str | None = None,
        id_column: str | None = None,
        base_dir: str | Path | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> FacesBatch | Plan:
        """Enroll every good row of ``roster`` into ``collection``; returns the running Batch at once.

        ``roster``: a CSV path (image paths relative to its folder), a DataFrame, (external_id, path) pairs,
        or a folder of images (external id = file stem). A row (external id and image digest) enrolled before,
        or in flight, is not sent again wherever it now stands: the batch includes the job that carries it. The
        other rows go in new jobs of <= 100 (``force=True``: every row anew). Bad rows are in ``batch.rejected``.
        """
        collection = collection or self.transport.config.extra.get("collection")
        if not collection:
            raise ConfigurationError("faces: no collection given (enroll(..., collection=) or FR_COLLECTION_ID)")
        self.adapter.org  # noqa: B018 -- fail now, before anything is recorded, when no org is configured
        parsed = read_roster(
            roster, id_column=id_column, image_column=image_column, base_dir=base_dir, provider=self.name
        )
        covered = {} if force else self.enrolled_rows(collection)
        items: list[Item | PreflightError] = [*parsed.rejected, *plan(parsed, collection, covered)]
        # jobs stopped by a refused JWT or an uncertain create resume in submit (toolkit.client.resume)
        batch = self.submit("enroll", items, options={"collection": collection}, force=force, dry_run=dry_run)
        if isinstance(batch, Plan):
            return batch
        batch = cast(FacesBatch, batch)  # its batch_class
        batch.roster_rows = view(batch.jobs, parsed, covered)
        batch.row_names = {r.index: r.row for r in parsed.rows}
        return batch

    def preflight(
        self,
        roster: RosterSource,
        *,
        collection: str,
        image_column: str | None = None,
        id_column: str | None = None,
        base_dir: str | Path | None = None,
    ) -> list[Item | PreflightError]:
        """The jobs ``enroll`` would submit and the rejected rows: recorded jobs that cover rows (``Item.key``
        set) and new jobs of <= 100 for the other rows, in roster order."""
        parsed = read_roster(
            roster, id_column=id_column, image_column=image_column, base_dir=base_dir, provider=self.name
        )
        return [*parsed.rejected, *plan(parsed, collection, self.enrolled_rows(collection))]

    def enrolled_rows(self, collection: str) -> dict[Ident, Job]:
        """Per row identity (external id, image digest), the recorded job of ``collection`` that carries it."""
        return covering(self.ledger.jobs(provider=self.name), self.name, self.target, collection)

    def failed_items(self, batch: Batch) -> list[Item]:
        """Rows to submit again: failed items of done jobs, and every row of jobs the provider failed.

        Jobs that failed on the client's side (JWT refused, create answer lost) are left out: their rows may
        well be enrolled; re-run ``enroll`` to re-attach to them instead.
        """
        # an enroll batch: only the roster's rows (not a replaced image's), at their current index and file
        roster_rows = batch.roster_rows if isinstance(batch, FacesBatch) else None
        row_names = batch.row_names if isinstance(batch, FacesBatch) else None
        return retry_items(batch.records(), roster_rows, RESUMABLE, row_names)


def _read_rows(provider: str, job: Job) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The multipart ``images`` parts of a job, re-read and checked against the digests preflight saw."""
    files = []
    for row in job.meta["rows"]:
        where = f"row {shown(row)} ({row['external_id']}): {row['file']}"
        try:
            data = Path(row["file"]).read_bytes()
        except OSError as e:
            raise JobError(
                provider,
                "INPUT_UNAVAILABLE",
                f"{where} cannot be read ({e.strerror or e})",
                input=job.input,
                hint="restore the file, or re-run enroll without that row",
            ) from None
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise JobError(
                provider,
                "INPUT_CHANGED",
                f"{where} changed after it was checked",
                input=job.input,
                hint="re-run enroll: the changed rows then form a new job",
            )
        files.append(("images", (Path(row["file"]).name, data, sniff(data) or "application/octet-stream")))
    return files


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def auth(sandbox: Any = None) -> dict[str, Any]:
    """x-api-key auth plus organisation, collection and JWT: the sandbox's tenant, else FR_ORG_ID & co."""
    if sandbox is not None:
        t = sandbox.tenant("faces")
        return {"auth_header": "x-api-key", "extra": {"org": t.org, "collection": t.collection}}
    extra = {}
    for name, var in (("org", "FR_ORG_ID"), ("collection", "FR_COLLECTION_ID"), ("jwt", "FR_JWT")):
        value = os.environ.get(var)
        if value:
            problem = flaw(value, ascii_only=name == "jwt")
            if problem:  # the value is not shown: FR_JWT is a credential
                raise ConfigurationError(f"{var} {problem}: strip it")
            extra[name] = value
    return {"auth_header": "x-api-key", "extra": extra}


INFO = ProviderInfo(
    name="faces",
    key_var="FR_API_KEY",
    url_var="FR_BASE_URL",
    base_url="",
    client=FacesClient,
    rate_limits=((600, 60.0),),
    auth=auth,
    extra_vars=("FR_ORG_ID", "FR_COLLECTION_ID", "FR_JWT"),
    loader="faces",
    plots=("enrollment_summary",),
    operations=("enroll",),
    sandbox=True,
)
