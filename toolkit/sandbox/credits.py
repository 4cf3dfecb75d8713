"""Prepaid credits per key (``--credits PROVIDER=N``): every job a key creates costs one credit; with none left
the job-creating route answers 402 in the provider's envelope and creates nothing (contracts.md, "Credits").

Balances live in memory: a restarted sandbox starts again from the configured values. A provider without a
``--credits`` option is unlimited.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .config import PROVIDERS, Tenant

if TYPE_CHECKING:
    from .core import ApiError

#: provider -> (error code, message) of its 402. Documented: Authenta INSUFFICIENT_BALANCE, SateAIs
#: INSUFFICIENT_CREDITS, Claid "No API calls left" (its code 3000/billing is PC); Animal Detect documents only
#: "Credit limit exceeded" (code PC); the face service documents no 402 (PC).
PAYMENT_REQUIRED: dict[str, tuple[str, str]] = {
    "animaldetect": ("CREDIT_LIMIT_EXCEEDED", "Credit limit exceeded: this API key has no credits left."),
    "sateais": ("INSUFFICIENT_CREDITS", "Insufficient credits: this API key has no credits left."),
    "authenta": ("INSUFFICIENT_BALANCE", "Insufficient balance: this API key has no credits left."),
    "claid": ("3000", "No API calls left."),
    "faces": ("INSUFFICIENT_CREDITS", "Insufficient credits: this API key has no credits left."),
}


class Credits:
    """Credits left per (provider, tenant id); a pair without an entry is unlimited."""

    def __init__(self, per_key: dict[str, int], tenants: list[Tenant]) -> None:
        self._lock = threading.Lock()
        self._tenants = tenants
        self._left: dict[tuple[str, str], int] = {
            (t.provider, t.id): per_key[t.provider] for t in tenants if t.provider in per_key}

    def left(self, provider: str, tenant_id: str) -> int | None:
        """Credits the tenant has left; None when unlimited."""
        with self._lock:
            return self._left.get((provider, tenant_id))

    @contextmanager
    def charge(self, provider: str, tenant_id: str) -> Iterator[None]:
        """Take one credit for the job created inside the block; 402 (nothing taken) when none is left, and
        the credit back if the block raises (no job was created)."""
        key = (provider, tenant_id)
        with self._lock:
            n = self._left.get(key)
            if n is not None:
                if n <= 0:
                    raise payment_required(provider)
                self._left[key] = n - 1
        try:
            yield
        except BaseException:
            if n is not None:
                with self._lock:
                    self._left[key] = self._left.get(key, 0) + 1
            raise

    def set(self, provider: str, key: str | None, credits: int | None) -> int:
        """Give ``credits`` (None: unlimited) to the tenant with API key ``key``, or to every key of ``provider``
        when ``key`` is None; how many tenants changed (0: no such key)."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r} (one of {', '.join(PROVIDERS)})")
        if credits is not None and (isinstance(credits, bool) or not isinstance(credits, int) or credits < 0):
            raise ValueError("credits must be a whole number >= 0, or null for unlimited")
        targets = [t for t in self._tenants if t.provider == provider and (key is None or t.key == key)]
        with self._lock:
            for t in targets:
                if credits is None:
                    self._left.pop((provider, t.id), None)
                else:
                    self._left[(provider, t.id)] = credits
        return len(targets)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """provider -> tenant id -> credits left, for the limited tenants only."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for (provider, tenant_id), n in sorted(self._left.items()):
                out.setdefault(provider, {})[tenant_id] = n
        return out


def payment_required(provider: str) -> "ApiError":
    from .core import ApiError  # core builds a Credits: imported here, not at the top

    code, message = PAYMENT_REQUIRED[provider]
    return ApiError(provider, 402, code, message)
