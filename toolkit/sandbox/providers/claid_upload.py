"""Claid's upload API: ``POST {prefix}/image/edit/upload`` (docs/contracts.md §4), synchronous.

Multipart ``file`` (the image) + ``data`` (the JSON of a ``/image/edit`` request without ``input``), as
https://docs.claid.ai/image-editing-api/upload-api-reference documents it; the answer is the sync edit's
``{"data": {"input": {...}, "output": {..., "tmp_url"}}}``. The sandbox runs it as a job of its own (charged,
counted, failure-injectable like an async task) and answers when that job is done.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from ..config import Tenant
from ..core import ApiError, Context, digest, loads
from ..engines import imaging
from ..openapi import BINARY, INT, NUM, STR, URL, Op, obj
from ..store import Job
from .claid_models import MAX_UPLOAD, NAME, UploadRequest, validation_details

PATH = "/image/edit/upload"
#: documented input types (https://docs.claid.ai/image-editing-api/image-i-o) that Pillow decodes; HEIC is not
INPUT_FORMATS = ("BMP", "GIF", "JPEG", "PNG", "TIFF", "WEBP", "AVIF")
MAX_WAIT = 120.0  # PC: seconds a synchronous edit may take before the answer is a 500


def _invalid(message: str, details: dict[str, list[str]], status: int = 422) -> ApiError:
    return ApiError(NAME, status, "9000", message, details=details)


async def _form(request: Request) -> tuple[bytes, str, Any]:
    """(file bytes, file name, parsed ``data``) from the multipart body; 4xx in Claid's envelope otherwise."""
    try:
        form = await request.form()
    except Exception as e:  # malformed multipart body
        raise ApiError(NAME, 400, "9000", f"The body is not a valid multipart form ({type(e).__name__}).") from None
    file, data = form.get("file"), form.get("data")
    missing = {k: ["Field required"] for k, v in (("file", file), ("data", data)) if v is None}
    if missing or not isinstance(file, UploadFile):
        missing = missing or {"file": ["must be a file part (with a filename)"]}
        raise _invalid("Validation error: " + "; ".join(f"{k}: {v[0]}" for k, v in missing.items()), missing)
    content = await file.read()
    if len(content) > MAX_UPLOAD:
        raise ApiError(
            NAME,
            413,
            "9000",
            f"The file is {len(content)} bytes; the sandbox limit is {MAX_UPLOAD}.",
            details={"file": [f"larger than {MAX_UPLOAD} bytes"]},
        )
    text = await data.read() if isinstance(data, UploadFile) else data  # a part with a filename is a file
    try:
        payload = loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(
            NAME, 400, "9000", f"data: not valid JSON ({e}).", details={"data": ["not valid JSON"]}
        ) from None
    return content, file.filename or "", payload


def add_routes(
    r: APIRouter,
    ctx: Context,
    *,
    auth: Callable[[Request], Tenant],
    tmp_url: Callable[[Request, Job], str],
    limited: Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]],
    storage_path: Callable[[str, str], str],
) -> None:
    """Mount the upload route on ``r`` (the Claid router, served under ``/v1`` and ``/v1-beta1``)."""
    body_schema = {"type": "object", "required": ["file", "data"], "properties": {"file": BINARY, "data": STR}}

    async def finished(tenant: Tenant, job: Job) -> Job:
        deadline = time.monotonic() + MAX_WAIT
        step = max(0.005, min(0.05, ctx.specs[NAME].runtime * ctx.config.time_scale / 4))
        while not job.terminal and time.monotonic() < deadline:
            await asyncio.sleep(step)
            job = ctx.store.get(NAME, tenant.id, job.id) or job
        return job

    @r.post(
        PATH,
        openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": body_schema}}}},
    )
    @limited
    async def edit_upload(request: Request) -> JSONResponse:
        """Edit an uploaded image (``file``) with ``data`` = ``{operations, output}``; answers when it is done."""
        tenant = auth(request)
        content, filename, payload = await _form(request)
        if not isinstance(payload, dict):
            raise _invalid("data: must be a JSON object.", {"data": ["must be a JSON object"]})
        try:
            body = UploadRequest.model_validate(payload)
        except ValidationError as e:
            details = validation_details(e)
            raise _invalid(
                "Validation error: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in details.items()), details
            ) from None
        probe = imaging.probe(content)
        if probe is None or probe["format"] not in INPUT_FORMATS:
            found = "not an image" if probe is None else probe["format"]
            raise ApiError(
                NAME,
                400,
                "4000",
                f"Unsupported input file ({found}); supported: {', '.join(INPUT_FORMATS)}.",
                details={"file": [f"unsupported format: {found}"]},
            )
        destination = body.output.destination
        if destination is not None:
            if not destination.startswith("storage://"):
                raise ApiError(NAME, 400, "4000", "output.destination: only storage://sandbox/<path> is supported.")
            storage_path(destination, "output.destination")
        with ctx.credits.charge(NAME, tenant.id):
            job = ctx.store.create_job(
                NAME,
                tenant.id,
                "image_edit_upload",
                numeric_id=True,
                request=payload,
                input_digest=digest(content),
                data={"edit": body.model_dump(exclude_none=True), "input_object": probe, "filename": filename},
            )
        ctx.store.write_blob(job.id, "input", content)
        ctx.enqueue(job)
        job = await finished(tenant, job)
        if job.state != "succeeded":
            if not job.terminal:
                raise ApiError(NAME, 500, "5000", f"The edit took longer than {MAX_WAIT:g} s.")
            code = job.error_code or "5000"
            raise ApiError(NAME, 400 if code == "4000" else 500, code, job.error_message or "Processing failed.")
        output = {**job.result["output_object"], "tmp_url": tmp_url(request, job)}
        return JSONResponse({"data": {"input": job.result["input_object"], "output": output}})


_IMAGE = obj({"ext": STR, "mps": NUM, "mime": STR, "format": STR, "width": INT, "height": INT})
OPERATIONS = {
    ("POST", PATH): Op(
        {200: obj({"data": obj({"input": _IMAGE, "output": obj({**_IMAGE["properties"], "tmp_url": URL})})})},
        (400, 402, 413, 422),
    ),
}
