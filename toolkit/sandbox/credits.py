"""Prepaid credits per key (``--credits PROVIDER=N``): every job a key creates costs one credit; with none left
the job-creating route answers 402 in the provider's envelope and creates nothing (docs/contracts.md, "Credits").

Balances live in memory: a restarted sandbox starts again from the configured values. A provider without a
``--credits`` option is unlimited.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .config import Tenant
from .spec import ApiError, ProviderSpec


class Credits:
    """Credits left per (provider, tenant id); a pair without an entry is unlimited."""

    def __init__(self, per_key: dict[str, int], tenants: list[Tenant], specs: dict[str, ProviderSpec]) -> None:
        self._lock = threading.Lock()
        self._specs = specs
        self._tenants = tenants
        self._left: dict[tuple[str, str], int] = {
            (t.provider, t.id): per_key[t.provider] for t in tenants if t.provider in per_key
        }

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
                    raise self.payment_required(provider)
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
        if provider not in self._specs:
            raise ValueError(f"unknown provider {provider!r} (one of {', '.join(self._specs)})")
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

    def payment_required(self, provider: str) -> ApiError:
        """The 402 in the provider's words (``ProviderSpec.payment_required``)."""
        code, message = self._specs[provider].payment_required
        return ApiError(provider, 402, code, message)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """provider -> tenant id -> credits left, for the limited tenants only."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for (provider, tenant_id), n in sorted(self._left.items()):
                out.setdefault(provider, {})[tenant_id] = n
        return out
