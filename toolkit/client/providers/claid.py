"""Claid.ai async image edit (docs/contracts.md §4): [upload] -> POST /image/edit/async -> poll result_url -> tmp_url.

Local files against the real service go through Claid's synchronous upload API, one call per image
(``claid_upload``); in the sandbox they go first to its own storage endpoint (``POST {base}/storage/upload``,
sandbox only, answering ``{"data": {"input": "storage://…", "url": …}}``) and the returned ``storage://`` input
is what the async edit reads. ``http(s)://`` and ``storage://`` inputs are passed as they are.
The create call is not idempotent and Claid has no task list, so a create whose answer was lost is never sent
again (the job fails with CONNECTION_LOST / SUBMISSION_UNCERTAIN; ``Batch.retry_failed()`` resubmits).
The cached result is the poll JSON plus ``"toolkit": {"output_digest", "output_path", ...}``, and the output
image itself sits in the same content-addressed cache under that digest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import httpx

from ..options import DRY_RUN, FORCE, Input, Option, operation
from ...media import sniff
from ..batch import Batch, ProviderClient
from ..plan import Plan
from ..filedata import FileInput
from ..inputs import IMAGE_SUFFIXES, expand, preflight_file, read_file
from ..model import InvalidOption, Job, JobError, PreflightError, Status, map_status
from ..registry import ProviderInfo
from . import claid_upload
from ..transport import expect_json
from .base import Adapter, Item, PollPolicy, PollResult
from .claid_schema import InvalidRequest, validate

__all__ = ["ClaidAdapter", "ClaidClient", "EditBatch", "InvalidRequest", "validate"]

BASE_URL = "https://api.claid.ai/v1"
UPLOAD_PATH = "/storage/upload"
MAX_BYTES = 25 * 1024 * 1024  # the docs are silent; the sandbox's (PC) upload cap
MAX_INPUT_CHARS = 4096  # the schema's cap on ``input``
ACCEPTED = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff", "image/avif"}
SUFFIXES = IMAGE_SUFFIXES | {".gif", ".bmp", ".tif", ".tiff", ".avif"}
URL_SCHEMES = ("http", "https", "storage")


# -- the adapter ----------------------------------------------------------------------------------------------
class ClaidAdapter(Adapter):
    name = "claid"
    policy = PollPolicy(first=1.0, interval=2.0, factor=1.0, max_interval=2.0)  # PC: 1 s, then every 2 s
    statuses = {
        "accepted": Status.QUEUED,
        "processing": Status.RUNNING,
        "done": Status.SUCCEEDED,
        "error": Status.FAILED,
    }
    idempotent_create = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done: dict[str, dict[str, Any]] = {}  # job key -> its DONE poll body (saves a GET in fetch)

    def policy_for(self, job: Job) -> PollPolicy:
        return claid_upload.IMMEDIATE if job.meta.get("api") == claid_upload.API else self.policy

    async def create(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        if claid_upload.uses_upload(job, item, self.t.config.sandbox):  # a local file, the real service
            return await claid_upload.create(self, job, item, record)
        source = item.meta.get("url") or job.meta.get("storage_input")
        if source is None:
            source = await self._upload(job, item)
            job.meta["storage_input"] = source
        job.meta["create_posted"] = True  # from here on a lost answer may mean the task exists
        record(job)
        body: dict[str, Any] = {"input": source, "operations": item.options.get("operations") or {}}
        if item.options.get("output") is not None:
            body["output"] = item.options["output"]
        r = await self.t.request("POST", "/image/edit/async", json=body, safe_to_retry=False, expect=expect_json)
        if r.status_code >= 300:
            raise self.error(r, job)
        data = self._json(r, job).get("data") or {}
        if data.get("id") is None:
            raise JobError(
                self.name,
                "BAD_RESPONSE",
                f"the create answer has no task id: {r.text[:200]}",
                http_status=r.status_code,
                input=job.input,
            )
        job.job_id = str(data["id"])
        job.urls = {"result_url": data.get("result_url") or self.t.url(f"/image/edit/async/{job.job_id}")}
        job.provider_status = data.get("status")
        job.status = map_status(data.get("status"), self.statuses) or Status.QUEUED
        record(job)

    async def _upload(self, job: Job, item: Item) -> str:
        # a FileInput is read whole here, verified against its preflight digest (one upload in flight at a time)
        data = item.content.read() if isinstance(item.content, FileInput) else item.content
        files = {"file": (item.meta["filename"], data, item.meta["content_type"])}
        # a repeated upload only stores another copy, so retrying after a lost answer is safe
        r = await self.t.request("POST", UPLOAD_PATH, files=files, safe_to_retry=True)
        if r.status_code >= 300:
            raise self.error(r, job)
        source = (self._json(r, job).get("data") or {}).get("input")
        if not source:
            raise JobError(
                self.name,
                "BAD_RESPONSE",
                f"the upload answer names no input: {r.text[:200]}",
                http_status=r.status_code,
                input=job.input,
            )
        return source

    def forget_create(self, job: Job) -> None:
        super().forget_create(job)
        job.meta.pop("create_posted", None)

    async def find(self, job: Job) -> bool:
        """No task list to look in; but if the create request itself never went out (the interruption hit
        the upload), sending it now cannot make a duplicate."""
        return not job.meta.get("create_posted")

    async def poll(self, job: Job) -> PollResult:
        if job.meta.get("api") == claid_upload.API:
            return claid_upload.poll(job)
        r = await self.t.request("GET", self.rebase(job.urls["result_url"]), expect=expect_json)
        if r.status_code != 200:
            raise self.error(r, job)
        body = self._json(r, job)
        data = body.get("data") or {}
        word = data.get("status")
        status = map_status(word, self.statuses)
        if status == Status.SUCCEEDED:
            self._done[job.key] = body
        if status == Status.FAILED:
            errors = data.get("errors") or [{}]
            first = errors[0] if isinstance(errors[0], dict) else {"error": str(errors[0])}
            return PollResult(status, word, "ERROR", str(first.get("error") or "the task ended in ERROR"))
        return PollResult(status, word)

    async def fetch(self, job: Job) -> bytes:
        if job.meta.get("api") == claid_upload.API:
            return await self._download(job, *claid_upload.result_body(job))
        body = self._done.pop(job.key, None)
        if body is None:  # e.g. after a restart: ask again (a 404 here means the task expired)
            r = await self.t.request("GET", self.rebase(job.urls["result_url"]), expect=expect_json)
            if r.status_code != 200:
                raise self.error(r, job)
            body = self._json(r, job)
        out = ((body.get("data") or {}).get("result") or {}).get("output_object") or {}
        return await self._download(job, body, out)

    async def _download(self, job: Job, body: dict[str, Any], out: dict[str, Any]) -> bytes:
        """Download ``out["tmp_url"]`` into the cache; ``body`` plus where the image is, as the cached result."""
        if not out.get("tmp_url"):
            raise JobError(
                self.name,
                "NO_OUTPUT",
                "the task is DONE but its result has no output_object.tmp_url",
                job_id=job.job_id,
                input=job.input,
            )
        img = await self.t.request("GET", self.rebase(out["tmp_url"]), auth=False, expect=_expect_image)
        if img.status_code != 200:
            err = self.error(img, job)
            if img.status_code == 404:
                err.hint = "tmp_url objects live 24 hours; submit again with force=True"
            raise err
        if self.store is None:
            raise JobError(self.name, "NO_CACHE", "the adapter has no result cache to store the output image in")
        digest = self.store(img.content)
        result_path = getattr(getattr(self.store, "__self__", None), "result_path", None)  # the cache's, if bound
        path = str(Path(result_path(digest)).resolve()) if result_path is not None else None
        body["toolkit"] = {
            "output_digest": digest,
            "output_path": path,
            "output_bytes": len(img.content),
            "output_mime": img.headers.get("content-type"),
        }
        return json.dumps(body).encode()

    def _json(self, r: httpx.Response, job: Job) -> dict[str, Any]:
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise JobError(
                self.name,
                "BAD_RESPONSE",
                f"expected a JSON object, got: {r.text[:200]!r}",
                http_status=r.status_code,
                job_id=job.job_id,
                input=job.input,
            )
        return body

    def parse_error(self, resp: httpx.Response) -> tuple[str | None, str]:
        """Claid's envelope ``{error_code, error_type, error_message, error_details}``; 429 nests it in ``detail``."""
        try:
            body = resp.json()
        except ValueError:
            return None, resp.text[:300] or resp.reason_phrase
        if isinstance(body, dict) and isinstance(body.get("detail"), dict):
            body = body["detail"]
        if not isinstance(body, dict) or not ({"error_code", "error_message"} & set(body)):
            return super().parse_error(resp)
        message = str(body.get("error_message") or body.get("error_type") or "")
        details = body.get("error_details")
        if isinstance(details, dict) and details and not any(str(k) in message for k in details):
            message += (
                " ("
                + "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in details.items())
                + ")"
            )
        if resp.status_code >= 500 and resp.headers.get("x-request-id"):
            message += f" [x-request-id {resp.headers['x-request-id']}]"
        code = body.get("error_code")
        return (str(code) if code is not None else None), message


def _expect_image(resp: httpx.Response) -> str | None:
    """``request(expect=...)`` for the tmp_url download: an image by its bytes (a proxy's page is retried)."""
    declared = resp.headers.get("content-type", "").startswith("image/")
    if resp.content and (sniff(resp.content) is not None or declared):
        return None
    return f"a body that is not an image ({resp.headers.get('content-type') or 'no content type'})"


# -- the client ---------------------------------------------------------------------------------------------
class EditBatch(Batch):
    """A Claid batch: ``images()`` is its results frame."""

    def images(self, wait: bool | None = None) -> Any:
        """Input/output sizes, formats and the local path of each output (see ``toolkit.load.images``);
        ``wait=True`` waits for unfinished jobs first."""
        from ... import load

        return load.images(self, wait=wait)


class ClaidClient(ProviderClient):
    """``ws.claid``: images (local files, http(s) or storage:// URLs) -> edited images."""

    adapter_class = ClaidAdapter
    batch_class = EditBatch

    @operation(
        Input("images", "image files, globs, folders, or http(s):// and storage:// URLs"),
        Option("operations", dict, help="Claid operations, e.g. {'resizing': {'width': 800}} (checked by name)"),
        Option("output", (str, dict), help="output format ('jpeg', 'png', 'webp', 'avif') or {'format': ...}"),
        FORCE,
        DRY_RUN,
    )
    def edit(
        self,
        images: str | Path | Iterable[str | Path],
        operations: dict[str, Any],
        output: dict[str, Any] | str | None = None,
        *,
        force: bool = False,
        dry_run: bool = False,
    ) -> Batch | Plan:
        """One edit task per image with the same ``operations`` (and ``output``, e.g. ``{"format": "png"}``;
        a string is short for that); returns the running Batch at once.

        ``operations``/``output`` are checked against Claid's schema first (``InvalidRequest``, nothing sent);
        each bad input becomes a ``PreflightError`` in ``batch.rejected`` and the others go on.
        """
        if isinstance(output, str):
            output = {"format": output}
        if operations == {} and output is None:  # a paid job that returns its input: refused before sending
            raise InvalidOption(
                "claid.edit(): operations={} and no output: nothing to do; name an operation, e.g. "
                "{'resizing': {'width': 800}}, or an output format to convert to, e.g. output='png'"
            )
        validate(operations, output)
        options: dict[str, Any] = {"operations": operations}
        if output is not None:
            options["output"] = output
        return self.submit("edit", self._items(images), options=options, force=force, dry_run=dry_run)

    def _items(self, images: str | Path | Iterable[str | Path]) -> list[Item | PreflightError]:
        if isinstance(images, (str, Path)):
            images = [images]
        out: list[Item | PreflightError] = []
        for src in images:
            s = str(src)
            if isinstance(src, str) and "://" in s:
                out.append(_url_item(s))
                continue
            for p in expand(self.name, src, SUFFIXES):
                if isinstance(p, PreflightError):
                    out.append(p)
                    continue
                try:
                    content, mime = _read_image(p)
                except PreflightError as e:
                    out.append(e)
                    continue
                meta = {"filename": p.name, "content_type": mime, "size": content.size}
                out.append(Item(input=str(p), content=content, meta=meta))
        return out

    def item_for(self, job: Job) -> Item | None:
        """The recorded image (or URL) preflighted again (its key is checked by the caller)."""
        found = self._items([job.input])
        return found[0] if len(found) == 1 and isinstance(found[0], Item) else None


def _url_item(url: str) -> Item | PreflightError:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in URL_SCHEMES:
        hint = f"; give the local path {urlsplit(url).path!r} instead" if scheme == "file" else ""
        return PreflightError(
            "claid",
            url,
            f"the URL scheme {scheme!r} is not supported; Claid reads "
            f"http://, https:// or storage://<storage>/<path> inputs{hint}",
        )
    if len(url) > MAX_INPUT_CHARS:
        return PreflightError(
            "claid", url[:80] + "…", f"the URL is {len(url)} characters; Claid accepts at most {MAX_INPUT_CHARS}"
        )
    parts = urlsplit(url)
    if not (parts.netloc if scheme == "storage" else parts.hostname):
        return PreflightError("claid", url, "the URL names no host or storage")
    return Item(input=url, meta={"url": url})


def _read_image(path: Path) -> tuple[FileInput, str]:
    """The file by reference (size and sha256, as every provider's inputs: its bytes are read again, and
    compared, when uploaded) and its MIME type by magic bytes; BMP, TIFF and AVIF (unknown to ``media.sniff``)
    are checked here."""
    head = b""
    if path.is_file():
        with path.open("rb") as f:
            head = f.read(16)
    extra = (
        "image/bmp"
        if head[:2] == b"BM"
        else "image/tiff"
        if head[:4] in (b"II*\0", b"MM\0*")
        else "image/avif"
        if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis")
        else None
    )
    if extra is None:
        return preflight_file("claid", path, ACCEPTED, MAX_BYTES)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise PreflightError(
            "claid", str(path), f"the file is {size / 1e6:.1f} MB; claid accepts at most {MAX_BYTES / 1e6:.0f} MB"
        )
    data = read_file("claid", path, MAX_BYTES)
    return FileInput("claid", path, len(data), hashlib.sha256(data).hexdigest()), extra


INFO = ProviderInfo(
    name="claid",
    key_var="CLAID_API_KEY",
    url_var="CLAID_BASE_URL",
    base_url=BASE_URL,
    client=ClaidClient,
    batch=EditBatch,
    rate_limits=((120, 60.0), (4, 1.0)),
    loader="images",
    plots=("before_after",),
    operations=("edit",),
    sandbox=True,
)
