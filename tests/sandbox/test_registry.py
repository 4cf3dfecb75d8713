"""A provider added without editing the toolkit: a fake sixth provider (router + ``ProviderSpec``) defined here
and served end to end over loopback, with auth, its rate and body limits, error envelope, faults, credits,
stats and its paths in /openapi.json."""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

import toolkit.sandbox as sandbox_pkg
from tests.helpers import stats
from toolkit.sandbox import BodyLimit, ProviderSpec, SandboxConfig, Tenant, register, registered, unregister
from toolkit.sandbox.config import ConfigError
from toolkit.sandbox.core import ApiError, Context, loads
from toolkit.sandbox.openapi import INT, STR, Op, obj
from toolkit.sandbox.runner import JobFailure
from toolkit.sandbox.store import Job

NAME = "echo"
PREFIX = "/echo/v2"
KEY = "echo_demo_key"
MAX_BODY = 2048
STATE = {
    "created": "waiting",
    "queued": "waiting",
    "processing": "running",
    "succeeded": "done",
    "failed": "broken",
    "cancelled": "broken",
}


def error_body(err: ApiError) -> dict[str, Any]:
    return {"fault": {"kind": err.code, "text": err.message, "status": err.status}}


def build_router(ctx: Context) -> APIRouter:
    r = APIRouter(tags=[NAME])

    def task(job: Job) -> dict[str, Any]:
        return {"id": job.id, "state": STATE[job.state], "output": job.result if job.state == "succeeded" else None}

    @r.post("/tasks", status_code=202)
    async def create(request: Request) -> JSONResponse:
        tenant = ctx.authenticate(request, NAME, bucket="create")
        try:
            payload = loads(await request.body())
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(NAME, 400, "BAD_JSON", f"not JSON: {e}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            raise ApiError(NAME, 400, "BAD_TEXT", 'send {"text": "..."}')
        with ctx.credits.charge(NAME, tenant.id):
            job = ctx.store.create_job(NAME, tenant.id, "echo", request={"text": payload["text"]})
        ctx.enqueue(job)
        return JSONResponse(task(ctx.store.get(NAME, tenant.id, job.id) or job), status_code=202)

    @r.get("/tasks/{task_id}")
    async def status(request: Request, task_id: str) -> JSONResponse:
        tenant = ctx.authenticate(request, NAME, bucket="read")
        job = ctx.store.get(NAME, tenant.id, task_id)
        if job is None or ctx.expired(job, f"{NAME}.retention"):
            raise ApiError(NAME, 404, "NO_SUCH_TASK", f"task {task_id} not found")
        return JSONResponse(task(job))

    return r


def make_engine(ctx: Context):
    def run(job: Job) -> dict[str, Any]:
        if job.request["text"] == "fail":
            raise JobFailure("ECHO_FAILED", "asked to fail")
        return {"echo": job.request["text"].upper()}

    return run


def operations(config: SandboxConfig) -> dict[tuple[str, str], Op]:
    state = {"enum": sorted(set(STATE.values()))}
    body = obj({"id": STR, "state": state, "output": {"type": ["object", "null"]}})
    return {("POST", "/tasks"): Op({202: body}, (400, 402, 413)), ("GET", "/tasks/{task_id}"): Op({200: body}, (404,))}


SPEC = ProviderSpec(
    name=NAME,
    title="Echo",
    prefixes=[PREFIX],
    build_router=build_router,
    engine=make_engine,
    error_body=error_body,
    error_schema=obj({"fault": obj({"kind": STR, "text": STR, "status": INT})}),
    demo_key=KEY,
    runtime=0.5,
    windows={"retention": 3600.0},
    rate_limits={"create": [(3, 60.0)], "read": [(1000, 60.0)]},
    body_limits=(BodyLimit(MAX_BODY, suffix="/tasks"),),
    unauthorized_code="WHO_ARE_YOU",
    rate_limited_code="SLOW_DOWN",
    not_found_code="NO_SUCH_TASK",
    too_large_code="TOO_BIG",
    fault_status=502,
    fault_code="ECHO_DOWN",
    fail_code="ECHO_CRASHED",
    payment_required=("NO_COINS", "Out of coins."),
    retry_headers=lambda retry: {"X-Echo-Retry": str(retry)},
    operations=operations,
)


@pytest.fixture
def echo(make_sandbox):
    return make_sandbox(extra_providers=[SPEC])


def client(sb, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=sb.base_url(NAME), headers={"Authorization": f"Bearer {key}"}, timeout=10)


def fault(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["fault"]["kind"] == kind and body["fault"]["status"] == status, body
    return body


def test_fake_provider_served_end_to_end(echo):
    assert echo.base_url(NAME).endswith(PREFIX) and echo.key(NAME) == KEY  # the spec's demo key
    with client(echo) as c:
        created = c.post("/tasks", json={"text": "hello"})
        assert created.status_code == 202, created.text
        task_id = created.json()["id"]
        deadline = time.monotonic() + 10
        while (body := c.get(f"/tasks/{task_id}").json())["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert body == {"id": task_id, "state": "done", "output": {"echo": "HELLO"}}
        fault(c.get("/tasks/nope"), 404, "NO_SUCH_TASK")
        fault(c.post("/tasks", json=[1]), 400, "BAD_TEXT")
    # the shared layers speak the fake's envelope: 401 before the route, 404 of an unknown route
    fault(httpx.post(echo.base_url(NAME) + "/tasks", json={"text": "x"}), 401, "WHO_ARE_YOU")
    fault(httpx.get(echo.base_url(NAME) + "/tasks", headers={"Authorization": "Bearer wrong"}), 401, "WHO_ARE_YOU")
    with client(echo) as c:
        fault(c.get("/elsewhere"), 404, "NO_SUCH_TASK")

    tenant = Tenant(NAME, KEY).id
    entry = stats(echo)["providers"][NAME]
    assert entry["tenants"][tenant]["jobs"] == {"created": 1, "by_state": {"succeeded": 1}}
    requests = entry["tenants"][tenant]["requests"]  # by route, as the router declares it
    assert requests["POST /tasks"] == {"202": 1, "400": 1} and requests["GET /tasks/{task_id}"]["404"] == 1
    assert entry["tenants"]["-"]["requests"]["(unauthenticated)"] == {"401": 2}
    assert httpx.get(echo.url + "/__sandbox__/health").json()["providers"][NAME] == PREFIX
    # the built-ins are still there
    assert (
        httpx.get(
            echo.base_url("animaldetect") + "/jobs/x", headers={"Authorization": f"Bearer {echo.key('animaldetect')}"}
        ).status_code
        == 404
    )


def test_fake_provider_in_openapi_document(echo):
    doc = httpx.get(echo.url + "/openapi.json").json()
    assert "Echo contracts" in doc["info"]["description"]
    create, get = doc["paths"][f"{PREFIX}/tasks"]["post"], doc["paths"][f"{PREFIX}/tasks/{{task_id}}"]["get"]
    for op in (create, get):
        assert "x-undescribed" not in op
        assert op["security"] == [{"echo_bearer": []}]
        assert {"401", "429", "500", "502"} <= set(op["responses"])  # 502: the spec's injected fault status
        assert op["responses"]["401"]["content"]["application/json"]["schema"] == SPEC.error_schema
    assert {"202", "400", "402", "413"} <= set(create["responses"])
    assert doc["components"]["securitySchemes"]["echo_bearer"] == {"type": "http", "scheme": "bearer"}
    # the built-ins' operations are unchanged
    assert "/claid/v1/image/edit/async" in doc["paths"] and "/faces/api/v1/organizations/{org_id}/batch" in doc["paths"]


def test_fake_provider_rate_limited_by_its_spec(echo):
    with client(echo) as c:
        for i in range(3):
            assert c.post("/tasks", json={"text": f"t{i}"}).status_code == 202
        r = c.post("/tasks", json={"text": "one too many"})
        fault(r, 429, "SLOW_DOWN")
        assert int(r.headers["Retry-After"]) >= 1 and r.headers["X-Echo-Retry"] == r.headers["Retry-After"]
        assert c.get("/tasks/whatever").status_code == 404  # another bucket of the same spec
    echo.config.rate_limits[NAME]["create"] = [(1000, 60.0)]  # the config overrides the spec's default
    with client(echo) as c:
        assert c.post("/tasks", json={"text": "again"}).status_code == 202


def test_fake_provider_body_limited_by_its_spec(echo):
    with client(echo) as c:
        ok = c.post(
            "/tasks",
            content=b'{"text": "' + b"a" * (MAX_BODY - 20) + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert ok.status_code == 202, ok.text
        fault(c.post("/tasks", json={"text": "a" * MAX_BODY}), 413, "TOO_BIG")  # Content-Length over the cap

        def chunks():  # no Content-Length: the cap applies while reading
            for _ in range(4):
                yield b"a" * 1024

        fault(c.post("/tasks", content=chunks(), headers={"Content-Type": "application/json"}), 413, "TOO_BIG")
    tenant = stats(echo)["providers"][NAME]["tenants"]
    assert tenant["-"]["requests"]["(body too large)"] == {"413": 1}


def test_fake_provider_faults_and_credits_by_name(make_sandbox):
    sb = make_sandbox(extra_providers=[SPEC], faults="echo.5xx=1", credits={NAME: 1})
    with client(sb) as c:
        fault(c.get("/tasks/x"), 502, "ECHO_DOWN")  # the spec's injected-fault status and code
    httpx.put(sb.url + "/__sandbox__/faults", json={"spec": "echo.fail=1"}).raise_for_status()
    with client(sb) as c:
        task_id = c.post("/tasks", json={"text": "x"}).json()["id"]
        fault(c.post("/tasks", json={"text": "y"}), 402, "NO_COINS")
        deadline = time.monotonic() + 10
        while c.get(f"/tasks/{task_id}").json()["state"] != "broken" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert c.get(f"/tasks/{task_id}").json()["state"] == "broken"  # an injected job failure
    assert stats(sb)["providers"][NAME]["faults"] == {"5xx": 1}


def test_config_accepts_extra_providers_without_registering_them():
    cfg = SandboxConfig(extra_providers=[SPEC])
    assert NAME in cfg.specs and Tenant(NAME, KEY) in cfg.tenants
    assert cfg.rate_limits[NAME] == SPEC.rate_limits and cfg.rate_limits[NAME] is not SPEC.rate_limits
    assert cfg.window(f"{NAME}.retention") == 3600.0
    cfg.set_rate_limit("echo.create=1/60")
    assert cfg.rate_limits[NAME]["create"] == [(1, 60.0)] and SPEC.rate_limits["create"] == [(3, 60.0)]
    cfg.set_credits("echo=5")
    assert Tenant.parse("echo:k2", specs=cfg.specs.values()) == Tenant(NAME, "k2")
    # nothing leaked into the process-wide registry
    assert NAME not in sandbox_pkg.PROVIDERS and NAME not in SandboxConfig().specs
    with pytest.raises(ConfigError):
        Tenant.parse("echo:k2")
    with pytest.raises(ConfigError, match="already served"):
        SandboxConfig(extra_providers=[registered()[0]])


def test_register_adds_a_provider_process_wide():
    register(SPEC)
    try:
        assert NAME in sandbox_pkg.PROVIDERS and sandbox_pkg.DEMO_KEYS[NAME] == KEY
        assert NAME in SandboxConfig().specs and Tenant.parse("echo:k") == Tenant(NAME, "k")
        with pytest.raises(ValueError, match="already registered"):
            register(dataclasses.replace(SPEC))
    finally:
        unregister(NAME)
    assert NAME not in sandbox_pkg.PROVIDERS


SHARED = ("config.py", "limits.py", "openapi.py", "app.py", "core.py", "credits.py", "spec.py", "server.py")


@pytest.mark.parametrize("module", SHARED)
def test_shared_modules_do_not_import_providers(module):
    """No cycle: the shared modules read the specs they are given and never import a provider module."""
    tree = ast.parse((Path(sandbox_pkg.__file__).parent / module).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if "providers" in m], imported
