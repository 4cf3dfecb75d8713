"""Animal Detect async jobs (docs/contracts.md §1): create with Idempotency-Key -> PUT signed URL -> submit -> poll -> result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, cast

from ..options import DRY_RUN, FORCE, Input, Option, operation
from ..batch import Batch, ProviderClient
from ..plan import Plan
from ..filedata import length_header
from ..inputs import IMAGE_SUFFIXES, media_items
from ..model import InvalidOption, Job, JobError, Status
from ..registry import ProviderInfo
from ..transport import expect_json
from .base import Adapter, Item, PollPolicy, PollResult

if TYPE_CHECKING:
    import pandas as pd

BASE_URL = "https://api.animaldetect.com/v1"
MAX_BYTES = 10 * 1024 * 1024
ACCEPTED = {"image/jpeg", "image/png", "image/webp"}
OPTIONS = {"country", "threshold", "classify", "smooth_herd", "latitude", "longitude", "metadata", "top_candidate"}


class AnimalDetectAdapter(Adapter):
    name = "animaldetect"
    policy = PollPolicy(first=2.0, interval=2.0, factor=1.5, max_interval=30.0)
    statuses = {
        "created": Status.DRAFT,
        "queued": Status.QUEUED,
        "processing": Status.RUNNING,
        "succeeded": Status.SUCCEEDED,
        "success": Status.SUCCEEDED,
        "failed": Status.FAILED,
    }
    idempotent_create = True  # one stable Idempotency-Key per image: replays return the same job
    status_polls = False  # set when the result URL cannot be polled (see poll)

    async def create(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        """Create (replayed safely with the Idempotency-Key), upload, submit. A lapsed upload URL (403) on a
        job that was never uploaded is safe to replace: a fresh job under a derived key, once."""
        idem = job.meta.get("idempotency_key", job.key)
        body = {
            "operation": "detect",
            "filename": item.meta["filename"],
            "content_type": item.meta["content_type"],
            "client_reference_id": job.key,
            "options": item.options,
        }
        r = await self.t.request(
            "POST", "/jobs", json=body, headers={"Idempotency-Key": idem}, safe_to_retry=True, expect=expect_json
        )
        if r.status_code not in (200, 201):
            raise self.error(r, job)
        created = r.json()
        job.job_id = str(created["job_id"])
        job.urls = {k: created[k] for k in ("submit_url", "status_url", "result_url") if k in created}
        job.provider_status = created.get("status")
        job.status = self.statuses.get(str(created.get("status")).lower(), Status.DRAFT)
        if job.status.terminal:
            job.status = Status.QUEUED  # a replay of a job that finished meanwhile: the poll reads its outcome
        record(job)
        if job.status == Status.DRAFT:
            upload = created["upload"]
            put = await self.t.request(
                upload.get("method", "PUT"),
                upload["url"],
                auth=False,
                content=item.content,  # a FileInput streams, checked against its preflight digest
                headers={**(upload.get("headers") or {}), **length_header(item.content)},
            )
            if put.status_code == 403:
                if "idempotency_key" in job.meta:
                    job.status = Status.EXPIRED
                    raise JobError(
                        self.name,
                        "UPLOAD_EXPIRED",
                        "the upload URL lapsed twice before the image was uploaded; nothing was processed",
                        http_status=403,
                        job_id=job.job_id,
                        input=job.input,
                        hint="re-run later or with force=True",
                    )
                job.meta["idempotency_key"] = job.key + "-u1"  # the old draft can never run: replace it
                job.meta["replaced_draft"] = job.job_id
                return await self.create(job, item, record)
            if put.status_code == 409:  # another process (same key) uploaded and submitted it: follow the job
                job.status = Status.QUEUED
                return
            if put.status_code >= 300:
                raise self.error(put, job)
            sub = await self.t.request(
                "POST", self.rebase(job.urls["submit_url"]), safe_to_retry=True, expect=expect_json
            )
            if sub.status_code >= 300:
                raise self.error(sub, job)
            body = sub.json()
            job.provider_status = body.get("status")
            job.status = self.statuses.get(str(body.get("status")).lower(), Status.QUEUED)
            if job.status.terminal:
                job.status = Status.QUEUED

    async def poll(self, job: Job) -> PollResult:
        """Poll the result URL itself (202 + status until terminal, then 200 + result): a succeeded job is
        known and fetched in one request. Should a deployment answer 404 there before completion, the status
        URL decides, and is used from then on."""
        if not self.status_polls:
            r = await self.t.request("GET", self.rebase(job.urls["result_url"]), expect=expect_json)
            if r.status_code in (200, 202):
                body = r.json()
                if r.status_code == 200 and "annotations" in body and "error" not in body:
                    return PollResult(Status.SUCCEEDED, "succeeded", result=r.content)
                return self._status(body)
            if r.status_code != 404:
                raise self.error(r, job)
        r = await self.t.request("GET", self.rebase(job.urls["status_url"]), expect=expect_json)
        if r.status_code != 200:
            raise self.error(r, job)
        body = r.json()
        if not self.status_polls and not self.statuses.get(str(body.get("status")).lower(), Status.DRAFT).terminal:
            self.status_polls = True  # result URL 404s while running here: poll the status URL instead
        return self._status(body)

    def _status(self, body: dict) -> PollResult:
        err = body.get("error") or {}
        word = body.get("status")
        return PollResult(self.statuses.get(str(word).lower()), word, err.get("code"), err.get("message"))

    async def fetch(self, job: Job) -> bytes:
        r = await self.t.request("GET", self.rebase(job.urls["result_url"]), expect=expect_json)
        if r.status_code != 200:
            raise self.error(r, job)
        return r.content


class DetectBatch(Batch):
    """An Animal Detect batch: ``detections()`` is its results frame."""

    def detections(self, wait: bool | None = None) -> "pd.DataFrame":
        """One row per box (see ``toolkit.load.detections``); ``wait=True`` waits for unfinished jobs first."""
        from ... import load

        return load.detections(self, wait=wait)

    def browse(self, threshold: float = 0.0, **kwargs: Any) -> Any:
        """A detection browser of this batch's images: boxes redrawn by a score slider, locally (no job sent)."""
        from ...widgets.detections import detection_browser

        return detection_browser(self, threshold, **kwargs)


class AnimalDetectClient(ProviderClient):
    """``ws.animaldetect``: camera-trap images -> animal detections."""

    refilter_hint = "for a higher threshold, keep the rows of its detections() with score >= the new threshold"

    adapter_class = AnimalDetectAdapter
    batch_class = DetectBatch

    @operation(
        Input("images", "image files (JPEG/PNG/WebP, <= 10 MB), globs or folders"),
        Option("threshold", float, range=(0.01, 0.99), help="lowest detection confidence kept"),
        Option("classify", bool, help="species labels (False: animal/human/vehicle only)"),
        Option("country", str, help="where the images were taken: ISO code (CCA2/CCA3) or name, for the labels"),
        Option("metadata", bool, help="image width, height and file size in each result"),
        Option("top_candidate", bool, help="the best alternative labels of each box"),
        Option("latitude", float, range=(-90.0, 90.0), help="camera latitude (with longitude)"),
        Option("longitude", float, range=(-180.0, 180.0), help="camera longitude (with latitude)"),
        Option("smooth_herd", bool, help="one label for a herd of look-alike boxes"),
        FORCE,
        DRY_RUN,
    )
    def detect(
        self,
        images: str | Path | Iterable[str | Path],
        *,
        threshold: float = 0.2,
        classify: bool = True,
        country: str | None = None,
        metadata: bool = True,
        top_candidate: bool = False,
        latitude: float | None = None,
        longitude: float | None = None,
        smooth_herd: bool | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> DetectBatch | Plan:
        """Submit one job per image (paths, globs or folders); returns the running Batch at once."""
        if (latitude is None) != (longitude is None):
            raise InvalidOption("latitude and longitude go together")
        options: dict[str, Any] = {
            "threshold": threshold,
            "classify": classify,
            "metadata": metadata,
            "top_candidate": top_candidate,
        }
        for k, v in (
            ("country", country),
            ("latitude", latitude),
            ("longitude", longitude),
            ("smooth_herd", smooth_herd),
        ):
            if v is not None:
                options[k] = v
        items = media_items(self.name, images, IMAGE_SUFFIXES, ACCEPTED, MAX_BYTES)
        return cast(
            DetectBatch | Plan, self.submit("detect", items, options=options, force=force, dry_run=dry_run)
        )  # its batch_class

    def item_for(self, job: Job) -> Item | None:
        """The recorded image preflighted again (its key is checked by the caller)."""
        found = media_items(self.name, job.input, IMAGE_SUFFIXES, ACCEPTED, MAX_BYTES)
        return found[0] if len(found) == 1 and isinstance(found[0], Item) else None


INFO = ProviderInfo(
    name="animaldetect",
    key_var="AD_API_KEY",
    url_var="AD_API_BASE_URL",
    base_url=BASE_URL,
    client=AnimalDetectClient,
    batch=DetectBatch,
    rate_limits=((1000, 60.0),),
    loader="detections",
    plots=("boxes", "gallery", "counts", "score_histogram"),
    operations=("detect",),
    sandbox=True,
)
