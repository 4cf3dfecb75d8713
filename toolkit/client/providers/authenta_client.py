"""``ws.authenta``: the user-facing calls over the Authenta adapter — run one task, screen mixed media by type,
list the account's jobs. The contract itself (create, upload, finalize, poll, find) is in ``authenta.py``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..options import DRY_RUN, FORCE, Input, Option, operation
from .. import runtime
from ..batch import Batch, ProviderClient
from ..plan import Plan
from ..inputs import media_items, read_media
from ..model import SKIPPED, InvalidOption, Job, PreflightError, Status, map_status, skipped_text
from ...widgets.notice import notice
from ..registry import ProviderInfo
from .authenta import (
    BASE_URL,
    FACE_CHECKS,
    FORMATS,
    IMAGES,
    KINDS,
    PARAMETERS,
    SCREEN,
    SNIFFABLE,
    TASKS,
    AuthentaAdapter,
    parameters_problem,
    task_type,
)
from .base import Item

if TYPE_CHECKING:
    import pandas as pd


def _describe(mime: str) -> str:
    kind = FORMATS.get(mime, ("", (), ""))[2]
    return f"{mime} ({KINDS[kind][0]})" if kind else mime


_MEDIA = Input("media", "media files, globs or folders (each task accepts its own types)")


class VerdictBatch(Batch):
    """An Authenta batch: ``verdicts()`` is its results frame."""

    def verdicts(self, wait: bool | None = None) -> "pd.DataFrame":
        """One row per input and task (see ``toolkit.load.verdicts``); ``wait=True`` waits for unfinished jobs
        first."""
        from ... import load

        return load.verdicts(self, wait=wait)


class ScreenBatch(VerdictBatch):
    """A batch mixing task types (``screen``): failed inputs are retried under their own task."""

    def retry_failed(self, force: bool = False) -> Batch:
        groups: dict[str, list[Item]] = {}
        for j in self._failed_jobs():
            if j.key in self._items:
                groups.setdefault(j.operation, []).append(self._items[j.key])
        if not groups:
            return self
        batches = []
        for op, items in groups.items():  # a re-run of the same retry re-attaches
            batches.append(self.client.submit(op, items, force=force, start=False, salt=self.retry_salt(items)))
        return self.client._merge(batches, [])


class AuthentaClient(ProviderClient):
    """``ws.authenta``: media -> deepfake / forgery / liveness / embedding verdicts (11 task types)."""

    adapter_class = AuthentaAdapter
    adapter: AuthentaAdapter
    batch_class = VerdictBatch

    @operation(
        Input("task", "the task: its slug (e.g. 'ai-image-detection') or its id 1..11"),
        _MEDIA,
        Option("reference", (str, Path), help="face-intelligence only: an image compared with every input"),
        Option(
            "parameters",
            dict,
            check=parameters_problem,
            help=f"task parameters: {', '.join(PARAMETERS)} (face-intelligence's checks: True/False)",
        ),
        FORCE,
        DRY_RUN,
        Option("start", bool, help="start the jobs at once (False: later, with batch.start())"),
    )
    def run(
        self,
        task: str | int,
        media: str | Path | Iterable[str | Path],
        *,
        reference: str | Path | None = None,
        parameters: dict[str, Any] | None = None,
        force: bool = False,
        dry_run: bool = False,
        start: bool = True,
    ) -> Batch | Plan:
        """One job per file (paths, globs, folders) for ``task`` (slug or id 1..11); returns the running Batch.

        ``reference`` (face-intelligence only) is an image compared with every input; it is required when
        ``parameters={"isSimilarityCheck": True}``. Files the task does not accept are rejected before sending.
        """
        t = task_type(task)
        params = dict(parameters or {})
        if any(k in params for k in FACE_CHECKS) and t.id != 8:
            raise InvalidOption(f"{', '.join(k for k in FACE_CHECKS if k in params)} apply to face-intelligence only")
        if reference is not None and t.id != 8:
            raise InvalidOption(f"reference is an input of face-intelligence (task 8) only, not of {t.slug}")
        if params.get("isSimilarityCheck") and reference is None:
            raise InvalidOption("isSimilarityCheck needs a reference image: run(..., reference='person.jpg')")
        options: dict[str, Any] = {"task_type_id": t.id, "parameters": params}
        extra: dict[str, Any] = {}
        if reference is not None:
            ref = Path(reference).expanduser()
            if not ref.is_file():
                raise PreflightError(self.name, str(reference), "the reference image does not exist")
            data, mime = read_media(self.name, ref, SNIFFABLE, None)
            if mime not in IMAGES:
                raise PreflightError(
                    self.name,
                    str(reference),
                    f"the content is {_describe(mime)}; the reference slot accepts images (image/jpeg, image/png)",
                )
            options["reference_sha256"] = hashlib.sha256(data).hexdigest()  # part of the idempotency key
            extra = {
                "reference": str(ref),
                "ref_filename": ref.name,
                "ref_content_type": mime,
                "ref_size": len(data),
                "reference_bytes": data,
            }

        def check(mime: str) -> str | None:
            if mime in t.formats:
                return None
            return f"the content is {_describe(mime)}; {t.slug} (task {t.id}) accepts {t.accepts}"

        items = [
            it if isinstance(it, PreflightError) else Item(it.input, it.content, meta={**it.meta, **extra})
            for it in self._items(media, t.formats, check)
        ]
        return self.submit(t.slug, items, options=options, force=force, start=start, dry_run=dry_run)

    @operation(_MEDIA, FORCE, DRY_RUN)
    def screen(
        self, media: str | Path | Iterable[str | Path], *, force: bool = False, dry_run: bool = False
    ) -> Batch | Plan:
        """Screen mixed media for synthetic content: images -> ai-image-detection, audio -> ai-audio-detection,
        MP4/MOV -> ai-video-detection, WebM -> faceswap-detection. One Batch over all of them; the jobs are the
        same as ``run(task, file)`` would make, so nothing already analysed is paid for twice."""

        def check(mime: str) -> str | None:
            if mime in SCREEN:
                return None
            return f"the content is {_describe(mime)}; screen() takes images, audio and video (use run() with a task)"

        groups: dict[int, list[Item]] = {}
        rejected: list[PreflightError] = []
        skipped: list[str] = []
        for it in self._items(media, frozenset(SCREEN), check):
            if isinstance(it, PreflightError) and it.code == SKIPPED:
                skipped.append(it.input or "")
            elif isinstance(it, PreflightError):
                rejected.append(it)
            else:
                groups.setdefault(SCREEN[it.meta["content_type"]], []).append(it)
        batches = [
            self.submit(
                TASKS[tid].slug,
                items,
                options={"task_type_id": tid, "parameters": {}},
                force=force,
                start=False,
                dry_run=dry_run,
            )
            for tid, items in sorted(groups.items())
        ]
        if dry_run:
            return Plan.merge(self.name, "screen", [p for p in batches if isinstance(p, Plan)], rejected)
        merged = self._merge([b for b in batches if isinstance(b, Batch)], rejected)
        merged.skipped = skipped
        if skipped:
            notice(skipped_text(self.name, "screen", skipped, [it for g in groups.values() for it in g]))
        return merged

    def _merge(self, batches: list[Batch], rejected: list[PreflightError]) -> Batch:
        from ..ledger import idempotency_key

        jobs = [j for b in batches for j in b.jobs]
        self.preflight_outcome("screen", rejected, len(jobs))
        items = {k: v for b in batches for k, v in b._items.items()}
        keys = [j.key for j in jobs]
        batch_id = "b-" + idempotency_key(self.name, "screen", {}, "\n".join(sorted(keys)))[:16]
        self.ledger.save_batch(batch_id, self.name, "screen", keys, {"batches": [b.id for b in batches]})
        return ScreenBatch(self, batch_id, jobs, items, rejected + [e for b in batches for e in b.rejected]).start()

    def _items(
        self, media: str | Path | Iterable[str | Path], formats: Iterable[str], check: Callable[[str], str | None]
    ) -> list[Item | PreflightError]:
        suffixes = {s for m in formats for s in FORMATS[m][1]}
        return media_items(self.name, media, suffixes, SNIFFABLE, None, check)

    def item_for(self, job: Job) -> Item | None:
        """The recorded medium preflighted again (its key is checked by the caller); not with a reference
        image, whose bytes the ledger does not keep."""
        tid = job.options.get("task_type_id")
        if job.meta.get("reference") or not isinstance(tid, int):
            return None
        found = self._items(job.input, task_type(tid).formats, lambda mime: None)
        return found[0] if len(found) == 1 and isinstance(found[0], Item) else None

    @operation(
        Option("status", str, help="only jobs in this status (unified, e.g. 'running', or Authenta's own word)"),
        Option("limit", int, range=(1, 100), help="jobs per page (every page is read)"),
    )
    def list_jobs(self, status: str | Status | None = None, limit: int = 100) -> "pd.DataFrame":
        """Every job of the key at Authenta (all pages of ``limit`` <= 100), newest first, as a tidy frame."""
        import pandas as pd

        word = None
        if status is not None:
            unified = {"draft": "waiting_for_finalize", "running": "processing", "succeeded": "completed"}
            word = unified.get(str(status).lower(), str(status).lower())
            if word not in self.adapter.statuses:
                raise InvalidOption(f"status {status!r} is not an Authenta status ({', '.join(self.adapter.statuses)})")

        async def collect() -> list[dict[str, Any]]:
            return [d async for d in self.adapter.iter_jobs(status=word, page_size=limit)]

        inputs = {j.job_id: j.input for j in self.ledger.jobs(provider=self.name) if j.job_id}
        rows, seen = [], set()
        for d in runtime.run(collect()):
            if d["jobId"] in seen:  # a job created while paging shifts later pages by one
                continue
            seen.add(d["jobId"])
            tid = d.get("taskTypeId")
            slots = {s.get("slotName", "original"): s.get("fileName") for s in d.get("inputs") or []}
            rows.append(
                {
                    "job_id": d["jobId"],
                    "task_type_id": int(tid) if tid is not None else None,
                    "task": d.get("taskTypeSlug") or (TASKS[int(tid)].slug if tid and int(tid) in TASKS else None),
                    "status": getattr(map_status(d.get("status"), self.adapter.statuses), "value", None),
                    "provider_status": d.get("status"),
                    "file_name": slots.get("original"),
                    "input": inputs.get(d["jobId"]),
                    "created_at": d.get("createdAt"),
                    "updated_at": d.get("updatedAt"),
                    "completed_at": d.get("completedAt"),
                    "error_message": d.get("errorMessage"),
                }
            )
        cols = [
            "job_id",
            "task_type_id",
            "task",
            "status",
            "provider_status",
            "file_name",
            "input",
            "created_at",
            "updated_at",
            "completed_at",
            "error_message",
        ]
        df = pd.DataFrame(rows, columns=cols)
        for c in ("created_at", "updated_at", "completed_at"):
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
        return df


INFO = ProviderInfo(
    name="authenta",
    key_var="AUTHENTA_API_KEY",
    url_var="AUTHENTA_BASE_URL",
    base_url=BASE_URL,
    client=AuthentaClient,
    batch=VerdictBatch,
    loader="verdicts",
    plots=("verdict_distribution",),
    operations=("screen", *(t.slug for t in TASKS.values())),
    operations_help="an Authenta task or screen",
    sandbox=True,
)
