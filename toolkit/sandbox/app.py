"""The sandbox ASGI app: one FastAPI server, each provider under its own prefix(es)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import openapi
from .config import SandboxConfig, parse_faults
from .core import ApiError, Context
from .limits import CONTROL_BODY_LIMIT, BodyLimits, BodyTooLarge
from .runner import Runner
from .signing import Signer
from .store import Store

log = logging.getLogger("toolkit.sandbox")
CONTROL_PREFIX = "/__sandbox__/"


class _QuietDrops(logging.Filter):
    """An injected dropped connection is deliberate: do not log it as an app error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without starting response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


class SandboxMiddleware:
    """Pure ASGI middleware, in this order: refuses oversized bodies (413), injects faults, refuses requests
    without a key of the provider (401, signed storage URLs excepted), then counts every answer."""

    def __init__(self, app: Any, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx
        self._prefixes = sorted(
            ((p, s.name) for s in ctx.specs.values() for p in [*s.prefixes, s.storage_prefix]),
            key=lambda x: -len(x[0]),
        )
        self.body_limit = BodyLimits(ctx.specs.values())
        self._storage_prefixes = [s.storage_prefix for s in ctx.specs.values()]

    async def wrong_origin(self, scope: dict, receive: Any, send: Any, provider: str | None) -> None:
        """404 for a path on the other listener's origin: the API is not served on the storage origin, and
        signed URLs are not served on the API's (as S3 and the API are different hosts in production)."""
        if self.ctx.on_storage_listener(scope):
            response = JSONResponse({"detail": "Not Found: this origin serves pre-signed URLs only"}, 404)
        else:
            assert provider is not None
            spec = self.ctx.specs[provider]
            message = "Not Found: pre-signed URLs are served on the storage origin, not the API's"
            response = render_error(self.ctx, ApiError(provider, 404, spec.not_found_code, message))
        if provider is not None:
            self.ctx.stats.request(provider, "-", "(wrong origin)", 404)
        await response(scope, receive, send)

    def provider_for(self, path: str) -> str | None:
        for prefix, name in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return name
        return None

    def is_storage(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self._storage_prefixes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        provider = self.provider_for(scope["path"])
        if self.ctx.storage_port is not None and self.ctx.on_storage_listener(scope) != self.is_storage(scope["path"]):
            return await self.wrong_origin(scope, receive, send, provider)
        if provider is None:
            if scope["path"].startswith(CONTROL_PREFIX):  # small JSON bodies only (they are read whole)
                if _declared_length(scope) > CONTROL_BODY_LIMIT:
                    return await control_too_large()(scope, receive, send)
                receive = _capped(receive, CONTROL_BODY_LIMIT)
            return await self.app(scope, receive, send)
        scope["sandbox.provider"] = provider
        status_box = [0]
        limit = self.body_limit(scope["path"])
        if _declared_length(scope) > limit:  # refused before a byte of it is read
            self.ctx.stats.request(provider, "-", "(body too large)", 413)
            return await render_error(self.ctx, too_large(self.ctx, provider, limit))(scope, receive, send)
        receive = _capped(receive, limit)
        fault = self.ctx.faults.draw(provider)
        if fault:
            self.ctx.stats.fault(provider, fault)
        if fault == "slow":
            await asyncio.sleep(self.ctx.config.slow_seconds)
        elif fault == "drop":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                transport.abort()
                self.ctx.stats.request(provider, "-", "(dropped)", 0)
                return
            fault = "5xx"  # no transport to abort (e.g. an in-memory test client): fail loudly instead
        if fault in ("5xx", "429"):
            spec = self.ctx.specs[provider]
            err = (
                ApiError(
                    provider, spec.fault_status, spec.fault_code, "Service temporarily unavailable (injected fault)."
                )
                if fault == "5xx"
                else ApiError(
                    provider,
                    429,
                    spec.rate_limited_code,
                    "Too Many Requests. Rate limit exceeded.",
                    headers={"Retry-After": "1", **(spec.retry_headers(1) if spec.retry_headers else {})},
                )
            )
            response = render_error(self.ctx, err)
            self.ctx.stats.request(provider, "-", f"(injected {fault})", err.status)
            return await response(scope, receive, send)
        headers = Headers(scope=scope)
        if not self.is_storage(scope["path"]) and not self.ctx.knows_key(provider, headers):
            # no valid key: 401 before the route parses a path, query or body (signed storage URLs need none)
            self.ctx.stats.request(provider, "-", "(unauthenticated)", 401)
            return await render_error(self.ctx, self.ctx.unauthorized(provider, headers))(scope, receive, send)

        async def counting_send(message: dict) -> None:
            if receive.exceeded:  # type: ignore[attr-defined]  # a chunked body overflowed: answer 413
                if message["type"] == "http.response.start":
                    status_box[0] = 413
                    return await render_error(self.ctx, too_large(self.ctx, provider, limit))(scope, receive, send)
                return None
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            name = f"{scope['method']} {getattr(route, 'path', '(unmatched)')}"
            self.ctx.stats.request(provider, scope.get("sandbox.tenant", "-"), name, status_box[0] or 500)


def control_too_large() -> JSONResponse:
    return JSONResponse({"detail": f"the body is larger than {CONTROL_BODY_LIMIT} bytes"}, status_code=413)


def render_error(ctx: Context, err: ApiError) -> JSONResponse:
    body = ctx.specs[err.provider].error_body(err)
    return JSONResponse(body, status_code=err.status, headers=err.headers)


def too_large(ctx: Context, provider: str, limit: int) -> ApiError:
    return ApiError(
        provider,
        413,
        ctx.specs[provider].too_large_code,
        f"The request body is larger than this route's limit of {limit} bytes.",
    )


def _declared_length(scope: dict) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server rejects a malformed Content-Length itself
    return 0


def _capped(receive: Any, limit: int) -> Any:
    """``receive`` that raises ``BodyTooLarge`` once a body without Content-Length grows past ``limit``."""
    seen = 0

    async def wrapped() -> dict:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                wrapped.exceeded = True  # type: ignore[attr-defined]
                raise BodyTooLarge(limit)
        return message

    wrapped.exceeded = False  # type: ignore[attr-defined]
    return wrapped


def create_app(config: SandboxConfig | None = None) -> tuple[FastAPI, Context]:
    """Build the app and its context (store, signer, runner) for the providers of ``config.specs`` (the registered
    ones and ``config.extra_providers``). Call ``ctx.runner.start()`` to process jobs."""
    config = config or SandboxConfig()
    if config.data_dir is None:
        config.data_dir = Path(tempfile.mkdtemp(prefix="toolkit-sandbox-"))
    config.data_dir = Path(config.data_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(config.data_dir)
    specs = config.specs
    ctx = Context(config=config, store=store, signer=Signer(config.data_dir), specs=specs)
    ctx.runner = Runner(
        store,
        engines={name: spec.engine(ctx) for name, spec in specs.items()},
        fail_codes={name: spec.fail_code for name, spec in specs.items()},
        workers=config.workers,
    )

    titles = [s.title or s.name for s in specs.values()]
    named = f"{', '.join(titles[:-1])} and {titles[-1]}" if len(titles) > 1 else "".join(titles)
    app = FastAPI(title="toolkit sandbox", version="1", description=f"Local stand-in speaking the {named} contracts.")
    app.state.ctx = ctx
    ctx.app = app
    for spec in specs.values():
        router = spec.build_router(ctx)
        for i, prefix in enumerate(spec.prefixes):
            app.include_router(router, prefix=prefix, include_in_schema=(i == 0))
        if spec.storage_router is not None:
            app.include_router(spec.storage_router(ctx), prefix=spec.storage_prefix)

    def document() -> dict[str, Any]:
        """FastAPI's document, completed with auth, error envelopes and bodies (``openapi.complete``)."""
        if app.openapi_schema is None:
            doc = openapi.complete(FastAPI.openapi(app), config, specs.values())
            if ctx.storage_port is not None:  # pre-signed URLs are served on their own origin
                storage = {"url": f"http://{config.host}:{ctx.storage_port}", "description": "pre-signed URLs"}
                for path, item in doc.get("paths", {}).items():
                    if any(path.startswith(s.storage_prefix + "/") for s in specs.values()):
                        for op in item.values():  # per operation: a path item's keys stay its methods
                            op["servers"] = [storage]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]

    def provider_of(request: Request) -> str | None:
        return request.scope.get("sandbox.provider")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return render_error(ctx, err)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        provider = provider_of(request)
        if provider is None:
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        spec = specs[provider]
        fields: dict[str, list[str]] = {}
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
            fields.setdefault(loc, []).append(str(e.get("msg", "invalid")))
        message = "; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())
        return render_error(
            ctx,
            ApiError(
                provider, spec.validation_status, spec.validation_code, f"Invalid request: {message}", details=fields
            ),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        provider = provider_of(request)
        if provider is None:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        spec = specs[provider]
        # 400: FastAPI could not parse the body (e.g. JSON nested too deeply)
        code = {400: spec.validation_code, 404: spec.not_found_code, 405: "METHOD_NOT_ALLOWED"}.get(
            exc.status_code, "ERROR"
        )
        # keep Starlette's headers: a 405 must say what is allowed (RFC 9110 Allow), every method of the path
        # (Starlette names only the first matching route's, and a path's methods may be in several routes)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed(app, request.scope)) or headers.get("Allow", "")
        return render_error(ctx, ApiError(provider, exc.status_code, code, str(exc.detail), headers=headers))

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        if "sandbox.provider" not in request.scope:  # a control route
            return control_too_large()
        return render_error(ctx, too_large(ctx, request.scope["sandbox.provider"], exc.limit))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("sandbox handler crashed")
        provider = provider_of(request)
        if provider is None:
            return JSONResponse({"detail": "internal error"}, status_code=500)
        return render_error(ctx, ApiError(provider, 500, "INTERNAL_ERROR", "Internal error in the sandbox."))

    @app.get("/__sandbox__/stats", include_in_schema=False)
    async def stats(request: Request) -> JSONResponse:
        if not _is_loopback(request):
            return JSONResponse({"detail": "loopback only"}, status_code=403)
        return JSONResponse(ctx.stats.snapshot(store, ctx.credits))

    @app.put("/__sandbox__/faults", include_in_schema=False)
    async def set_faults(request: Request) -> JSONResponse:
        """Change fault rates at run time: body ``{"spec": "5xx=0.1,authenta.fail=0.2"}``."""
        if not _is_loopback(request):
            return JSONResponse({"detail": "loopback only"}, status_code=403)
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict) or not isinstance(body.get("spec") or "", str):
                raise TypeError('expected {"spec": "KIND=P,..."}')
            ctx.faults.set_rates(parse_faults(body.get("spec"), specs))
        except (ValueError, TypeError, RecursionError) as e:
            return JSONResponse({"detail": str(e)}, status_code=400)
        return JSONResponse({"faults": ctx.faults.rates})

    @app.put("/__sandbox__/credits", include_in_schema=False)
    async def set_credits(request: Request) -> JSONResponse:
        """Set credits at run time: body ``{"provider": "authenta", "key": "api_...", "credits": 5}``; without
        ``key`` every key of the provider, ``"credits": null`` unlimited. Answers the credits left per tenant."""
        if not _is_loopback(request):
            return JSONResponse({"detail": "loopback only"}, status_code=403)
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict) or "credits" not in body or not isinstance(body.get("key") or "", str):
                raise TypeError('expected {"provider": "...", "key": "...", "credits": N}')
            changed = ctx.credits.set(str(body.get("provider")), body.get("key"), body["credits"])
        except (ValueError, TypeError, RecursionError) as e:
            return JSONResponse({"detail": str(e)}, status_code=400)
        if not changed:  # the key itself is never echoed
            return JSONResponse({"detail": f"no such {body['provider']} key"}, status_code=404)
        return JSONResponse({"credits": ctx.credits.snapshot()})

    @app.get("/__sandbox__/health", include_in_schema=False)
    async def health(request: Request) -> dict[str, Any]:
        return {
            "ok": True,
            "sandbox": True,
            "providers": {n: s.prefixes[0] for n, s in specs.items()},
            "storage": ctx.storage_base(request),  # the origin of every signed URL
        }

    return SandboxMiddleware(app, ctx), ctx  # type: ignore[return-value]


def _allowed(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    """Every method some route of the app answers on this request's path (asked of the routes themselves, as
    they may sit in included routers)."""
    from starlette.routing import Match

    found = []
    for method in ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"):
        probe = {**scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in app.router.routes):
            found.append(method)
    return found
