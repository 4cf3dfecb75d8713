"""Property-based fuzz of the sandbox's OpenAPI document with schemathesis (issue #8).

Every operation of ``/openapi.json`` is fuzzed over real HTTP: first schemathesis's coverage phase (boundaries,
each property missing or mistyped, undeclared methods), then schema-valid and schema-violating random data,
once with made-up ids and once with the ids of real jobs (finished, draft) so success bodies are checked too.
Each answer must be no 5xx, a documented status with the documented content type, headers and body schema;
a route must refuse a request without its key; schema-valid data must be accepted and schema-invalid data
refused wherever JSON Schema can say what is valid (see ``SEMANTIC`` and ``MULTIPART``).

Size: ``TOOLKIT_FUZZ_EXAMPLES`` examples per operation, mode and job (default 6, a CI-sized run that is
derandomised so CI cannot flake); set it, e.g. ``TOOLKIT_FUZZ_EXAMPLES=300``, for a long randomised run.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi import checks as oc

from tests.reliability import JPEG, World, auth, build_world, start_sandbox
from toolkit.sandbox.config import DEFAULT_ORG
from toolkit.sandbox.openapi import operations

EXAMPLES = int(os.environ.get("TOOLKIT_FUZZ_EXAMPLES", "6"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="TOOLKIT_FUZZ_EXAMPLES" not in os.environ,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    not_a_server_error,
    oc.status_code_conformance,
    oc.content_type_conformance,
    oc.response_headers_conformance,
    oc.response_schema_conformance,
    oc.ignored_auth,
    oc.unsupported_method,  # acts on the coverage phase's undeclared-method probes: 405 with a full Allow
]
#: Valid JSON is not enough for these: schema-valid data may be refused, but only for the reasons listed here,
#: (status, error code, message pattern), each with its evidence in docs/contracts.md ("Where the documents
#: stop"). Any other refusal of schema-valid data fails ``positive_data_acceptance``.
SEMANTIC: dict[tuple[str, str], tuple[tuple[int, str, str], ...]] = {
    **{
        ("POST", "/sateais/api/v1" + p): (
            (
                400,
                "VALIDATION_ERROR",
                r"^(polygon (is not valid WKT|must be|is empty|has zero)|Invalid polygon|"
                r"Polygon area|date(_start)? |date_end |Date range|scene_id is not supported|Provide exactly one)",
            ),
            (400, "INVALID_SCENE", r"^scene_id "),
            (404, "SCENE_NOT_FOUND", ""),
            (404, "INSUFFICIENT_SCENES", ""),
        )
        for p in ("/analyze/{type}", "/detect/{type}", "/analyze/{type}/preview")
    },
    ("POST", "/authenta/api/v1/jobs"): (
        (400, "INVALID_TASK_TYPE", r"^(taskTypeId is required \(query|taskTypeId in the query .* differ)"),
        (400, "UNSUPPORTED_MEDIA_TYPE", ""),
        (400, "VALIDATION_ERROR", r"^(inputs must hold each slot once|isSimilarityCheck needs|slotName '\w+' is not)"),
    ),
    ("POST", "/authenta/api/v1/jobs/{job_id}/finalize"): (
        (400, "JOB_NOT_FOUND", r"^Job not found or already finalized$"),
        (400, "INVALID_JOB_STATE", r"^Job not found or already finalized$"),
        (400, "UPLOAD_INCOMPLETE", r"^Input slot '.*' has not been uploaded"),
    ),
    ("POST", "/claid/v1/image/edit/async"): ((400, "4000", r"^(input|output\.destination): "),),
    ("POST", "/claid/v1/image/edit/upload"): ((400, "9000", r"^data: not valid JSON"),),
    ("POST", "/faces/api/v1/collections/{collection_id}/faces/batch-async"): (
        (400, "VALIDATION_ERROR", r"^\d+ images but \d+ external_ids\[\]|^Each `images` part must be a file"),
    ),
}
#: Multipart fields are text on the wire, so a "boolean" or "null" negation arrives as a valid string.
MULTIPART = {
    ("POST", "/faces/api/v1/collections/{collection_id}/faces/batch-async"),
    ("POST", "/claid/v1/storage/upload"),
    ("POST", "/claid/v1/image/edit/upload"),
}
# DELETE and cancel last, so the other routes still see the real jobs
KEYS = sorted(operations(), key=lambda k: (k[0] == "DELETE" or k[1].endswith("/cancel"), k))
RUN = {"coverage": 0, "examples": 0, "with_real_jobs": 0}
REFUSED: Counter[str] = Counter()  # listed refusals of schema-valid data met, by operation, status and code


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    w = build_world(start_sandbox(tmp_path_factory.mktemp("fuzz") / "sb"))
    try:
        yield w
    finally:
        w.close()
        print(
            f"\nfuzz: {len(KEYS)} operations, {RUN['coverage']} coverage cases, {RUN['examples']} examples "
            f"({RUN['with_real_jobs']} on real jobs), {EXAMPLES} per operation, mode and job; listed refusals of "
            f"valid data: {dict(REFUSED)}"
        )


@pytest.fixture(scope="module")
def schema(world):
    return schemathesis.openapi.from_url(world.sb.url + "/openapi.json")


def test_document_describes_every_route(world):
    """Every route of the app is in the document, with its auth and its answers in the provider's envelope."""
    doc = httpx.get(world.sb.url + "/openapi.json").json()  # built by FastAPI from the routes, then completed
    described = {(m.upper(), path) for path, item in doc["paths"].items() for m in item}
    assert described == set(operations()) and len(described) == 28  # 22 keyed routes, 6 signed storage URLs
    for path, item in doc["paths"].items():
        for method, op in item.items():
            signed = path.startswith("/storage/")
            assert op["security"] == [] if signed else op["security"], (method, path)
            assert {"429", "500"} <= set(op["responses"]) and (signed or "401" in op["responses"]), (method, path)
    assert "HTTPValidationError" not in json.dumps(doc)  # FastAPI's 422 body is never what the sandbox sends


#: (operation, body): refused by the server, so the document must refuse them too (issue #23's reverse cases)
REFUSED_BY_SERVER = [
    (("POST", "/sateais/api/v1/analyze/{type}"), {"satellite_id": "sentinel-1", "polygon": None}),
    (("POST", "/sateais/api/v1/detect/{type}"), {"satellite_id": "sentinel-1", "polygon": "x", "date": "2024-02-30"}),
    (("POST", "/claid/v1/image/edit/async"), {"input": "storage://sandbox/a.jpg", "operations": {"padding": -1}}),
    (("POST", "/claid/v1/image/edit/async"), {"input": "storage://sandbox/a.jpg", "operations": {"padding": ""}}),
    (("POST", "/claid/v1/image/edit/async"), {"input": "s", "operations": {"padding": "50%"}}),
    (("POST", "/claid/v1/image/edit/async"), {"input": "s", "operations": {"resizing": {"width": "0%"}}}),
    (("POST", "/claid/v1/image/edit/async"), {"input": "s", "operations": {"background": {"color": ""}}}),
    (
        ("POST", "/authenta/api/v1/jobs"),
        {"inputs": [{"contentType": "image/jpeg", "fileName": "a"}], "taskTypeId": None},
    ),
    (("POST", "/authenta/api/v1/jobs"), {"inputs": [{"contentType": "a/b", "fileName": "a", "slotName": "x"}]}),
    (("POST", "/faces/api/v1/collections/{collection_id}/faces/batch-async"), {"images": [""], "external_ids[]": [""]}),
]


def test_document_refuses_what_the_server_refuses(world):
    doc = httpx.get(world.sb.url + "/openapi.json").json()
    for (method, path), body in REFUSED_BY_SERVER:
        content = doc["paths"][path][method.lower()]["requestBody"]["content"]
        schema = next(iter(content.values()))["schema"]
        validator = jsonschema.Draft202012Validator(
            {**schema, "components": doc["components"]}, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        errors = list(validator.iter_errors(body))
        assert errors, (method, path, body)


def _fuzz(op, strategy, headers: dict[str, str], checks: list, base_url: str, counter: str) -> None:
    @given(case=strategy)
    @SETTINGS
    def run(case) -> None:
        RUN[counter] += 1
        case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=30)

    run()


def _error(response) -> tuple[str, str]:
    """(code, message) of an error body in any provider's envelope."""
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return "", ""
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    code = inner.get("error_code") or inner.get("code") or ""
    return str(code), str(inner.get("error_message") or inner.get("message") or "")


def _accepts_valid_data(key: tuple[str, str]):
    """``positive_data_acceptance``, except for the refusals ``SEMANTIC`` lists for ``key``."""
    reasons = SEMANTIC.get(key, ())

    def positive_data_acceptance(ctx, response, case):
        code, text = _error(response)
        if any(response.status_code == s and code == c and re.search(m, text) for s, c, m in reasons):
            REFUSED[f"{key[0]} {key[1]}: {response.status_code} {code}"] += 1
            return None
        return oc.positive_data_acceptance(ctx, response, case)

    return positive_data_acceptance


def _checks(key: tuple[str, str], mode: GenerationMode) -> list:
    extra = [_accepts_valid_data(key)] if mode is GenerationMode.POSITIVE else []
    if mode is GenerationMode.NEGATIVE and key not in MULTIPART:
        extra.append(oc.negative_data_rejection)
    return CHECKS + extra


def _coverage(op) -> list:
    """The cases of schemathesis's coverage phase (boundaries, each property missing or of the wrong type,
    undeclared methods), which hypothesis's random generation rarely reaches."""
    generator = CoverageGenerator(
        operation=op,
        generation_modes=list(GenerationMode),
        generation_config=op.schema.config.generation_for(operation=op, phase="coverage"),
        auth_storage=None,
        override=Override(),
        feedback=FeedbackSources(),
    )
    return list(generator)


@pytest.mark.parametrize("key", KEYS, ids=[f"{m} {p}" for m, p in KEYS])
def test_fuzz_operation(schema, world, key):
    method, path = key
    op = schema[path][method]
    provider = path.split("/")[2 if path.startswith("/storage/") else 1]
    headers = {} if path.startswith("/storage/") else auth(provider)
    base = world.sb.storage_url if path.startswith("/storage/") else world.sb.url  # signed URLs: own origin
    failures = []
    for case in _coverage(op):
        RUN["coverage"] += 1
        try:
            case.call_and_validate(
                base_url=base, headers=headers, checks=_checks(key, case.meta.generation.mode), timeout=30
            )
        except (AssertionError, BaseExceptionGroup) as e:  # every case runs; the failures are reported together
            failures.append(getattr(e, "message", str(e))[:1500])
    assert not failures, f"{len(failures)} coverage cases failed:\n\n" + "\n\n".join(failures[:5])
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        _fuzz(op, op.as_strategy(generation_mode=mode), headers, _checks(key, mode), base, "examples")
    names = [n for n in ("job_id", "task_id") if "{" + n + "}" in path]
    if names:  # the same again on real jobs: their 200 bodies must match the document too
        for job_id in {world.done.get(provider), world.draft.get(provider)} - {None}:
            fixed = {names[0]: job_id, **({"org_id": DEFAULT_ORG} if "{org_id}" in path else {})}
            strategy = op.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=fixed)
            _fuzz(op, strategy, headers, _checks(key, GenerationMode.POSITIVE), base, "with_real_jobs")


@pytest.mark.parametrize("mode", ["flat", "wrapped"])
def test_authenta_envelope_modes_match_their_document(tmp_path, mode):
    """The other two Authenta envelope modes (drift: flat fields or ``{"job": {...}}``) have their own document,
    and a whole job's answers match it."""
    sb = start_sandbox(tmp_path / mode, authenta_envelope=mode)
    try:
        schema = schemathesis.openapi.from_url(sb.url + "/openapi.json")
        base, jobs = "/authenta/api/v1/jobs", []

        def check(method: str, path: str, r: httpx.Response) -> dict:
            schema[base + path][method].validate_response(r)
            return r.json() if r.content else {}

        with httpx.Client(base_url=sb.base_url("authenta"), headers=auth("authenta"), timeout=15) as c:
            inputs = [
                {"contentType": "image/jpeg", "fileName": "a.jpg", "sizeBytes": len(JPEG), "slotName": "original"}
            ]
            for _ in range(2):
                job = check("POST", "", c.post("/jobs", params={"taskTypeId": 1}, json={"inputs": inputs}))
                jobs.append(str(job["jobId"] if mode == "flat" else job["job"]["id"]))
                put = httpx.put(job["inputs"][0]["uploadUrl"], content=JPEG, headers={"Content-Type": "image/jpeg"})
                assert put.status_code == 200, put.text
            check("POST", "/{job_id}/finalize", c.post(f"/jobs/{jobs[0]}/finalize"))
            check("POST", "/{job_id}/cancel", c.post(f"/jobs/{jobs[1]}/cancel"))
            for _ in range(500):
                body = check("GET", "/{job_id}", c.get(f"/jobs/{jobs[0]}"))
                if (body.get("status") or body["job"]["status"]) == "completed":
                    break
                time.sleep(0.02)
            assert "result" in body or "result" in body.get("job", {}), body
            check("GET", "", c.get("/jobs"))
            check("DELETE", "/{job_id}", c.delete(f"/jobs/{jobs[0]}"))
    finally:
        sb.stop()
