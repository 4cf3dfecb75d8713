"""HTTP for one provider: auth, timeouts, retries with jittered backoff, rate limits, concurrency caps, redaction.

Retry rules: 429 is always retried (the request was refused, not processed) after ``Retry-After`` /
``RateLimit-Reset``, and pauses the whole provider so concurrent requests do not storm. Connection failures
before the request left, and 503, are retried for any method; a POST is retried after an ambiguous failure
(read error, 500, and the gateway errors 502/504, after which the upstream may have processed it) only when
the caller says it is safe (an idempotency key, or the job id is known).
Signed URLs and redirect targets are called without the Authorization header.

Unreadable answers: a 2xx whose body is not what the caller expects (``expect``: an HTML page from a proxy,
cut-off JSON) is treated like a 502: retried with backoff when the request is safe to repeat, then an
``UNREADABLE_RESPONSE`` failure a re-run resumes (``toolkit.client.resume``); on a request that is not safe to
repeat it is CONNECTION_LOST (the request may have been processed). A request that is not safe to repeat
waits ``unsafe_timeout`` for its answer: timing out on it client-side can only lose a paid job's answer.
A ``Retry-After`` beyond ``retry_after_cap`` is not waited out: the provider's requests fail at once with one
RATE_LIMITED message naming the time the service gave, until the next call (``probe_now``) tries again.

Circuit breaker: after ``breaker_threshold`` consecutive failures to connect to the provider's own origin
(refused, DNS, connect timeout, TLS, unsupported protocol), requests there fail at once with UNREACHABLE
instead of each retrying for a minute; one probe is let through every ``breaker_probe_interval`` (times the
time scale) and any HTTP answer, even a 5xx, closes the breaker again.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import logging
import random
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from .model import JobError, ServiceUnreachable
from .transport_parts import _Bucket, _reason, expect_json

__all__ = ["Expect", "ProviderConfig", "Transport", "expect_json"]

if importlib.util.find_spec("sniffio") is None:
    # httpcore tries ``import sniffio`` on every request; absent, each try searches all of sys.path again
    # (a third of the client's loop time at 1,000 jobs). A None entry makes the failure immediate.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

log = logging.getLogger("toolkit.http")

RETRY_ALWAYS = {429, 503}  # refused before processing
AMBIGUOUS = {500, 502, 504}  # a gateway may have passed the request on: retried only when safe
#: the request never reached a server: always safe to repeat, and what the circuit breaker counts
NEVER_REACHED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)
#: the shortest gap between two probes of an open breaker, whatever the time scale (no probe storm)
PROBE_FLOOR = 0.25
UNREACHABLE_HINT = "check the service status or the base URL, then re-run: the ledger resumes"
UNREADABLE = "UNREADABLE_RESPONSE"  # a 2xx whose body could not be read, past the retries (resumable)
#: what ``request(expect=...)`` takes: a check of a 2xx answer returning why it is unusable, or None
Expect = Callable[[httpx.Response], "str | None"]


@dataclass
class ProviderConfig:
    """Where and how to reach one provider. The key never appears in a repr."""

    name: str
    base_url: str = field(repr=False)  # may hold credentials (https://user:secret@…): shown as redact_url's
    key: str = field(repr=False)
    auth_header: str = "authorization"  # or "x-api-key"
    sandbox: bool = False
    time_scale: float = 1.0  # multiplies poll intervals and backoff: the sandbox's scale (1.0 for real services)
    rate_limits: list[tuple[int, float]] = field(default_factory=list)  # client-side (n, window s)
    max_in_flight: int = 16  # concurrent HTTP requests
    max_active_jobs: int | None = None  # jobs the provider lets one key run at once (SateAIs: 5)
    extra: dict[str, str] = field(default_factory=dict, repr=False)  # org, collection, jwt, ...
    max_attempts: int = 8  # for failures (5xx, lost connections); 429s have their own budget
    rate_limit_budget: float = 900.0  # seconds one request may spend waiting out 429s before giving up
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    timeout: float = 60.0  # read timeout of a request that can be repeated (polls, fetches, idempotent creates)
    #: read timeout of a request that cannot be repeated (a create without idempotency, Claid's synchronous edit,
    #: which the sandbox answers within 120 s, docs/contracts.md §4): giving up early only loses a paid answer
    unsafe_timeout: float = 300.0
    #: the longest ``Retry-After`` waited out (s); a longer one stops the provider's requests until the next call
    retry_after_cap: float = 600.0
    breaker_threshold: int = 3  # consecutive connection failures that open the circuit breaker
    breaker_probe_interval: float = 5.0  # s between probes while it is open (times time_scale, >= PROBE_FLOOR)
    url_var: str = ""  # where base_url came from (e.g. "AD_API_BASE_URL"), named in error messages

    def redact(self, text: str) -> str:
        """``text`` with the key and any token of this provider replaced (an error body may echo them)."""
        password = urlsplit(self.base_url).password
        for secret in (self.key, self.extra.get("jwt"), password):
            if secret and len(secret) >= 6 and secret in text:
                text = text.replace(secret, "***")
        return text

    def auth_headers(self, *, bearer: str | None = None) -> dict[str, str]:
        if self.auth_header == "x-api-key" and bearer is None:
            return {"X-API-Key": self.key}
        return {"Authorization": f"Bearer {bearer or self.key}"}


class Transport:
    """One pooled async httpx client per provider; the only place that sends requests."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None
        self._bucket: _Bucket | None = None
        self._sem: asyncio.Semaphore | None = None
        self.requests = 0  # every request actually sent (for tests and benchmarks)
        self.retries = 0
        self.rate_limited = 0
        self.breaker_reason: str | None = None  # why the last connection to the provider failed
        self.breaker_trips = 0  # times the breaker opened
        self._streak = 0  # consecutive connection failures, across requests
        self._open = False
        self._next_probe = 0.0
        self._probing = False
        self._refused_until = 0.0  # monotonic: a Retry-After beyond the cap, not waited out
        self._refusal = ""  # the message of that refusal
        self.http_transport: httpx.AsyncBaseTransport | None = None  # set before the first request (e.g. a proxy)

    def __repr__(self) -> str:
        return f"Transport({self.config.name!r}, {redact_url(self.config.base_url)!r})"

    def _setup(self) -> None:
        if self._client is None:
            n = self.config.max_in_flight
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.config.timeout, connect=10.0),
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                follow_redirects=False,
                transport=self.http_transport,
            )
            self._bucket = _Bucket(self.config.rate_limits)
            self._sem = asyncio.Semaphore(n)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def breaker_open(self) -> bool:
        """Whether requests to the provider currently fail at once (it could not be connected to)."""
        return self._open

    @property
    def unreachable_message(self) -> str:
        """What an UNREACHABLE failure says: the base URL, where it came from, and the last reason."""
        source = f" ({self.config.url_var})" if self.config.url_var else ""
        reason = self.breaker_reason or "no connection"
        return f"cannot reach {_redact_url(self.config.base_url)}{source}: {reason}"

    def probe_now(self) -> None:
        """Let the next request probe an open breaker at once (a re-run: the user may have fixed the cause),
        and try again a provider that asked for a wait beyond the cap."""
        if self._open and not self._probing:
            self._next_probe = 0.0
        self._refused_until, self._refusal = 0.0, ""

    def _refused(self) -> JobError:
        return JobError(
            self.config.name,
            "RATE_LIMITED",
            self._refusal,
            http_status=429,
            hint="re-run the same call then: the jobs resume where they stopped",
        )

    def _refuse(self, delay: float, resp: httpx.Response) -> JobError:
        """A 429 asking for a wait beyond the cap: stop this provider's requests (until the next call)."""
        given = resp.headers.get("retry-after") or resp.headers.get("ratelimit-reset") or f"{delay:.0f}"
        until = datetime.fromtimestamp(min(time.time() + delay, 253402300799), timezone.utc)
        self._refused_until = time.monotonic() + delay
        self._refusal = (
            f"the service asked to wait until {until:%Y-%m-%d %H:%M} UTC (Retry-After: {given}), longer than "
            f"the {self.config.retry_after_cap / 60:g} min the toolkit waits; the provider's requests stopped"
        )
        return self._refused()

    def _unreachable(self) -> ServiceUnreachable:
        return ServiceUnreachable(self.config.name, "UNREACHABLE", self.unreachable_message, hint=UNREACHABLE_HINT)

    def _probe_interval(self) -> float:
        return max(self.config.breaker_probe_interval * self.config.time_scale, PROBE_FLOOR)

    def _denied(self) -> bool:
        """Whether the open breaker turns a request away now (it is not the time for a probe)."""
        return self._open and (self._probing or time.monotonic() < self._next_probe)

    def _admit(self) -> bool:
        """Raise UNREACHABLE while the breaker is open; True when this request is the breaker's probe."""
        if not self._open:
            return False
        if self._denied():
            raise self._unreachable()
        self._probing = True
        self._next_probe = time.monotonic() + self._probe_interval()
        return True

    def _connect_failed(self, e: Exception) -> None:
        self._streak += 1
        self.breaker_reason = self.config.redact(_reason(e))
        if not self._open and self._streak >= self.config.breaker_threshold:
            self._open = True
            self.breaker_trips += 1
            self._next_probe = time.monotonic() + self._probe_interval()
            log.warning(
                "%s: %s; failing requests at once, one probe every %.2f s",
                self.config.name,
                self.unreachable_message,
                self._probe_interval(),
            )

    def _reached(self) -> None:
        self._streak = 0
        if self._open:
            self._open = False
            log.info(
                "%s: %s answers again; the circuit breaker is closed",
                self.config.name,
                _redact_url(self.config.base_url),
            )

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            base = urlsplit(self.config.base_url)
            if "@" in base.netloc and "@" not in urlsplit(path_or_url).netloc and self._same_origin(path_or_url):
                parts = urlsplit(path_or_url)  # a URL stored without the base URL's credentials: put them back
                return urlunsplit(parts._replace(netloc=base.netloc.rpartition("@")[0] + "@" + parts.netloc))
            return path_or_url
        return self.config.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")

    async def request(
        self,
        method: str,
        url: str,
        *,
        auth: bool = True,
        safe_to_retry: bool | None = None,
        bearer: str | None = None,
        follow: bool = True,
        expect: Expect | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """Send with retries; returns the final response (callers map error statuses to JobError).

        ``auth=False`` for signed URLs. ``safe_to_retry`` defaults to True for GET/PUT/DELETE/HEAD.
        ``expect`` (e.g. ``JSON``) checks a 2xx answer's body: an unreadable one is retried like a 502.
        Raises ServiceUnreachable UNREACHABLE at once while the circuit breaker is open, and JobError
        RATE_LIMITED while the provider asked for a wait beyond ``retry_after_cap``.
        """
        self._setup()
        assert self._client and self._bucket and self._sem
        if safe_to_retry is None:
            safe_to_retry = method.upper() != "POST"
        if not safe_to_retry and "timeout" not in kw:
            kw["timeout"] = httpx.Timeout(max(self.config.timeout, self.config.unsafe_timeout), connect=10.0)
        target = self.url(url)
        headers = dict(kw.pop("headers", None) or {})
        # the breaker guards the provider's own origin: a storage host's trouble says nothing about it
        guarded = self._same_origin(target)
        if auth and guarded:
            headers.update(self.config.auth_headers(bearer=bearer))
        last_exc: Exception | None = None
        attempt = 0  # failures so far; a 429 is not a failure (nothing was processed) and has its own budget
        waited_429 = 0.0
        while attempt < self.config.max_attempts:
            while guarded and self._open and self._probing:
                await asyncio.sleep(0.01)  # a probe is out: its answer decides for this request too
            if guarded and self._denied():
                raise self._unreachable()
            if guarded and self._refusal and time.monotonic() < self._refused_until:
                raise self._refused()
            if auth:
                await self._bucket.acquire()
            try:
                async with self._sem:
                    while guarded and self._open and self._probing:
                        await asyncio.sleep(0.01)
                    probe = self._admit() if guarded else False  # checked again: the wait may have been long
                    try:
                        self.requests += 1
                        resp = await self._client.request(method, target, headers=headers, **kw)
                    finally:
                        if probe:
                            self._probing = False
            except NEVER_REACHED as e:
                last_exc = e  # never reached the server: always safe
                if guarded:
                    self._connect_failed(e)
                    if self._open or isinstance(e, httpx.UnsupportedProtocol):  # no retry can fix the URL
                        raise self._unreachable() from None
                elif isinstance(e, httpx.UnsupportedProtocol):
                    raise ServiceUnreachable(
                        self.config.name,
                        "UNREACHABLE",
                        f"{method} {_redact_url(target)}: {_reason(e)}",
                        hint=UNREACHABLE_HINT,
                    ) from None
            except httpx.PoolTimeout as e:
                last_exc = e  # never left this process
            except httpx.TransportError as e:
                last_exc = e
                if not safe_to_retry:
                    raise ServiceUnreachable(
                        self.config.name,
                        "CONNECTION_LOST",
                        f"{method} {_redact_url(target)}: {type(e).__name__}; the request may "
                        "have been processed, so it is not repeated automatically.",
                    ) from None
            else:
                if guarded:
                    self._reached()
                if resp.status_code == 429:
                    self.rate_limited += 1
                    delay = self._retry_after(resp)
                    if delay is not None and delay > self.config.retry_after_cap:
                        await resp.aclose()
                        refusal = self._refuse(delay, resp)
                        log.warning("%s: %s", self.config.name, refusal.message)
                        raise refusal
                    delay = delay if delay is not None else self._backoff(min(attempt + int(waited_429 > 0), 6))
                    self._bucket.pause(delay)
                    charge = max(delay, 0.5)  # a "reset now" answer still costs budget: no 429 busy loop
                    if waited_429 + charge <= self.config.rate_limit_budget:
                        waited_429 += charge  # e.g. SateAIs' 6th active job: wait for a slot, never fail
                        self.retries += 1
                        await resp.aclose()
                        await asyncio.sleep(max(delay, 0.01))
                        continue
                    return resp
                if resp.status_code in RETRY_ALWAYS or (resp.status_code in AMBIGUOUS and safe_to_retry):
                    last_exc = None
                    if attempt + 1 < self.config.max_attempts:
                        delay = self._retry_after(resp)
                        await resp.aclose()
                        attempt += 1
                        self.retries += 1
                        await asyncio.sleep(delay if delay is not None else self._backoff(attempt - 1))
                        continue
                    return resp
                if follow and resp.status_code in (301, 302, 303, 307, 308) and "location" in resp.headers:
                    # Redirect targets are pre-signed storage URLs: never forward credentials to them.
                    location = urljoin(target, resp.headers["location"])
                    return await self.request("GET", location, auth=False, safe_to_retry=True, expect=expect)
                why = expect(resp) if expect is not None and 200 <= resp.status_code < 300 else None
                if why is None:
                    return resp
                # a proxy's page or a cut-off body: the request got somewhere, the answer did not come back
                unreadable = f"HTTP {resp.status_code} with {why}"
                last_exc = None
                if not safe_to_retry:
                    raise ServiceUnreachable(
                        self.config.name,
                        "CONNECTION_LOST",
                        f"{method} {_redact_url(target)} was answered {unreadable}; the request may have been "
                        "processed, so it is not repeated automatically.",
                        http_status=resp.status_code,
                    )
                if attempt + 1 >= self.config.max_attempts:
                    raise JobError(
                        self.config.name,
                        UNREADABLE,
                        f"{method} {_redact_url(target)} was answered {unreadable} "
                        f"{self.config.max_attempts} times in a row (a proxy or gateway in the way?)",
                        http_status=resp.status_code,
                        hint="re-run the same call later: the job is followed again, nothing is paid twice",
                    )
                log.info("%s: %s %s answered %s; retrying", self.config.name, method, _redact_url(target), why)
            attempt += 1
            if attempt < self.config.max_attempts:
                self.retries += 1
                await asyncio.sleep(self._backoff(attempt - 1))
        raise ServiceUnreachable(
            self.config.name,
            "UNREACHABLE",
            f"{method} {_redact_url(target)} failed after {self.config.max_attempts} attempts: "
            f"{type(last_exc).__name__ if last_exc else 'server errors'}",
            hint=UNREACHABLE_HINT,
        )

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.config.base_url)  # credentials are not part of an origin
        return (a.scheme, a.netloc.rpartition("@")[2]) == (b.scheme, b.netloc.rpartition("@")[2])

    def _backoff(self, attempt: int) -> float:
        scale = self.config.time_scale
        base = max(self.config.backoff_base * max(scale, 0.02), 0.01)
        return min(self.config.backoff_cap, base * 2**attempt) * random.uniform(0.5, 1.0)

    @staticmethod
    def _retry_after(resp: httpx.Response) -> float | None:
        for name in ("retry-after", "ratelimit-reset"):
            value = resp.headers.get(name)
            if not value:
                continue
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(value).timestamp()
                    return max(0.0, when - time.time())
                except (TypeError, ValueError):
                    continue
        return None


def _redact_url(url: str) -> str:
    """Drop the query (signatures) and any user name or password from a URL shown in a message."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


_USERINFO = re.compile(r"(?<=://)[^/@\s\"']+@")


class _RedactCredentials(logging.Filter):
    """httpx logs each request's URL, credentials included (``http://user:secret@…``): masked here."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message and _USERINFO.search(message):
            record.msg, record.args = _USERINFO.sub("***@", message), ()
        return True


logging.getLogger("httpx").addFilter(_RedactCredentials())


def redact_url(url: str) -> str:
    """``url`` with its credentials masked (``https://user:secret@host/…`` -> ``https://***@host/…``), for
    whatever is shown or logged; the rest of the URL is kept."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def strip_credentials(url: str) -> str:
    """``url`` without its user name and password, for what is stored (the ledger): ``Transport.url`` puts
    the base URL's credentials back on a URL of the same origin."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
