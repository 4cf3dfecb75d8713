"""What every provider module of the sandbox shares: the error type, the context, auth and helpers."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from fastapi import Request

from .config import SandboxConfig, Tenant
from .credits import Credits
from .limits import Faults, RateLimiter, draw_runtime
from .runner import Runner
from .signing import SignatureError, Signer
from .spec import ApiError, ProviderSpec
from .store import Job, Store

__all__ = ["ApiError", "Context", "ProviderSpec", "Stats", "digest", "iso", "loads"]


class Stats:
    """Request counters for ``/__sandbox__/stats`` (jobs are counted from the database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str, int], int] = defaultdict(int)
        self.faults: dict[tuple[str, str], int] = defaultdict(int)
        self.auth_on_signed_urls: dict[str, int] = defaultdict(int)
        self.started_at = time.time()

    def request(self, provider: str, tenant: str, route: str, status: int) -> None:
        with self._lock:
            self.requests[(provider, tenant, route, status)] += 1

    def fault(self, provider: str, kind: str) -> None:
        with self._lock:
            self.faults[(provider, kind)] += 1

    def auth_on_signed_url(self, provider: str) -> None:
        with self._lock:
            self.auth_on_signed_urls[provider] += 1

    def snapshot(self, store: Store, credits: Credits | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"started_at": self.started_at, "providers": {}}

        def tenant_entry(provider: str, tenant: str) -> dict[str, Any]:
            p = out["providers"].setdefault(provider, {"tenants": {}, "faults": {}, "auth_on_signed_urls": 0})
            return p["tenants"].setdefault(
                tenant,
                {
                    "requests": {},
                    "jobs": {"created": 0, "by_state": {}},
                    "jobs_per_idempotency_key": {},
                    "jobs_per_input_digest": {},
                },
            )

        with self._lock:
            for (provider, tenant, route, status), n in self.requests.items():
                routes = tenant_entry(provider, tenant)["requests"].setdefault(route, {})
                routes[str(status)] = routes.get(str(status), 0) + n
            for (provider, kind), n in self.faults.items():
                out["providers"].setdefault(provider, {"tenants": {}, "faults": {}, "auth_on_signed_urls": 0})
                out["providers"][provider]["faults"][kind] = n
            for provider, n in self.auth_on_signed_urls.items():
                out["providers"].setdefault(provider, {"tenants": {}, "faults": {}, "auth_on_signed_urls": 0})
                out["providers"][provider]["auth_on_signed_urls"] = n
        for row in store.job_counts():
            jobs = tenant_entry(row["provider"], row["tenant"])["jobs"]
            jobs["created"] += row["n"]
            jobs["by_state"][row["state"]] = row["n"]
        for column, key in (("idem_key", "jobs_per_idempotency_key"), ("input_digest", "jobs_per_input_digest")):
            for row in store.duplicate_counts(column):
                tenant_entry(row["provider"], row["tenant"])[key][row["value"]] = row["n"]
        for provider, tenants in (credits.snapshot() if credits else {}).items():
            for tenant, left in tenants.items():  # only keys with a credit limit (--credits)
                tenant_entry(provider, tenant)["credits_left"] = left
        return out


@dataclass
class Context:
    """Shared state handed to every provider router and engine."""

    config: SandboxConfig
    store: Store
    signer: Signer
    specs: dict[str, ProviderSpec]
    limiter: RateLimiter = field(default_factory=RateLimiter)
    stats: Stats = field(default_factory=Stats)
    faults: Faults | None = None
    runner: Runner | None = None
    app: Any = None  # the inner FastAPI app (for its OpenAPI document)
    credits: Credits | None = None
    #: the storage listener's port: signed URLs and result redirects point there, as production points at
    #: S3 on another host; None (an app without its own listeners, e.g. in memory) serves both on one origin
    storage_port: int | None = None

    def __post_init__(self) -> None:
        self._tenants = {(t.provider, t.key): t for t in self.config.tenants}
        if self.faults is None:
            self.faults = Faults(self.config.faults, self.config.seed)
        if self.credits is None:
            self.credits = Credits(self.config.credits, self.config.tenants, self.specs)

    # -- auth and limits ----------------------------------------------------------------------------
    def knows_key(self, provider: str, headers: Any) -> bool:
        """Whether ``headers`` carry some key of ``provider`` (Bearer or X-API-Key). The app checks this before
        a route parses anything, so an unauthenticated request gets 401 whatever its body or path; the route
        then authenticates precisely (which header, rate limits)."""
        keys = [headers.get("x-api-key", "").strip()]
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            keys.append(auth[7:].strip())
        return any((provider, k) in self._tenants for k in keys if k)

    def unauthorized(self, provider: str, headers: Any) -> ApiError:
        """The 401 for a request without a valid key, worded as ``authenticate`` words it."""
        spec = self.specs[provider]
        if not headers.get("authorization") and not headers.get("x-api-key"):
            return ApiError(provider, 401, spec.unauthorized_code, "Missing API key: send Authorization: Bearer <key>.")
        return ApiError(provider, 401, spec.unauthorized_code, "Invalid API key.")

    def authenticate(
        self, request: Request, provider: str, *, bucket: str | None = None, api_key_header: bool = False
    ) -> Tenant:
        """The tenant whose key the request carries, or a 401 in the provider's envelope.

        ``api_key_header``: the key may come as ``X-API-Key`` (face service) as well as a Bearer token.
        Then applies the rate-limit ``bucket`` (None: the provider's only bucket, if any).
        """
        spec = self.specs[provider]
        key = None
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
        if api_key_header and request.headers.get("x-api-key"):
            key = request.headers["x-api-key"].strip()
        if not key:
            raise ApiError(provider, 401, spec.unauthorized_code, "Missing API key: send Authorization: Bearer <key>.")
        tenant = self._tenants.get((provider, key))
        if tenant is None:
            raise ApiError(provider, 401, spec.unauthorized_code, "Invalid API key.")
        request.scope["sandbox.tenant"] = tenant.id
        self.rate_limit(provider, tenant, bucket)
        return tenant

    def rate_limit(self, provider: str, tenant: Tenant, bucket: str | None = None) -> dict[str, str]:
        """Consume one request of the tenant's bucket; raise 429 with Retry-After when it is empty."""
        buckets = self.config.rate_limits.get(provider) or {}
        if bucket is None:
            bucket = next(iter(buckets), "api")
        limits = buckets.get(bucket) or []
        d = self.limiter.check(tenant.id, bucket, limits)
        spec = self.specs[provider]
        headers = spec.limit_headers(limits, d) if spec.limit_headers and limits else {}
        if not d.allowed:
            retry = max(1, int(d.retry_after + 0.999))
            headers["Retry-After"] = str(retry)
            headers.update(spec.retry_headers(retry) if spec.retry_headers else {})
            raise ApiError(
                provider, 429, spec.rate_limited_code, "Too Many Requests. Rate limit exceeded.", headers=headers
            )
        return headers

    # -- jobs ---------------------------------------------------------------------------------------
    def enqueue(
        self, job: Job, median_runtime: float | None = None, *, from_states: tuple[str, ...] = ("created",)
    ) -> bool:
        """Queue a job for processing with a seeded runtime; False if it was not in ``from_states``."""
        if median_runtime is None:
            median_runtime = self.specs[job.provider].runtime
        median = self.config.runtimes.get(job.provider, median_runtime)
        runtime = draw_runtime(self.config.seed, job.id, median, self.config.runtime_spread) * self.config.time_scale
        ok = self.store.update(
            job.id,
            expect_state=from_states,
            state="queued",
            queued_at=time.time(),
            runtime=runtime,
            will_fail=int(self.faults.job_fails(job.provider, job.input_digest or job.id)),
        )
        if ok and self.runner:
            self.runner.wake()
        return ok

    def expired(self, job: Job, window: str) -> bool:
        """Whether a finished job is past a retention window (``"provider.window"``, see ``config.window``)."""
        return job.completed_at is not None and time.time() > job.completed_at + self.config.window(window)

    # -- URLs ---------------------------------------------------------------------------------------
    @staticmethod
    def absolute(request: Request, path: str) -> str:
        return str(request.base_url).rstrip("/") + path

    def storage_base(self, request: Request) -> str:
        """The storage origin, e.g. ``http://127.0.0.1:<storage port>``: the host the client reached the API
        by, on the storage listener's port (another origin, so clients drop ``Authorization`` on the way)."""
        if self.storage_port is None:
            return str(request.base_url).rstrip("/")
        host = request.url.hostname or self.config.host
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        return f"{request.url.scheme}://{host}:{self.storage_port}"

    def on_storage_listener(self, scope: dict[str, Any]) -> bool:
        """Whether a request came in on the storage listener (always False without one)."""
        server = scope.get("server") or (None, None)
        return self.storage_port is not None and server[1] == self.storage_port

    def signed_url(
        self, request: Request, method: str, path: str, ttl: float, *, content_type: str = "", size: int | None = None
    ) -> str:
        """An absolute pre-signed URL on the storage origin (``storage_base``)."""
        signed = self.signer.sign(method, path, ttl, content_type=content_type, size=size)
        return self.storage_base(request) + signed

    def verify_signed(self, request: Request, provider: str, *, size: int | None = None) -> str:
        """Check a request on a signed URL; 403 in the provider's envelope when it does not match."""
        if "authorization" in request.headers:
            self.stats.auth_on_signed_url(provider)
        try:
            return self.signer.verify(
                request.method,
                request.url.path,
                dict(request.query_params),
                content_type=request.headers.get("content-type"),
                size=size,
            )
        except SignatureError as e:
            raise ApiError(provider, 403, "FORBIDDEN", f"Signed URL refused: {e}.") from None


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a Z, as the providers write timestamps."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise ValueError(f"the number {text} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(data: bytes | str) -> Any:
    """``json.loads`` for request bodies: ``ValueError`` for bad JSON, for what could not be written back into
    a JSON answer (NaN, Infinity, 1e999, lone UTF-16 surrogates such as "\\ud800") and for nesting too deep to
    parse (RecursionError)."""
    try:
        value = json.loads(data, parse_float=_finite, parse_constant=_no_constant)
        json.dumps(value, ensure_ascii=False).encode()
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except UnicodeEncodeError:
        raise ValueError("the JSON holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
    return value
