"""Sandbox configuration: tenants (keys), time scale, faults, rate limits, runtimes.

Holds no per-provider table: defaults (demo keys, windows, rate limits) come from each provider's
``ProviderSpec`` (``spec.registered()`` plus ``SandboxConfig.extra_providers``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .spec import Limits, ProviderSpec, registered

DEFAULT_ORG = "sandbox-org"
DEFAULT_COLLECTION = "sandbox-collection"
DAY = 86400.0
FAULT_KINDS: tuple[str, ...] = ("5xx", "429", "drop", "slow", "fail")


def __getattr__(name: str) -> Any:
    """Views of the registered providers' specs, kept for callers of the former tables."""
    specs = registered()
    if name == "PROVIDERS":  # names, in registration order
        return tuple(s.name for s in specs)
    if name == "DEMO_KEYS":
        return {s.name: s.demo_key for s in specs}
    if name == "WINDOWS":  # "provider.window" -> seconds before time_scale
        return {f"{s.name}.{w}": secs for s in specs for w, secs in s.windows.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _names(providers: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(providers) if providers is not None else tuple(s.name for s in registered())


class ConfigError(ValueError):
    """A sandbox option could not be parsed."""


@dataclass(frozen=True)
class Tenant:
    """One API key of one provider. ``id`` is a digest, safe to store and show; the key never is."""

    provider: str
    key: str = field(repr=False)
    org: str = DEFAULT_ORG
    collection: str = DEFAULT_COLLECTION

    @property
    def id(self) -> str:
        return "t_" + hashlib.sha256(f"{self.provider}:{self.key}".encode()).hexdigest()[:12]

    @classmethod
    def parse(cls, spec: str, specs: Iterable[ProviderSpec] | None = None) -> "Tenant":
        """Parse ``PROVIDER:KEY`` or, for a provider with scoped keys (faces), ``PROVIDER:KEY@ORG/COLLECTION``.
        ``specs``: the providers to accept (default: the registered ones)."""
        known = {s.name: s for s in (registered() if specs is None else specs)}
        provider, sep, rest = spec.partition(":")
        if not sep or provider not in known or not rest:
            raise ConfigError(f"--key {spec!r}: expected PROVIDER:KEY with PROVIDER one of {', '.join(known)}")
        if known[provider].scoped_keys and "@" in rest:
            key, _, scope = rest.partition("@")
            org, slash, collection = scope.partition("/")
            if not slash or not org or not collection or not key:
                raise ConfigError(
                    f"--key {provider}:...: expected {provider}:KEY@ORG/COLLECTION, got {spec.split(':')[0]}:…@{scope}"
                )
            return cls(provider, key, org, collection)
        return cls(provider, rest)


def parse_faults(spec: str | None, providers: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """Parse ``5xx=0.1,429=0.05`` (every provider) or ``authenta.fail=0.2`` (one provider).

    Returns provider -> kind -> probability. Kinds: 5xx, 429, drop, slow, fail. ``providers``: the names to
    accept (default: the registered providers).
    """
    names = _names(providers)
    rates: dict[str, dict[str, float]] = {p: {} for p in names}
    if not spec:
        return rates
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"--faults {part!r}: expected KIND=PROBABILITY")
        provider, dot, kind = name.rpartition(".")
        targets = [provider] if dot else list(names)
        if dot and provider not in names:
            raise ConfigError(f"--faults {part!r}: unknown provider {provider!r}")
        if kind not in FAULT_KINDS:
            raise ConfigError(f"--faults {part!r}: unknown kind {kind!r} (one of {', '.join(FAULT_KINDS)})")
        try:
            p = float(value)
        except ValueError:
            raise ConfigError(f"--faults {part!r}: {value!r} is not a number") from None
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"--faults {part!r}: probability must be within 0..1")
        for t in targets:
            rates[t][kind] = p
    return rates


def parse_rate_limit(spec: str, providers: Iterable[str] | None = None) -> tuple[str, str, Limits]:
    """Parse ``PROVIDER[.BUCKET]=N/SECONDS[+N/SECONDS]``, e.g. ``claid=120/60+4/1`` or ``animaldetect.inference=60/60``."""
    name, sep, value = spec.partition("=")
    provider, _, bucket = name.partition(".")
    if not sep or provider not in _names(providers):
        raise ConfigError(f"--rate-limit {spec!r}: expected PROVIDER[.BUCKET]=N/SECONDS")
    limits = []
    for item in value.split("+"):
        n, slash, secs = item.partition("/")
        try:
            limits.append((int(n), float(secs if slash else 60.0)))
        except ValueError:
            raise ConfigError(f"--rate-limit {spec!r}: {item!r} is not N/SECONDS") from None
    return provider, bucket, limits


def check_credits(credits: dict[str, int], providers: Iterable[str] | None = None) -> dict[str, int]:
    """``credits`` (provider -> credits per key, see ``credits.py``), checked: known providers, whole numbers >= 0."""
    names = _names(providers)
    for provider, n in credits.items():
        if provider not in names:
            raise ConfigError(f"--credits {provider}=...: unknown provider (one of {', '.join(names)})")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"--credits {provider}={n!r}: credits must be a whole number >= 0")
    return dict(credits)


def parse_credits(spec: str, providers: Iterable[str] | None = None) -> tuple[str, int]:
    """Parse ``PROVIDER=N``, e.g. ``authenta=100``: each key of the provider starts with N credits."""
    names = _names(providers)
    provider, sep, value = spec.partition("=")
    if not sep or provider not in names:
        raise ConfigError(f"--credits {spec!r}: expected PROVIDER=N with PROVIDER one of {', '.join(names)}")
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(f"--credits {spec!r}: {value!r} is not a whole number") from None
    check_credits({provider: n}, names)
    return provider, n


@dataclass
class SandboxConfig:
    """Everything a sandbox instance needs. All windows and runtimes are multiplied by ``time_scale``.

    ``extra_providers``: specs served by this sandbox besides the registered ones (a provider defined outside
    the toolkit, e.g. in a test). Options naming a provider (faults, rate limits, credits) accept them too.
    """

    host: str = "127.0.0.1"
    port: int = 8787
    data_dir: Path | None = None  # None: a fresh temporary directory
    time_scale: float = 1.0
    faults: dict[str, dict[str, float]] = field(default_factory=lambda: parse_faults(None))
    seed: int = 0
    tenants: list[Tenant] = field(default_factory=list)  # empty: each provider's demo key
    rate_limits: dict[str, dict[str, Limits]] | None = None  # None: each provider's spec.rate_limits
    runtimes: dict[str, float] = field(default_factory=dict)  # provider -> median seconds override
    runtime_spread: float = 0.5  # sigma of the lognormal runtime distribution
    workers: int = 4
    slow_seconds: float = 2.0  # how long a "slow" fault delays an answer (real seconds)
    authenta_envelope: str = "both"  # "both" | "flat" | "wrapped" (checked by the Authenta spec)
    credits: dict[str, int] = field(default_factory=dict)  # provider -> credits per key; absent: unlimited
    extra_providers: list[ProviderSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.specs: dict[str, ProviderSpec] = {s.name: s for s in registered()}
        for s in self.extra_providers:
            if s.name in self.specs:
                raise ConfigError(f"extra provider {s.name!r}: a provider of that name is already served")
            self.specs[s.name] = s
        if self.time_scale < 0:
            raise ConfigError("--time-scale must be >= 0")
        if not self.tenants:
            self.tenants = [Tenant(s.name, s.demo_key) for s in self.specs.values()]
        if isinstance(self.faults, str):
            self.faults = parse_faults(self.faults, self.specs)
        for name in self.specs:
            self.faults.setdefault(name, {})
        if self.rate_limits is None:
            self.rate_limits = {s.name: {b: list(v) for b, v in s.rate_limits.items()} for s in self.specs.values()}
        self.credits = check_credits(self.credits, self.specs)
        for s in self.specs.values():
            if s.check_config is not None:
                s.check_config(self)

    def window(self, name: str) -> float:
        """A provider's time window ``"provider.window"`` (``ProviderSpec.windows``) in real seconds after scaling."""
        provider, _, window = name.partition(".")
        return self.specs[provider].windows[window] * self.time_scale

    def set_credits(self, spec: str) -> None:
        """Apply one ``--credits PROVIDER=N`` option."""
        provider, n = parse_credits(spec, self.specs)
        self.credits[provider] = n

    def set_rate_limit(self, spec: str) -> None:
        provider, bucket, limits = parse_rate_limit(spec, self.specs)
        buckets = self.rate_limits.setdefault(provider, {})
        for b in [bucket] if bucket else (list(buckets) or ["api"]):
            buckets[b] = limits
