"""Sandbox configuration: tenants (keys), time scale, faults, rate limits, runtimes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

PROVIDERS: tuple[str, ...] = ("animaldetect", "sateais", "authenta", "claid", "faces")

#: Keys every sandbox accepts when no ``--key`` is given (documented in the README).
DEMO_KEYS: dict[str, str] = {
    "animaldetect": "sk_sandbox_animaldetect",
    "sateais": "sk_live_sandbox_sateais",
    "authenta": "api_apikey_sandbox_authenta",
    "claid": "claid_sandbox_key",
    "faces": "fr_live_sandbox_faces",
}
DEFAULT_ORG = "sandbox-org"
DEFAULT_COLLECTION = "sandbox-collection"

#: Median processing time in seconds (before ``time_scale``), from the documented typical runtimes.
TYPICAL_RUNTIMES: dict[str, float] = {
    "animaldetect": 4.0,
    "sateais": 600.0,  # per-type values live in the SateAIs provider module
    "authenta": 30.0,
    "claid": 3.0,
    "faces": 5.0,
}

#: Documented windows in seconds (before ``time_scale``).
DAY = 86400.0
WINDOWS: dict[str, float] = {
    "animaldetect.upload_url": 3600.0,
    "animaldetect.retention": 30 * DAY,
    "animaldetect.idempotency": DAY,
    "sateais.retention": 30 * DAY,
    "sateais.storage_url": 3600.0,
    "authenta.upload_url": 3600.0,
    "authenta.retention": 30 * DAY,
    "authenta.artifact_url": 3600.0,
    "claid.retention": DAY,
    "claid.upload_url": 3600.0,
    "faces.retention": 7 * DAY,
}

#: Rate limits as (bucket -> [(requests, window seconds), ...]) per provider. Real time, not scaled.
#: Animal Detect uses the Growth plan figures; override with ``--rate-limit``.
DEFAULT_RATE_LIMITS: dict[str, dict[str, list[tuple[int, float]]]] = {
    "animaldetect": {"inference": [(1000, 60.0)], "reference": [(1000, 60.0)]},
    "sateais": {"api": [(50, 5.0)]},  # 10 rps with a burst of 50
    "authenta": {},  # "No API call quotas"
    "claid": {"api": [(120, 60.0), (4, 1.0)]},
    "faces": {"api": [(600, 60.0)]},
}

FAULT_KINDS: tuple[str, ...] = ("5xx", "429", "drop", "slow", "fail")


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
    def parse(cls, spec: str) -> "Tenant":
        """Parse ``PROVIDER:KEY`` or, for faces, ``faces:KEY@ORG/COLLECTION``."""
        provider, sep, rest = spec.partition(":")
        if not sep or provider not in PROVIDERS or not rest:
            raise ConfigError(f"--key {spec!r}: expected PROVIDER:KEY with PROVIDER one of {', '.join(PROVIDERS)}")
        if provider == "faces" and "@" in rest:
            key, _, scope = rest.partition("@")
            org, slash, collection = scope.partition("/")
            if not slash or not org or not collection or not key:
                raise ConfigError(f"--key faces:...: expected faces:KEY@ORG/COLLECTION, got {spec.split(':')[0]}:…@{scope}")
            return cls(provider, key, org, collection)
        return cls(provider, rest)


def parse_faults(spec: str | None) -> dict[str, dict[str, float]]:
    """Parse ``5xx=0.1,429=0.05`` (every provider) or ``authenta.fail=0.2`` (one provider).

    Returns provider -> kind -> probability. Kinds: 5xx, 429, drop, slow, fail.
    """
    rates: dict[str, dict[str, float]] = {p: {} for p in PROVIDERS}
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
        targets = [provider] if dot else list(PROVIDERS)
        if dot and provider not in PROVIDERS:
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


def parse_rate_limit(spec: str) -> tuple[str, str, list[tuple[int, float]]]:
    """Parse ``PROVIDER[.BUCKET]=N/SECONDS[+N/SECONDS]``, e.g. ``claid=120/60+4/1`` or ``animaldetect.inference=60/60``."""
    name, sep, value = spec.partition("=")
    provider, _, bucket = name.partition(".")
    if not sep or provider not in PROVIDERS:
        raise ConfigError(f"--rate-limit {spec!r}: expected PROVIDER[.BUCKET]=N/SECONDS")
    limits = []
    for item in value.split("+"):
        n, slash, secs = item.partition("/")
        try:
            limits.append((int(n), float(secs if slash else 60.0)))
        except ValueError:
            raise ConfigError(f"--rate-limit {spec!r}: {item!r} is not N/SECONDS") from None
    return provider, bucket, limits


def check_credits(credits: dict[str, int]) -> dict[str, int]:
    """``credits`` (provider -> credits per key, see ``credits.py``), checked: known providers, whole numbers >= 0."""
    for provider, n in credits.items():
        if provider not in PROVIDERS:
            raise ConfigError(f"--credits {provider}=...: unknown provider (one of {', '.join(PROVIDERS)})")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"--credits {provider}={n!r}: credits must be a whole number >= 0")
    return dict(credits)


def parse_credits(spec: str) -> tuple[str, int]:
    """Parse ``PROVIDER=N``, e.g. ``authenta=100``: each key of the provider starts with N credits."""
    provider, sep, value = spec.partition("=")
    if not sep or provider not in PROVIDERS:
        raise ConfigError(f"--credits {spec!r}: expected PROVIDER=N with PROVIDER one of {', '.join(PROVIDERS)}")
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(f"--credits {spec!r}: {value!r} is not a whole number") from None
    check_credits({provider: n})
    return provider, n


@dataclass
class SandboxConfig:
    """Everything a sandbox instance needs. All windows and runtimes are multiplied by ``time_scale``."""

    host: str = "127.0.0.1"
    port: int = 8787
    data_dir: Path | None = None  # None: a fresh temporary directory
    time_scale: float = 1.0
    faults: dict[str, dict[str, float]] = field(default_factory=lambda: parse_faults(None))
    seed: int = 0
    tenants: list[Tenant] = field(default_factory=list)
    rate_limits: dict[str, dict[str, list[tuple[int, float]]]] = field(
        default_factory=lambda: {p: dict(b) for p, b in DEFAULT_RATE_LIMITS.items()}
    )
    runtimes: dict[str, float] = field(default_factory=dict)  # provider -> median seconds override
    runtime_spread: float = 0.5  # sigma of the lognormal runtime distribution
    workers: int = 4
    slow_seconds: float = 2.0  # how long a "slow" fault delays an answer (real seconds)
    authenta_envelope: str = "both"  # "both" | "flat" | "wrapped"
    credits: dict[str, int] = field(default_factory=dict)  # provider -> credits per key; absent: unlimited

    def __post_init__(self) -> None:
        if self.time_scale < 0:
            raise ConfigError("--time-scale must be >= 0")
        if self.authenta_envelope not in ("both", "flat", "wrapped"):
            raise ConfigError("authenta_envelope must be both, flat or wrapped")
        if not self.tenants:
            self.tenants = [Tenant(p, k) for p, k in DEMO_KEYS.items()]
        if isinstance(self.faults, str):
            self.faults = parse_faults(self.faults)
        self.credits = check_credits(self.credits)

    def window(self, name: str) -> float:
        """A documented time window (``WINDOWS``) in real seconds after scaling."""
        return WINDOWS[name] * self.time_scale

    def set_credits(self, spec: str) -> None:
        """Apply one ``--credits PROVIDER=N`` option."""
        provider, n = parse_credits(spec)
        self.credits[provider] = n

    def set_rate_limit(self, spec: str) -> None:
        provider, bucket, limits = parse_rate_limit(spec)
        buckets = self.rate_limits.setdefault(provider, {})
        for b in [bucket] if bucket else (list(buckets) or ["api"]):
            buckets[b] = limits
