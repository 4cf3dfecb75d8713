"""The sandbox's OpenAPI document, completed where FastAPI cannot see: auth schemes, every answer a route
can give (in its provider's error envelope, not FastAPI's 422), the success bodies, the bodies that routes
parse by hand (multipart, signed uploads) and the signed storage URLs.

The facts come from each provider's spec (``ProviderSpec.operations``, ``error_schema``, ...); this module
holds the schema helpers the provider modules write them with, and no per-provider table.
``tests/reliability/test_openapi_fuzz.py`` fuzzes the server against this document, so the two cannot drift.
"""

from __future__ import annotations

import copy
import re
from http import HTTPStatus
from typing import Any, Iterable

from .config import SandboxConfig
from .spec import JSON, Op, ProviderSpec, registered

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
    alternatives = "|".join(
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in v) for v in values
    )
    return {"type": "string", "pattern": f"^(?:{alternatives}){'?' if empty else ''}$"}


def any_case_enums(schema: Any) -> Any:
    """Every string enum of a (pydantic) schema as ``any_case`` (Claid's enums are read case-insensitively)."""
    if isinstance(schema, list):
        return [any_case_enums(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "string" and "enum" in schema:
        rest = {k: v for k, v in schema.items() if k not in ("enum", "type")}
        return {**rest, **any_case(*schema["enum"])}
    return {k: any_case_enums(v) for k, v in schema.items()}


def code_message() -> dict[str, Any]:
    """``{"code": ..., "message": ...}``, the inner error object of several envelopes."""
    return obj({"code": STR, "message": STR})


RAW_UPLOAD = {
    "required": True,
    "content": {t: {"schema": BINARY} for t in ("application/octet-stream", "image/jpeg", "image/png")},
}
BYTES = "application/octet-stream"
LOCATION = {302: {"Location": {"required": True, "schema": URL}}}  # Op.headers of a redirect


def __getattr__(name: str) -> Any:
    """``ENVELOPES``: provider -> error body schema of the registered providers (a view of their specs)."""
    if name == "ENVELOPES":
        return {s.name: s.error_schema for s in registered()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    302: "Found",
    400: "Bad request",
    401: "Missing or invalid API key",
    402: "No credits left (sandbox --credits)",
    403: "Forbidden (signed URL refused)",
    404: "Not found",
    409: "Conflict",
    410: "Gone (past retention)",
    413: "Body too large",
    422: "Unprocessable request",
    429: "Rate limited (Retry-After)",
    500: "Internal error",
    503: "Service unavailable",
}
SIGNED_QUERY = [
    {"name": "expires", "in": "query", "required": True, "schema": INT, "description": "Unix time the URL lapses."},
    {
        "name": "sig",
        "in": "query",
        "required": True,
        "schema": STR,
        "description": "HMAC over method, path, expiry, type and size.",
    },
    {"name": "ct", "in": "query", "required": False, "schema": STR, "description": "Declared Content-Type."},
    {"name": "size", "in": "query", "required": False, "schema": INT, "description": "Declared size in bytes."},
]


def _specs(
    config: SandboxConfig | None, specs: Iterable[ProviderSpec] | None
) -> tuple[SandboxConfig, list[ProviderSpec]]:
    config = config or SandboxConfig()
    return config, list(config.specs.values() if specs is None else specs)


def described(
    config: SandboxConfig | None = None, specs: Iterable[ProviderSpec] | None = None
) -> dict[tuple[str, str], tuple[ProviderSpec, Op]]:
    """(METHOD, path as FastAPI writes it) -> (provider spec, ``Op``) for every operation the specs describe."""
    config, specs = _specs(config, specs)
    out: dict[tuple[str, str], tuple[ProviderSpec, Op]] = {}
    for spec in specs:
        for (method, path), op in (spec.operations(config) if spec.operations else {}).items():
            out[(method, (spec.storage_prefix if op.signed else spec.prefixes[0]) + path)] = (spec, op)
    return out


def operations(
    config: SandboxConfig | None = None, specs: Iterable[ProviderSpec] | None = None
) -> dict[tuple[str, str], Op]:
    """Every operation of the document, by (METHOD, path) as FastAPI writes the path (default: the providers
    and options of ``SandboxConfig()``)."""
    return {key: op for key, (_, op) in described(config, specs).items()}


def security_schemes(specs: Iterable[ProviderSpec]) -> dict[str, Any]:
    specs = sorted(specs, key=lambda s: s.name)
    schemes: dict[str, Any] = {f"{s.name}_bearer": {"type": "http", "scheme": "bearer"} for s in specs}
    for s in specs:
        if s.api_key_header:
            schemes[f"{s.name}_api_key"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    return schemes


def _security(spec: ProviderSpec) -> list[dict[str, list[str]]]:
    bearer = [{f"{spec.name}_bearer": []}]
    return [{f"{spec.name}_api_key": []}, *bearer] if spec.api_key_header else bearer


def _reason(status: int) -> str:
    return REASONS.get(status) or HTTPStatus(status).phrase


def _responses(spec: ProviderSpec, op: Op) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, schema in op.ok.items():
        r: dict[str, Any] = {"description": _reason(status)}
        if schema is not None:
            r["content"] = {op.content: {"schema": schema}}
        if status in op.headers:
            r["headers"] = op.headers[status]
        out[str(status)] = r
    errors = {*op.errors, 429, *spec.server_errors}
    if not op.signed:
        errors.add(401)
    for status in sorted(errors):
        body = (spec.rate_limited_schema or spec.error_schema) if status == 429 else spec.error_schema
        r = {"description": _reason(status), "content": {JSON: {"schema": body}}}
        if status == 429:
            r["headers"] = {"Retry-After": {"required": True, "schema": STR}}
        out[str(status)] = r
    return out


def complete(doc: dict[str, Any], config: SandboxConfig, specs: Iterable[ProviderSpec] | None = None) -> dict[str, Any]:
    """Fill in FastAPI's document ``doc`` with the facts of ``specs`` (default: ``config.specs``).

    A route missing from the specs' operations keeps FastAPI's description and is marked ``x-undescribed``;
    the fuzz test fails on it, so a new route cannot go undescribed for long.
    """
    doc = copy.deepcopy(doc)
    config, specs = _specs(config, specs)
    ops = described(config, specs)
    doc.setdefault("components", {})["securitySchemes"] = security_schemes(specs)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            spec, op = ops.get((method.upper(), path), (None, None))
            if spec is None or op is None:
                operation["x-undescribed"] = True
                continue
            operation["responses"] = _responses(spec, op)
            if op.signed:
                operation["security"] = []
                operation.setdefault("parameters", []).extend(copy.deepcopy(SIGNED_QUERY))
                operation.setdefault("tags", [f"{spec.name} storage (signed URLs)"])
            else:
                operation["security"] = _security(spec)
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
    # what one field cannot say alone, e.g. "scene_id, or polygon with its dates" (anyOf of required sets)
    schema.update({k: v for k, v in patch.items() if k != "properties"})
