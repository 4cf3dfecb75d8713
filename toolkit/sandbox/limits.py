"""Per-key rate limits (token buckets), request body caps and seeded, deterministic fault injection."""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from typing import Iterable

from .spec import Decision, ProviderSpec

__all__ = ["BodyLimits", "BodyTooLarge", "Decision", "Faults", "RateLimiter", "draw_runtime"]

MiB = 1024 * 1024
JSON_BODY_LIMIT = 1 * MiB  # a route without a BodyLimit in its spec: JSON bodies are small
MULTIPART_SLACK = 64 * 1024  # per file part: headers and boundaries around the file bytes
CONTROL_BODY_LIMIT = 64 * 1024  # the /__sandbox__ control routes take a few small JSON fields
HEADER_TIMEOUT = 10.0  # seconds a connection has to send a request's head once it opened or began one
IDLE_TIMEOUT = 30  # seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive)
HEADER_LIMIT = 16 * 1024  # bytes of one request head (h11's incomplete-event cap)


class BodyTooLarge(Exception):
    """A request body (sent without Content-Length) grew past its route's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


class BodyLimits:
    """The largest request body (bytes) the sandbox reads on a path, from the specs' ``body_limits``; larger
    ones are answered 413. Built once at app creation from the providers it serves."""

    def __init__(self, specs: Iterable[ProviderSpec]) -> None:
        self._rules = [
            (prefix, rule.suffix, rule.limit)
            for s in specs
            for rule in s.body_limits
            for prefix in ([s.storage_prefix] if rule.storage else s.prefixes)
        ]

    def __call__(self, path: str) -> int:
        for prefix, suffix, limit in self._rules:
            if path.startswith(prefix + "/") and path.endswith(suffix):
                return limit
        return JSON_BODY_LIMIT


class RateLimiter:
    """Token buckets keyed by (tenant, bucket); several (n, window) limits may apply at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, int, float], list[float]] = {}

    def check(self, tenant: str, bucket: str, limits: list[tuple[int, float]]) -> Decision:
        if not limits:
            return Decision(True, 0.0, 0, 0, 0.0)
        now = time.monotonic()
        with self._lock:
            states = []
            for n, window in limits:
                b = self._buckets.setdefault((tenant, bucket, n, window), [float(n), now])
                rate = n / window
                b[0] = min(float(n), b[0] + (now - b[1]) * rate)
                b[1] = now
                states.append((b, n, window, rate))
            allowed = all(b[0] >= 1.0 for b, *_ in states)
            if allowed:
                for b, *_ in states:
                    b[0] -= 1.0
            retry_after = max(((1.0 - b[0]) / rate for b, _, _, rate in states if b[0] < 1.0), default=0.0)
            tight = min(states, key=lambda s: s[0][0] / s[1])
            b, n, window, rate = tight
            return Decision(
                allowed=allowed,
                retry_after=retry_after,
                limit=n,
                remaining=max(0, math.floor(b[0])),
                reset=(n - b[0]) / rate,
            )


class Faults:
    """Draws injected faults from a seeded stream per provider, so a run is reproducible."""

    def __init__(self, rates: dict[str, dict[str, float]], seed: int) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._rates = rates
        self._rngs = {p: random.Random(f"{seed}:{p}") for p in rates}

    @property
    def rates(self) -> dict[str, dict[str, float]]:
        return self._rates

    def set_rates(self, rates: dict[str, dict[str, float]]) -> None:
        with self._lock:
            self._rates = rates

    def draw(self, provider: str) -> str | None:
        """The fault for the next request to ``provider`` (``5xx``, ``429``, ``drop``, ``slow``) or None."""
        rates = self._rates.get(provider) or {}
        if not any(rates.get(k) for k in ("5xx", "429", "drop", "slow")):
            return None
        with self._lock:
            x = self._rngs.setdefault(provider, random.Random(f"{self.seed}:{provider}")).random()
        for kind in ("5xx", "429", "drop", "slow"):
            p = rates.get(kind, 0.0)
            if x < p:
                return kind
            x -= p
        return None

    def job_fails(self, provider: str, job_id: str) -> bool:
        """Whether an injected failure hits this job: a function of the seed and ``job_id`` (pass the input
        digest where known, so the same inputs fail the same way in every run)."""
        p = (self._rates.get(provider) or {}).get("fail", 0.0)
        if p <= 0:
            return False
        h = hashlib.sha256(f"{self.seed}:fail:{job_id}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64 < p


def draw_runtime(seed: int, job_id: str, median: float, spread: float) -> float:
    """A lognormal runtime around ``median`` seconds, deterministic for (seed, job id)."""
    if median <= 0:
        return 0.0
    rng = random.Random(f"{seed}:runtime:{job_id}")
    return median * math.exp(rng.gauss(0.0, spread))
