"""The one job model every provider maps onto: Status, Job, and typed errors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """Unified job status (docs/contracts.md §6). ``expired`` is derived by the client, never reported."""

    DRAFT = "draft"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.EXPIRED})

#: the one status vocabulary of every table the toolkit builds, outcomes first; ``rejected`` is an input refused
#: before anything was sent. Every loader's status column uses these categories, so frames concatenate as such.
STATUS_CATEGORIES: tuple[str, ...] = (
    "succeeded",
    "failed",
    "expired",
    "cancelled",
    "running",
    "queued",
    "draft",
    "rejected",
)


def map_status(value: Any, table: dict[str, Status]) -> Status | None:
    """Map a provider status word case-insensitively; None for an unknown word (non-terminal, bounded)."""
    return table.get(str(value).strip().lower()) if value is not None else None


@dataclass
class Job:
    """One unit of work as the ledger knows it: an input submitted (or about to be) to a provider."""

    key: str  # idempotency key: hash(provider, operation, options, input bytes)
    provider: str
    operation: str
    input: str  # what the user gave: a path, an AOI name, a roster slice
    batch_id: str
    status: Status = Status.DRAFT
    job_id: str | None = None  # the provider's id, as soon as known
    provider_status: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    created_at: float = field(default_factory=time.time)
    submitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    result_digest: str | None = None  # content address of the cached result
    urls: dict[str, str] = field(default_factory=dict)  # status/result URLs the provider returned
    options: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # provider-specific (e.g. file size, slot info)

    @property
    def done(self) -> bool:
        return self.status.terminal

    def error(self) -> "JobError | None":
        if self.error_code is None and self.error_message is None:
            return None
        return JobError(
            self.provider,
            self.error_code,
            self.error_message or "",
            http_status=self.http_status,
            job_id=self.job_id,
            input=self.input,
        )


class ToolkitError(Exception):
    """Base of every error the toolkit raises."""


class ConfigurationError(ToolkitError):
    """A key, base URL or option is missing or malformed."""


class InvalidOption(ToolkitError, ValueError):
    """An option a call does not have (with the nearest one it does), or a value outside its range."""


class UnknownBatch(ToolkitError, KeyError):
    """No batch with that id in the workspace's ledger."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class WaitTimeout(ToolkitError, TimeoutError):
    """``Batch.wait(timeout=...)`` ran out before every job finished (the jobs keep running)."""


class JobError(ToolkitError):
    """A provider refused or failed a job; carries the provider's code and message, the job id and the input."""

    def __init__(
        self,
        provider: str,
        code: str | None,
        message: str,
        *,
        http_status: int | None = None,
        job_id: str | None = None,
        input: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.provider = provider
        self.code = code
        self.message = message
        self.http_status = http_status
        self.job_id = job_id
        self.input = input
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"{self.provider}"]
        if self.http_status:
            parts.append(f"HTTP {self.http_status}")
        if self.code:
            parts.append(str(self.code))
        head = " ".join(parts)
        where = f" [input {self.input}]" if self.input else ""
        job = f" [job {self.job_id}]" if self.job_id else ""
        hint = f" — {self.hint}" if self.hint else ""
        return f"{head}: {self.message}{where}{job}{hint}"


class PreflightError(JobError):
    """Bad input caught before anything was sent or paid for."""

    def __init__(self, provider: str, input: str, reason: str, code: str = "PREFLIGHT") -> None:
        super().__init__(provider, code, reason, input=input)

    def __str__(self) -> str:
        return f"{self.input}: {self.message} (not sent to {self.provider})"


class TransportError(JobError):
    """The provider could not be reached or kept failing after retries."""
