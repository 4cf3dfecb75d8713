"""Authenta Jobs API (docs/contracts.md §3): create -> PUT each input slot to its signed URL -> finalize -> poll.

Create is not idempotent (no idempotency key), so each job carries a unique upload ``fileName``
(``<stem>.<tag><ext>``, tag = 12 hex of a hash of the ledger key) that the job list echoes: a create whose
answer was lost is found again by that name instead of being sent twice (``find``).

Upload URLs are single-use and expire (~1 h). A draft job whose upload was refused (403) and that the API
will not finalize (``UPLOAD_INCOMPLETE``) was never processed, and credits are charged only once processing
starts, so it is deleted and created afresh once; if the fresh job is refused too, the job is EXPIRED.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from ..filedata import FileInput, length_header
from ..model import InvalidOption, Job, JobError, ServiceUnreachable, Status, map_status
from ..options import did_you_mean
from ..transport import expect_json
from .base import Adapter, Item, PollPolicy, PollResult

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("toolkit.authenta")

BASE_URL = "https://platform.authenta.ai/api/v1"
JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
MP3, WAV, M4A = "audio/mpeg", "audio/wav", "audio/mp4"
MP4, MOV, WEBM = "video/mp4", "video/quicktime", "video/webm"
IMAGES, AUDIO, VIDEOS = frozenset({JPEG, PNG}), frozenset({MP3, WAV, M4A}), frozenset({MP4, MOV, WEBM})
#: MIME type -> (upload extension, suffixes a folder listing picks up, kind of media)
FORMATS: dict[str, tuple[str, tuple[str, ...], str]] = {
    JPEG: (".jpg", (".jpg", ".jpeg"), "image"),
    PNG: (".png", (".png",), "image"),
    PDF: (".pdf", (".pdf",), "document"),
    MP3: (".mp3", (".mp3",), "audio"),
    WAV: (".wav", (".wav",), "audio"),
    M4A: (".m4a", (".m4a",), "audio"),
    MP4: (".mp4", (".mp4", ".m4v"), "video"),
    MOV: (".mov", (".mov", ".qt"), "video"),
    WEBM: (".webm", (".webm",), "video"),
}
KINDS = {
    "image": ("an image", "images"),
    "audio": ("audio", "audio"),
    "video": ("a video", "videos"),
    "document": ("a PDF document", "PDF documents"),
}
SNIFFABLE = set(FORMATS) | {"image/gif", "image/webp"}  # read anything sniff knows, then say why it is refused


@dataclass(frozen=True)
class TaskType:
    id: int
    slug: str
    formats: frozenset[str]
    timeout: float = 600.0  # documented processing timeout (s)

    @property
    def accepts(self) -> str:
        kinds = [KINDS[k][1] for k in KINDS if any(FORMATS[m][2] == k for m in self.formats)]
        return f"{' and '.join(kinds)} ({', '.join(sorted(self.formats))})"


TASKS: dict[int, TaskType] = {
    t.id: t
    for t in (
        TaskType(1, "ai-image-detection", IMAGES, 300),
        TaskType(2, "ai-audio-detection", AUDIO),
        TaskType(3, "ai-video-detection", frozenset({MP4, MOV})),
        TaskType(4, "faceswap-detection", VIDEOS, 1800),
        TaskType(5, "image-forgery-detection", IMAGES, 300),
        TaskType(6, "document-intelligence", IMAGES | {PDF}, 300),
        TaskType(7, "face-liveness-detection", IMAGES),
        TaskType(8, "face-intelligence", IMAGES | VIDEOS),
        TaskType(9, "face-embedding", IMAGES),
        TaskType(10, "audio-splitter", AUDIO),
        TaskType(11, "ekyc-deepfake", VIDEOS),
    )
}
SLUGS = {t.slug: t for t in TASKS.values()}
FACE_CHECKS = ("isFaceswapCheck", "isLivenessCheck", "isSimilarityCheck")
#: screen(): which task looks at which kind of media
SCREEN = {**{m: 1 for m in IMAGES}, **{m: 2 for m in AUDIO}, MP4: 3, MOV: 3, WEBM: 4}
CREATE_ATTEMPTS = 6  # creates whose answer was lost and that the job list proved absent, before giving up
AMBIGUOUS = {500, 502, 504}  # the create may have been processed: look it up before sending it again
FIND_SLACK = 900.0  # s: a lost create is looked for among jobs created after the ledger row minus this
CLIENT_TIMEOUT_FLOOR = 30.0  # s: the task timeout + 60 s, scaled in the sandbox, never below this


def task_type(task: str | int) -> TaskType:
    """A task type by slug or id (1..11)."""
    if isinstance(task, int) or (isinstance(task, str) and task.strip().isdigit()):
        if int(task) in TASKS:
            return TASKS[int(task)]
    elif str(task).strip().lower() in SLUGS:
        return SLUGS[str(task).strip().lower()]
    hint = did_you_mean(task, SLUGS)
    raise InvalidOption(f"unknown Authenta task {task!r}{hint}; use an id 1-11 or one of: {', '.join(SLUGS)}")


#: the keys of a job's ``parameters`` (docs/contracts.md: the SDK's ``version``, face-intelligence's checks)
PARAMETERS = ("version", *FACE_CHECKS)


def parameters_problem(params: Any) -> str | None:
    """Why a ``parameters`` mapping is refused (a key it does not have, a check that is not True/False)."""
    if not all(isinstance(k, str) for k in params):
        return "must be a dict with string keys"
    unknown = [k for k in params if k not in PARAMETERS]
    if unknown:
        return f"has no key {unknown[0]!r}{did_you_mean(unknown[0], PARAMETERS)} (its keys: {', '.join(PARAMETERS)})"
    wrong = [k for k in FACE_CHECKS if k in params and not isinstance(params[k], bool)]
    return f"has {wrong[0]}={params[wrong[0]]!r}: it must be True or False" if wrong else None


def unwrap(body: Any) -> dict[str, Any]:
    """Both envelopes as one flat dict: ``jobId ?? job.id`` and ``status ?? job.status`` (ids as str)."""
    if not isinstance(body, dict):
        return {}
    inner = body.get("job")
    inner = inner if isinstance(inner, dict) else {}
    flat = {**inner, **{k: v for k, v in body.items() if k != "job"}}
    job_id = body.get("jobId", inner.get("id", body.get("id")))
    flat["jobId"] = str(job_id) if job_id is not None else None
    flat["status"] = body.get("status", inner.get("status"))
    flat.pop("id", None)
    return flat


class AuthentaAdapter(Adapter):
    name = "authenta"
    policy = PollPolicy(first=2.0, interval=5.0, factor=1.0, max_interval=5.0)
    statuses = {
        "created": Status.DRAFT,
        "initiated": Status.DRAFT,
        "waiting_for_finalize": Status.DRAFT,
        "queued": Status.QUEUED,
        "processing": Status.RUNNING,
        "completed": Status.SUCCEEDED,
        "processed": Status.SUCCEEDED,
        "failed": Status.FAILED,
        "error": Status.FAILED,
        "cancelled": Status.CANCELLED,
        "canceled": Status.CANCELLED,
    }
    idempotent_create = False

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._finished: dict[str, dict[str, Any]] = {}  # job id -> the terminal detail poll saw (fetch reuses it)
        self._running_since: dict[str, float] = {}  # job key -> when this process first saw it running

    # -- naming and slots -----------------------------------------------------------------------------
    @staticmethod
    def upload_name(job: Job, slot: str = "original") -> str:
        """The unique fileName sent for a slot: how ``find`` recognises the job in the job list."""
        prefix = "" if slot == "original" else "ref_"
        stem = Path(job.meta.get(f"{prefix}filename") or "input").stem[:100] or "input"
        ext = FORMATS.get(job.meta.get(f"{prefix}content_type", ""), (".bin",))[0]
        return f"{stem}.{hashlib.sha256(job.key.encode()).hexdigest()[:12]}{ext}"

    def _slots(self, job: Job, item: Item) -> list[tuple[str, bytes | FileInput, str]]:
        slots = [("original", item.content or b"", item.meta["content_type"])]
        if item.meta.get("reference_bytes") is not None:
            slots.append(("reference", item.meta["reference_bytes"], item.meta["ref_content_type"]))
        return slots

    # -- create / upload / finalize -----------------------------------------------------------------
    async def create(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        for attempt in range(2):  # a second round only after a stale draft was discarded
            if job.job_id is None:
                await self._create_job(job, item, record)
            await self._upload(job, item, record)
            if await self._finalize(job, record):
                return
            if attempt == 0:
                await self._discard_draft(job, record)
        await self.delete(job)  # leave no unusable draft behind
        job.status = Status.EXPIRED
        raise JobError(
            self.name,
            "UPLOAD_EXPIRED",
            "the upload URL was refused (expired or already used) and the job "
            "could not be finalized; a fresh job was refused the same way",
            job_id=job.job_id,
            input=job.input,
            hint="check that the file is unchanged and the clock is right, then retry_failed()",
        )

    async def _create_job(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        tid = int(item.options["task_type_id"])
        body: dict[str, Any] = {
            "inputs": [
                {"contentType": ct, "fileName": self.upload_name(job, slot), "sizeBytes": len(data), "slotName": slot}
                for slot, data, ct in self._slots(job, item)
            ],
            "taskTypeId": str(tid),
        }
        if item.options.get("parameters"):
            body["parameters"] = item.options["parameters"]
        if not job.meta.get("create_sent"):  # a re-create after a discarded draft: same intent rule as the first
            job.meta["create_sent"] = True
            record(job)
        for attempt in range(CREATE_ATTEMPTS):
            try:
                r = await self.t.request(  # an unreadable 2xx is CONNECTION_LOST: looked up like a lost answer
                    "POST", "/jobs", params={"taskTypeId": tid}, json=body, safe_to_retry=False, expect=expect_json
                )
            except ServiceUnreachable as e:
                if e.code != "CONNECTION_LOST":
                    raise
                r = None
            if r is None or r.status_code in AMBIGUOUS:  # the job may or may not exist: look before sending again
                if await self._lookup(job, settle=True):
                    record(job)
                    return
                await asyncio.sleep(self._scaled(0.5 * 2**attempt))
                continue
            if r.status_code not in (200, 201):
                raise self.error(r, job)
            created = unwrap(r.json())
            job.job_id = created["jobId"]
            job.urls = {
                f"upload:{s['slotName']}": s["uploadUrl"] for s in created.get("inputs") or [] if s.get("uploadUrl")
            }
            self._set_status(job, created.get("status"), Status.DRAFT)
            record(job)
            return
        raise JobError(
            self.name,
            "SUBMISSION_UNCERTAIN",
            f"{CREATE_ATTEMPTS} create requests lost their answers; the job list showed none of them",
            input=job.input,
            hint="check the connection, then retry_failed()",
        )

    async def _upload(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        done = job.meta.setdefault("uploaded", {})
        for slot, data, ctype in self._slots(job, item):
            url = job.urls.get(f"upload:{slot}")
            if done.get(slot) or not url:  # adopted by find(): the URL is unknown; finalize tells
                continue
            put = await self.t.request(
                "PUT",
                self.rebase(url),
                auth=False,
                content=data,
                headers={"Content-Type": ctype, **length_header(data)},
            )
            if put.status_code == 403:  # expired, or already used by a PUT whose answer was lost
                job.meta.setdefault("refused", {})[slot] = self.parse_error(put)[1]
                continue
            if put.status_code >= 300:
                raise self.error(put, job)
            done[slot] = True
            record(job)

    async def _finalize(self, job: Job, record: Callable[[Job], None]) -> bool:
        """Finalize (idempotently); False when the job is a draft that can never be finalized."""
        if job.status not in (Status.DRAFT,) or job.meta.get("finalized"):
            return True
        r = await self.t.request("POST", f"/jobs/{job.job_id}/finalize", safe_to_retry=True, expect=expect_json)
        if r.status_code in (200, 201, 202):
            self._finalized(job, unwrap(r.json()).get("status"), Status.QUEUED)
            return True
        if r.status_code not in (400, 409, 422):
            raise self.error(r, job)
        code, _ = self.parse_error(r)
        # "Job not found or already finalized": the job's own status says which
        d = await self.detail(job)
        if d is None:  # gone: safe to create again only if it can never have been processed
            uploaded = job.meta.get("uploaded", {})
            if len(uploaded) >= len(self._expected_slots(job)) and all(uploaded.values()):
                raise self.error(r, job)
            return False
        status = map_status(d.get("status"), self.statuses)
        if status is not None and status != Status.DRAFT:
            self._finalized(job, d.get("status"), status)
            return True
        missing = [s for s in self._expected_slots(job) if not job.meta.get("uploaded", {}).get(s)]
        if code == "UPLOAD_INCOMPLETE" or missing:
            return False
        raise self.error(r, job)

    def _finalized(self, job: Job, word: Any, default: Status) -> None:
        job.meta["finalized"] = True
        job.urls = {k: v for k, v in job.urls.items() if not k.startswith("upload:")}  # closed now: not kept
        self._set_status(job, word, default)

    def _expected_slots(self, job: Job) -> list[str]:
        return ["original", "reference"] if job.meta.get("ref_content_type") else ["original"]

    async def _discard_draft(self, job: Job, record: Callable[[Job], None]) -> None:
        """Delete a draft that was never processed (no credits are charged before processing) and forget it."""
        await self.delete(job)
        log.info("authenta: draft job %s of %s could not be finalized; creating it afresh", job.job_id, job.input)
        job.meta["discarded"] = [*job.meta.get("discarded", []), job.job_id]
        for k in ("uploaded", "refused", "finalized", "adopted", "create_sent"):
            job.meta.pop(k, None)
        job.job_id, job.urls, job.status, job.provider_status = None, {}, Status.DRAFT, None
        record(job)

    def _set_status(self, job: Job, word: Any, default: Status) -> None:
        job.provider_status = str(word) if word is not None else job.provider_status
        job.status = map_status(word, self.statuses) or default

    # -- poll / fetch ---------------------------------------------------------------------------------
    async def detail(self, job: Job, missing_ok: bool = True) -> dict[str, Any] | None:
        """The job detail (flat), or None on 404 when ``missing_ok``."""
        r = await self.t.request("GET", f"/jobs/{job.job_id}", expect=expect_json)
        if r.status_code == 404 and missing_ok:
            return None
        if r.status_code != 200:
            raise self.error(r, job)
        return unwrap(r.json())

    async def poll(self, job: Job) -> PollResult:
        d = await self.detail(job, missing_ok=False)
        assert d is not None
        word = d.get("status")
        status = map_status(word, self.statuses)
        if status == Status.SUCCEEDED:
            if d.get("result") is not None:  # inline: stored from this very answer, no fetch request
                return PollResult(status, word, result=self._document(d, d["result"]))
            self._finished[str(job.job_id)] = d
        if status == Status.FAILED:
            return PollResult(
                status,
                word,
                d.get("errorCode") or str(word).upper(),
                d.get("errorMessage") or d.get("message") or "the job failed at Authenta",
            )
        if status == Status.RUNNING:
            # timed from when this run first saw it running: a re-run (CLIENT_TIMEOUT is resumable) waits again
            since = self._running_since.setdefault(job.key, time.time())
            if time.time() - since > self._client_timeout(job):
                return PollResult(
                    Status.FAILED,
                    word,
                    "CLIENT_TIMEOUT",
                    f"still processing {time.time() - since:.0f} s after it started, beyond the task timeout + "
                    "60 s; a re-run of the same call follows it again",
                )
        return PollResult(status, word)

    def _client_timeout(self, job: Job) -> float:
        task = TASKS.get(int(job.options.get("task_type_id", 0)))
        return max(self._scaled((task.timeout if task else 600.0) + 60.0), CLIENT_TIMEOUT_FLOOR)

    async def fetch(self, job: Job) -> bytes:
        """The job detail with its result inline (downloaded from the result artifact when not inline)."""
        d = self._finished.pop(str(job.job_id), None) or await self.detail(job)
        if d is None:
            raise JobError(
                self.name,
                "JOB_NOT_FOUND",
                "the job is gone (retention over?)",
                http_status=404,
                job_id=job.job_id,
                input=job.input,
            )
        result = d.get("result")
        for attempt in range(2):
            if result is not None:
                break
            art = next(
                (a for a in d.get("artifacts") or [] if a.get("kind") == "result" and a.get("downloadUrl")), None
            )
            if art is None:
                raise JobError(
                    self.name,
                    "NO_RESULT",
                    "the completed job has neither a result nor a result artifact",
                    job_id=job.job_id,
                    input=job.input,
                )
            r = await self.t.request("GET", art["downloadUrl"], auth=False, expect=expect_json)
            if r.status_code == 200:
                result = r.json()
            elif r.status_code in (403, 404) and attempt == 0:  # the artifact URL lapsed: ask for a fresh one
                d = await self.detail(job) or d
            else:
                raise self.error(r, job)
        return self._document(d, result)

    @staticmethod
    def _document(d: dict[str, Any], result: Any) -> bytes:
        """What the cache keeps: the job detail with the result inline and no (expiring) signed URLs."""
        doc = {
            **d,
            "result": result,
            "artifacts": [{k: v for k, v in a.items() if k != "downloadUrl"} for a in d.get("artifacts") or []],
        }
        return json.dumps(doc, sort_keys=True).encode()

    # -- cancel / delete / find -----------------------------------------------------------------------
    async def cancel(self, job: Job) -> bool:
        r = await self.t.request("POST", f"/jobs/{job.job_id}/cancel", safe_to_retry=True)
        if r.status_code == 200:
            return True
        if r.status_code in (409, 422):
            d = await self.detail(job)  # a retried cancel that already went through reads "already cancelled"
            if d is not None and map_status(d.get("status"), self.statuses) == Status.CANCELLED:
                return True
            reason = self.parse_error(r)[1]
            job.meta["cancel_refused"] = reason
            log.warning("authenta: job %s (%s) not cancelled: %s", job.job_id, job.input, reason)
            return False
        raise self.error(r, job)

    async def delete(self, job: Job) -> bool:
        r = await self.t.request("DELETE", f"/jobs/{job.job_id}")
        if r.status_code in (200, 204, 404):  # 404: already gone (e.g. a retried delete)
            return True
        log.warning("authenta: job %s (%s) not deleted: %s", job.job_id, job.input, self.parse_error(r)[1])
        return False

    async def find(self, job: Job) -> bool:
        """After a create interrupted before its job id was recorded: True when the job list settles it, i.e.
        the job is there (adopted: ``job.job_id`` set) or the list since the ledger row proves it absent."""
        await self._lookup(job, settle=False)
        return True

    async def _lookup(self, job: Job, settle: bool) -> bool:
        """Look the job up in ``GET /jobs`` (newest first) by its unique upload fileName: True when adopted.

        ``settle``: right after a lost answer the server may still be storing the job, so wait a little and
        call it absent only when two lists in a row do not show it. A list that cannot be read raises."""
        name, since = self.upload_name(job), job.created_at - FIND_SLACK
        for round_ in range(2 if settle else 1):
            if settle:
                await asyncio.sleep(self._scaled(1.0 + round_))
            try:
                async for d in self.iter_jobs(stop_before=since):
                    slots = d.get("inputs") or []
                    if name in [s.get("fileName") for s in slots if s.get("slotName", "original") == "original"]:
                        job.job_id = d["jobId"]
                        job.meta["adopted"] = True
                        self._set_status(job, d.get("status"), Status.DRAFT)
                        return True
            except JobError as e:
                raise JobError(
                    self.name,
                    "SUBMISSION_UNCERTAIN",
                    f"a create request lost its answer and the job "
                    f"list could not be read to look for the job ({e.message})",
                    input=job.input,
                    hint="re-run later: the lookup is repeated before anything is sent again",
                ) from None
        return False

    def _scaled(self, seconds: float) -> float:
        cfg = self.t.config
        return seconds * cfg.time_scale

    async def iter_jobs(
        self, status: str | None = None, page_size: int = 100, stop_before: float | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every job of the key, page by page (newest first); stops at a page wholly older than ``stop_before``."""
        page, pages = 1, 1
        while page <= pages and page <= 10_000:
            params: dict[str, Any] = {"page": page, "limit": page_size, **({"status": status} if status else {})}
            r = await self.t.request("GET", "/jobs", params=params, expect=expect_json)
            if r.status_code != 200:
                raise self.error(r)
            body = r.json()
            data = [unwrap(d) for d in body.get("data") or []]
            for d in data:
                yield d
            pg = body.get("pagination") or {}
            pages = int(pg.get("pages") or (-(-int(pg.get("total") or 0) // page_size)))
            if not data or (stop_before is not None and all(_ts(d.get("createdAt")) < stop_before for d in data)):
                break
            page += 1

    def parse_error(self, resp: "httpx.Response") -> tuple[str | None, str]:
        try:
            body = resp.json()
        except ValueError:
            return None, resp.text[:300] or resp.reason_phrase
        if isinstance(body, dict) and ("code" in body or "message" in body):
            return body.get("code"), str(body.get("message") or "")
        return super().parse_error(resp)


def _ts(value: Any) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")  # unknown creation time: never a reason to stop looking
