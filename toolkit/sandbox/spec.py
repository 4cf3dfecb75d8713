"""What the sandbox knows about one provider, in one place (``ProviderSpec``), and the registry of built-ins.

Each provider module (``providers/<name>.py``) declares its ``SPEC`` and registers it; the shared modules
(``config``, ``limits``, ``core``, ``openapi``, ``app``) hold no per-provider tables and read these specs. A
provider outside the toolkit is served with ``SandboxConfig(extra_providers=[spec])`` (no registration needed).

This module imports nothing else of the sandbox (not even for type hints), so every other module may import it;
the callbacks' ``Any`` parameters are the sandbox's ``Context``, ``Job`` and ``SandboxConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

#: (requests, window seconds); several apply at once, e.g. [(120, 60.0), (4, 1.0)].
Limits = list[tuple[int, float]]
JSON = "application/json"


class ApiError(Exception):
    """An error answer; the app renders it in the envelope of ``provider`` (its ``ProviderSpec.error_body``)."""

    def __init__(
        self,
        provider: str,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{provider} {status} {code}: {message}")
        self.provider = provider
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details or {}


@dataclass
class Decision:
    """A rate limiter's answer to one request (``limits.RateLimiter.check``)."""

    allowed: bool
    retry_after: float  # seconds until one request is allowed again
    limit: int  # the tightest limit's size
    remaining: int
    reset: float  # seconds until the tightest bucket is full again


@dataclass
class Op:
    """OpenAPI facts of one operation: success bodies by status (None: no body), error statuses, extras."""

    ok: dict[int, Any]
    errors: tuple[int, ...] = ()
    body: dict[str, Any] | None = None  # requestBody, replacing FastAPI's
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # parameter name -> schema override
    signed: bool = False  # a pre-signed storage URL: no auth, signature in the query
    content: str = JSON  # media type of the success body
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)  # component schemas the body refers to


@dataclass(frozen=True)
class BodyLimit:
    """The largest request body (bytes) on some routes of a provider; larger ones are answered 413.

    Applies to paths under the provider's API prefixes (``storage``: under its signed storage prefix) that end
    with ``suffix`` ("" any path). The first matching limit of a spec wins; unmatched routes take
    ``limits.JSON_BODY_LIMIT``.
    """

    limit: int
    suffix: str = ""
    storage: bool = False


@dataclass
class ProviderSpec:
    """Everything the sandbox needs to serve one provider: routes, keys, times, limits, errors and OpenAPI facts."""

    # -- mounting -----------------------------------------------------------------------------------
    name: str
    prefixes: list[str]  # API prefixes; the first is the documented one (others: drift aliases, not in OpenAPI)
    build_router: Callable[[Any], Any]  # (Context) -> fastapi.APIRouter mounted at each prefix
    engine: Callable[[Any], Callable[[Any], Any]]  # (Context) -> function computing a Job's result
    error_body: Callable[[ApiError], Any]  # -> JSON body of an error in the provider's envelope
    error_schema: dict[str, Any]  # JSON schema of ``error_body``'s answers (OpenAPI)
    demo_key: str  # the key every sandbox accepts when no ``--key`` is given
    title: str = ""  # human name, e.g. "Animal Detect" (the app's description)
    storage_router: Callable[[Any], Any] | None = None  # (Context) -> signed-URL routes, at ``storage_prefix``
    # -- keys ---------------------------------------------------------------------------------------
    scoped_keys: bool = False  # ``--key NAME:KEY@ORG/COLLECTION`` scopes a key
    api_key_header: bool = False  # ``X-API-Key`` is accepted as well as ``Authorization: Bearer``
    # -- times (seconds, before ``time_scale``) ----------------------------------------------------
    runtime: float = 5.0  # median processing time of a job (typical runtime)
    windows: dict[str, float] = field(default_factory=dict)  # e.g. {"retention": 30 * DAY}; ``config.window``
    # -- limits -------------------------------------------------------------------------------------
    rate_limits: dict[str, Limits] = field(default_factory=dict)  # bucket -> limits (real time, not scaled)
    body_limits: tuple[BodyLimit, ...] = ()
    # -- error codes --------------------------------------------------------------------------------
    fail_code: str = "INTERNAL_ERROR"  # a job whose engine crashed
    unauthorized_code: str = "UNAUTHORIZED"
    rate_limited_code: str = "RATE_LIMITED"
    validation_code: str = "VALIDATION_ERROR"
    validation_status: int = 400
    not_found_code: str = "NOT_FOUND"
    too_large_code: str = "PAYLOAD_TOO_LARGE"
    fault_status: int = 503  # an injected 5xx: "temporarily unavailable", refused before processing
    fault_code: str = "INTERNAL_ERROR"
    payment_required: tuple[str, str] = (
        "INSUFFICIENT_CREDITS",
        "Insufficient credits: this API key has no credits left.",
    )  # 402
    # -- extra headers ------------------------------------------------------------------------------
    #: headers describing the limits: on the 429, and returned by ``Context.rate_limit`` for routes to send
    limit_headers: Callable[[Limits, Decision], dict[str, str]] | None = None
    retry_headers: Callable[[int], dict[str, str]] | None = None  # on a 429, besides Retry-After
    # -- OpenAPI and configuration ------------------------------------------------------------------
    rate_limited_schema: dict[str, Any] | None = None  # the 429 body's schema when it differs from error_schema
    operations: Callable[[Any], dict[tuple[str, str], Op]] | None = None
    """(SandboxConfig) -> {(METHOD, path): Op}; paths relative to ``prefixes[0]`` (``Op.signed``: to
    ``storage_prefix``)."""
    check_config: Callable[[Any], None] | None = None  # (SandboxConfig) -> None; raise ConfigError on a bad option

    @property
    def storage_prefix(self) -> str:
        return f"/storage/{self.name}"

    @property
    def server_errors(self) -> tuple[int, ...]:
        """The 5xx statuses any route may answer: 500 (a crash) and the injected fault's."""
        return tuple(sorted({500, self.fault_status}))


_REGISTRY: dict[str, ProviderSpec] = {}


def register(spec: ProviderSpec) -> ProviderSpec:
    """Add ``spec`` to the providers every ``SandboxConfig`` serves (the built-ins call this on import).
    Process-wide: to serve a provider in one sandbox only, pass ``SandboxConfig(extra_providers=[spec])``."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a provider named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def registered() -> list[ProviderSpec]:
    """The registered providers, in registration order."""
    return list(_REGISTRY.values())


def unregister(name: str) -> None:
    """Remove a provider added with ``register`` (e.g. at the end of a test)."""
    _REGISTRY.pop(name, None)
