"""The sandbox's OpenAPI document, completed where FastAPI cannot see: auth schemes, every answer a route
can give (in its provider's error envelope, not FastAPI's 422), the success bodies, the bodies that routes
parse by hand (Claid, faces multipart, signed uploads) and the signed storage URLs.

``tests/reliability/test_openapi_fuzz.py`` fuzzes the server against this document, so the two cannot drift.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any

JSON = "application/json"
STR: dict[str, Any] = {"type": "string"}
NSTR: dict[str, Any] = {"type": ["string", "null"]}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
OBJ: dict[str, Any] = {"type": "object"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NTIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
URL: dict[str, Any] = {"type": "string", "format": "uri"}
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object schema; unknown extra fields stay allowed (tolerant readers)."""
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def enum(*values: Any) -> dict[str, Any]:
    return {"enum": list(values)}


def any_case(*values: str, empty: bool = False) -> dict[str, Any]:
    """One of ``values`` in any letter case (the server lowercases them); ``empty``: "" is allowed too."""
    alternatives = "|".join("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in v)
                            for v in values)
    return {"type": "string", "pattern": f"^(?:{alternatives}){'?' if empty else ''}$"}


def _any_case_enums(schema: Any) -> Any:
    """Every string enum of a (pydantic) schema as ``any_case`` (Claid's enums are read case-insensitively)."""
    if isinstance(schema, list):
        return [_any_case_enums(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "string" and "enum" in schema:
        rest = {k: v for k, v in schema.items() if k not in ("enum", "type")}
        return {**rest, **any_case(*schema["enum"])}
    return {k: _any_case_enums(v) for k, v in schema.items()}


def _code_message() -> dict[str, Any]:
    return obj({"code": STR, "message": STR})


_CLAID_ERROR = obj({"error_code": STR, "error_type": STR, "error_message": STR})
ENVELOPES: dict[str, dict[str, Any]] = {
    "animaldetect": obj({"error": _code_message()}),
    "sateais": obj({"error": _code_message()}),
    "authenta": obj({"code": STR, "statusCode": INT, "message": STR}),
    "claid": obj({**_CLAID_ERROR["properties"], "error_details": OBJ}),
    "faces": obj({"success": {"const": False}, "error": _code_message()}),
}
RATE_LIMITED = {**ENVELOPES, "claid": obj({"detail": _CLAID_ERROR})}  # Claid nests its 429 body
SERVER_ERRORS = {"animaldetect": (500, 503)}  # 503 UPSTREAM_UNAVAILABLE; the others answer 500
REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 302: "Found", 400: "Bad request",
           401: "Missing or invalid API key", 402: "No credits left (sandbox --credits)",
           403: "Forbidden (signed URL refused)", 404: "Not found",
           409: "Conflict", 410: "Gone (past retention)", 413: "Body too large", 422: "Unprocessable request",
           429: "Rate limited (Retry-After)", 500: "Internal error", 503: "Service unavailable"}
SIGNED_QUERY = [
    {"name": "expires", "in": "query", "required": True, "schema": INT, "description": "Unix time the URL lapses."},
    {"name": "sig", "in": "query", "required": True, "schema": STR,
     "description": "HMAC over method, path, expiry, type and size."},
    {"name": "ct", "in": "query", "required": False, "schema": STR, "description": "Declared Content-Type."},
    {"name": "size", "in": "query", "required": False, "schema": INT, "description": "Declared size in bytes."},
]


@dataclass
class Op:
    """What one operation answers: success bodies by status (None: no body), error statuses, extras."""

    ok: dict[int, Any]
    errors: tuple[int, ...] = ()
    body: dict[str, Any] | None = None  # requestBody, replacing FastAPI's
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # parameter name -> schema override
    signed: bool = False  # a pre-signed storage URL: no auth, signature in the query
    content: str = JSON  # media type of the success body
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)  # component schemas the body refers to


# -- success bodies ------------------------------------------------------------------------------------
_AD_STATUS = obj(
    {"job_id": STR, "status": enum("created", "queued", "processing", "succeeded", "failed"), "operation": STR,
     "client_reference_id": NSTR, "created_at": TIME, "result_url": URL},
    {"updated_at": TIME, "completed_at": NTIME, "expires_at": NTIME, "error": _code_message()},
)
_AD_CREATE = obj({"job_id": STR, "status": STR, "operation": STR, "client_reference_id": NSTR, "created_at": TIME,
                  "upload": obj({"url": URL, "method": {"const": "PUT"}, "headers": obj({"Content-Type": STR}),
                                 "expires_at": TIME}),
                  "submit_url": URL, "status_url": URL, "result_url": URL})
_AD_RESULT = obj({"id": STR, "job_id": STR, "expires_at": TIME,
                  "annotations": arr(obj({"id": INT, "bbox": {**arr(NUM), "minItems": 4, "maxItems": 4},
                                          "score": NUM, "label": STR, "taxonomy": OBJ})),
                  "info": OBJ})
_AD_CREATE_BODY = {"properties": {"content_type": any_case("image/jpeg", "image/png", "image/webp")}}

_SA_JOB = obj({"job_id": STR, "status": enum("pending", "processing", "completed", "failed"), "created_at": TIME,
               "completed_at": NTIME, "result_path": NSTR, "error_code": NSTR, "error_message": NSTR,
               "error": NSTR})
_SA_PREVIEW = obj({"endpoint_id": STR, "area_sqkm": NUM,
                   "coverage": obj({"scene_count": INT, "first_date": STR, "last_date": STR, "scenes": arr(OBJ)}),
                   "credits": obj({"estimated": INT}), "warnings": arr(STR)})
_SA_TYPE = enum("ship", "oilslick", "newbuilding", "disappearbuilding", "timeseries")
_SA_ERRORS = (400, 404, 413)
_SA_CREATE_ERRORS = (*_SA_ERRORS, 402)  # a create costs a credit; the preview is free

_AU_STATUSES = ("created", "initiated", "waiting_for_finalize", "queued", "processing", "completed", "failed",
                "cancelled")
_AU_SLOT = obj({"slotName": STR, "contentType": STR, "fileName": STR, "sizeBytes": INT})
_AU_DETAIL = obj({"jobId": INT, "taskTypeId": INT, "taskTypeSlug": STR, "status": enum(*_AU_STATUSES),
                  "createdAt": TIME, "updatedAt": TIME, "inputs": arr(_AU_SLOT)},
                 {"completedAt": NTIME, "result": OBJ, "errorMessage": NSTR,
                  "artifacts": arr(obj({"kind": STR, "downloadUrl": URL}))})


def authenta_envelope(mode: str, flat: dict[str, Any]) -> dict[str, Any]:
    """Flat fields, ``{"job": {id, status}}`` or both, as ``SandboxConfig.authenta_envelope`` says."""
    job = obj({"id": STR, "status": enum(*_AU_STATUSES)})
    props = {**flat["properties"], "job": job}
    required = {"flat": flat["required"], "wrapped": ["job"], "both": [*flat["required"], "job"]}[mode]
    return {"type": "object", "required": required, "properties": props}


_CL_TASK = obj({"id": INT, "status": enum("ACCEPTED", "PROCESSING", "DONE", "ERROR"), "created_at": TIME,
                "request": OBJ, "errors": arr(obj({"error": STR, "created_at": INT})),
                "result": {"type": ["object", "null"]}})
_CL_CREATED = obj({"data": obj({"id": INT, "status": enum("ACCEPTED", "PROCESSING", "DONE", "ERROR"),
                                "result_url": URL, "created_at": TIME, "request": OBJ})})

_FA_JOB = obj({"job_id": STR, "status": enum("queued", "processing", "done", "failed"), "total": INT,
               "processed": INT, "succeeded": INT, "failed": INT}, {"error": _code_message()})
_FA_RESULT = obj({"index": INT, "external_id": STR, "face_id": NSTR, "success": BOOL}, {"error": _code_message()})
_FA_BATCH_BODY = {"required": True, "content": {"multipart/form-data": {"schema": obj(
    {"images": {**arr(BINARY), "minItems": 1, "maxItems": 100}, "external_ids[]": {**arr(STR), "minItems": 1}})}}}

_RAW_UPLOAD = {"required": True, "content": {t: {"schema": BINARY} for t in
                                             ("application/octet-stream", "image/jpeg", "image/png")}}
_BYTES = "application/octet-stream"


def claid_edit_body() -> tuple[dict[str, Any], dict[str, Any]]:
    """The Claid edit request as the sandbox validates it (its pydantic models), and their component schemas."""
    from .providers.claid import EditRequest

    schema = _any_case_enums(EditRequest.model_json_schema(ref_template="#/components/schemas/Claid{model}"))
    defs = {f"Claid{name}": d for name, d in schema.pop("$defs", {}).items()}
    return {"required": True, "content": {JSON: {"schema": schema}}}, defs


def operations(authenta_mode: str = "both") -> dict[tuple[str, str], Op]:
    """Every operation of the document, by (METHOD, path) as FastAPI writes the path."""
    claid_body, claid_defs = claid_edit_body()
    sa_body = {"properties": {"satellite_id": {"const": "sentinel-1"}}}
    au = functools.partial(authenta_envelope, authenta_mode)
    au_job = {"jobId": INT, "taskTypeId": INT, "status": STR, "updatedAt": TIME, "message": STR}
    ad, sa, au_p, cl, fa = "/animaldetect/v1", "/sateais/api/v1", "/authenta/api/v1", "/claid/v1", "/faces/api/v1"
    location = {302: {"Location": {"required": True, "schema": URL}}}
    return {
        ("POST", f"{ad}/jobs"): Op({201: _AD_CREATE, 200: _AD_CREATE}, (400, 402, 409, 413), body=_AD_CREATE_BODY),
        ("POST", f"{ad}/jobs/{{job_id}}/submit"): Op({202: _AD_STATUS}, (404, 409)),
        ("GET", f"{ad}/jobs/{{job_id}}"): Op({200: _AD_STATUS}, (404,)),
        ("GET", f"{ad}/jobs/{{job_id}}/result"): Op({200: {"anyOf": [_AD_RESULT, _AD_STATUS]}, 202: _AD_STATUS},
                                                   (404,)),
        ("POST", f"{sa}/analyze/{{type}}"): Op({202: _SA_JOB}, _SA_CREATE_ERRORS, body=sa_body,
                                               params={"type": _SA_TYPE}),
        ("POST", f"{sa}/detect/{{type}}"): Op({202: _SA_JOB}, _SA_CREATE_ERRORS, body=sa_body,
                                              params={"type": _SA_TYPE}),
        ("POST", f"{sa}/analyze/{{type}}/preview"): Op({200: _SA_PREVIEW}, _SA_ERRORS, body=sa_body,
                                                        params={"type": _SA_TYPE}),
        ("GET", f"{sa}/jobs/{{job_id}}"): Op({200: _SA_JOB}, (404,)),
        ("GET", f"{sa}/jobs/{{job_id}}/result.geojson"): Op({302: None}, (404, 410), headers=location),
        ("POST", f"{au_p}/jobs"): Op({200: au(obj({"jobId": INT, "taskTypeId": INT, "status": STR,
                                                   "createdAt": TIME, "updatedAt": TIME,
                                                   "inputs": arr(obj({**_AU_SLOT["properties"],
                                                                      "uploadUrl": URL}))}))},
                                     (400, 402, 413)),
        ("GET", f"{au_p}/jobs"): Op({200: obj({"data": arr(_AU_DETAIL), "pagination": obj(
            {"page": INT, "limit": INT, "total": INT, "pages": INT})})}, (400,),
            params={"status": any_case(*_AU_STATUSES, empty=True)}),  # "" or absent: every status
        ("POST", f"{au_p}/jobs/{{job_id}}/finalize"): Op({200: au(obj({**au_job, "queuedAt": TIME}))}, (400,)),
        ("GET", f"{au_p}/jobs/{{job_id}}"): Op({200: au(_AU_DETAIL)}, (404,)),
        ("DELETE", f"{au_p}/jobs/{{job_id}}"): Op({204: None}, (404, 409)),
        ("POST", f"{au_p}/jobs/{{job_id}}/cancel"): Op({200: au(obj(au_job))}, (404, 409, 422)),
        ("POST", f"{cl}/image/edit/async"): Op({200: _CL_CREATED}, (400, 402, 413, 422), body=claid_body,
                                               schemas=claid_defs),
        ("GET", f"{cl}/image/edit/async/{{task_id}}"): Op({200: obj({"data": _CL_TASK})}, (404,)),
        ("POST", f"{cl}/storage/upload"): Op({200: obj({"data": obj({"input": STR, "url": URL})})},
                                             (400, 413, 422)),
        ("POST", f"{fa}/collections/{{collection_id}}/faces/batch-async"): Op(
            {202: obj({"success": {"const": True}, "data": _FA_JOB})}, (400, 402, 413), body=_FA_BATCH_BODY),
        ("GET", f"{fa}/organizations/{{org_id}}/batch/{{job_id}}"): Op(
            {200: obj({"success": {"const": True}, "data": {**_FA_JOB, "required": [*_FA_JOB["required"], "results"],
                                                            "properties": {**_FA_JOB["properties"],
                                                                           "results": arr(_FA_RESULT)}}})}, (404,)),
        ("GET", f"{fa}/organizations/{{org_id}}/batch"): Op(
            {200: obj({"success": {"const": True}, "data": arr(_FA_JOB),
                       "pagination": obj({"page": INT, "limit": INT, "total": INT})})}, (400, 404)),
        # signed storage URLs (no Authorization)
        ("PUT", "/storage/animaldetect/{job_id}/image"): Op({200: None}, (403, 404, 409, 413), signed=True,
                                                          body=_RAW_UPLOAD),
        ("GET", "/storage/sateais/{job_id}/result.geojson"): Op({200: obj({"type": {"const": "FeatureCollection"},
                                                                           "features": arr(OBJ)})},
                                                              (403, 404), signed=True, content="application/geo+json"),
        ("PUT", "/storage/authenta/jobs/{job_id}/{slot}"): Op({200: None}, (403, 404, 413), signed=True,
                                                             body=_RAW_UPLOAD),
        ("GET", "/storage/authenta/jobs/{job_id}/artifacts/result"): Op({200: OBJ}, (403, 404), signed=True),
        ("GET", "/storage/claid/objects/{tenant_id}/{path}"): Op({200: BINARY}, (403, 404), signed=True,
                                                                 content=_BYTES),
        ("GET", "/storage/claid/tmp/{job_id}/{name}"): Op({200: BINARY}, (403, 404), signed=True, content=_BYTES),
    }


def security_schemes(providers: list[str]) -> dict[str, Any]:
    schemes: dict[str, Any] = {f"{p}_bearer": {"type": "http", "scheme": "bearer"} for p in providers}
    schemes["faces_api_key"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    return schemes


def _responses(provider: str, op: Op) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, schema in op.ok.items():
        r: dict[str, Any] = {"description": REASONS[status]}
        if schema is not None:
            r["content"] = {op.content: {"schema": schema}}
        if status in op.headers:
            r["headers"] = op.headers[status]
        out[str(status)] = r
    errors = {*op.errors, 429, *SERVER_ERRORS.get(provider, (500,))}
    if not op.signed:
        errors.add(401)
    for status in sorted(errors):
        body = RATE_LIMITED[provider] if status == 429 else ENVELOPES[provider]
        r = {"description": REASONS[status], "content": {JSON: {"schema": body}}}
        if status == 429:
            r["headers"] = {"Retry-After": {"required": True, "schema": STR}}
        out[str(status)] = r
    return out


def complete(doc: dict[str, Any], provider_of: dict[str, str], authenta_mode: str = "both") -> dict[str, Any]:
    """Fill in FastAPI's document ``doc``; ``provider_of`` maps a path prefix to its provider.

    A route missing from ``operations()`` keeps FastAPI's description and is marked ``x-undescribed``; the fuzz
    test fails on it, so a new route cannot go undescribed for long.
    """
    doc = copy.deepcopy(doc)
    ops = operations(authenta_mode)
    providers = sorted(set(provider_of.values()))
    doc.setdefault("components", {})["securitySchemes"] = security_schemes(providers)
    for path, item in doc["paths"].items():
        provider = next(p for prefix, p in sorted(provider_of.items(), key=lambda x: -len(x[0]))
                        if path.startswith(prefix + "/"))
        for method, operation in item.items():
            op = ops.get((method.upper(), path))
            if op is None:
                operation["x-undescribed"] = True
                continue
            operation["responses"] = _responses(provider, op)
            if op.signed:
                operation["security"] = []
                operation.setdefault("parameters", []).extend(copy.deepcopy(SIGNED_QUERY))
                operation.setdefault("tags", [f"{provider} storage (signed URLs)"])
            else:
                operation["security"] = ([{"faces_api_key": []}, {"faces_bearer": []}] if provider == "faces"
                                         else [{f"{provider}_bearer": []}])
            for param in operation.get("parameters", []):
                if param["name"] in op.params:
                    param["schema"] = op.params[param["name"]]
            doc["components"].setdefault("schemas", {}).update(copy.deepcopy(op.schemas))
            if op.body is not None:
                if "content" in op.body:
                    operation["requestBody"] = op.body
                else:  # a patch of the FastAPI-derived JSON schema
                    _patch_body(doc, operation, op.body)
    schemas = doc["components"].get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def _patch_body(doc: dict[str, Any], operation: dict[str, Any], patch: dict[str, Any]) -> None:
    schema = operation["requestBody"]["content"][JSON]["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for name, sub in patch.get("properties", {}).items():
        schema["properties"][name] = {**schema["properties"][name], **sub}
