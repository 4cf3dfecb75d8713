"""The one job model every provider maps onto: Status, Job, and typed errors."""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping


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


#: display order of the statuses (monitor, CLI, text forms): outcomes first, then what is still under way
ORDER: tuple[str, ...] = ("succeeded", "failed", "running", "queued", "draft", "cancelled", "expired")

#: unified status -> what the display says
LABELS: dict[str, str] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "running": "running",
    "queued": "waiting at the service",
    "draft": "not sent yet",
    "cancelled": "cancelled",
    "expired": "result expired",
    "rejected": "rejected before sending",
}


def label(status: str) -> str:
    """The display label of a unified status (``"draft"`` -> ``"not sent yet"``); unknown words as they are."""
    return LABELS.get(status, status)


def count_phrase(counts: Mapping[str, int], order: tuple[str, ...] = ORDER) -> str:
    """``"12 succeeded, 2 failed, 3 not sent yet"``: the non-zero counts in display order, labelled."""
    return ", ".join(f"{counts[s]} {label(s)}" for s in order if counts.get(s))


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


class WrongLoader(ToolkitError, AttributeError):
    """A loader called on another provider's batch (``.detections()`` on an Authenta batch): names the one that fits."""


class UnknownBatch(ToolkitError, KeyError):
    """No batch with that id in the workspace's ledger."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BatchTimeout(ToolkitError, TimeoutError):
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
    """Bad input caught before anything was sent or paid for.

    One refused input (``input``, ``message``: the reason), as held in ``batch.rejected``; or, raised by a call
    whose every input was refused (``PreflightError.every_input``), all of them: ``rejected`` lists them and
    ``reasons`` gives the (input, reason) pairs; its text names each on a line of its own.
    """

    def __init__(
        self,
        provider: str,
        input: str | None,
        reason: str,
        code: str = "PREFLIGHT",
        *,
        rejected: "list[PreflightError] | None" = None,
    ) -> None:
        self._rejected = list(rejected) if rejected is not None else None
        super().__init__(provider, code, reason, input=input)

    @classmethod
    def every_input(cls, provider: str, operation: str, rejected: "list[PreflightError]") -> "PreflightError":
        """The error of a call in which every input was refused (or none was given): nothing sent or recorded."""
        if not rejected:
            rejected = [cls(provider, "(no input)", "the call was given no inputs")]
        n = len(rejected)
        head = f"{provider} {operation}: {'the input was' if n == 1 else f'all {n} inputs were'} rejected"
        return cls(provider, None, head, "ALL_REJECTED", rejected=rejected)

    @property
    def rejected(self) -> "list[PreflightError]":
        """Every refused input this error stands for (itself when it is about one input)."""
        return list(self._rejected) if self._rejected is not None else [self]

    @property
    def reasons(self) -> list[tuple[str, str]]:
        """(input, reason) of every refused input."""
        return [(e.input or "", e.message) for e in self.rejected]

    def __str__(self) -> str:
        if self._rejected is None:
            return f"{self.input}: {self.message} (not sent to {self.provider})"
        lines = "".join(f"\n  {i}: {r}" for i, r in self.reasons)
        return f"{self.message}, nothing was sent:{lines}"


class RejectedInputs(UserWarning):
    """Some inputs of a call were refused before sending (the others were submitted); each is named."""


class UnsettledBatch(UserWarning):
    """A loader read a batch whose jobs are not all finished: the frame holds only what is there so far."""


class ServiceUnreachable(JobError):
    """The provider could not be reached (``UNREACHABLE``: no connection, or still failing after the retries)
    or the connection dropped mid-request (``CONNECTION_LOST``). Not ``httpx.TransportError``, which the
    transport turns into this."""


class NoResults(UserWarning):
    """A loader read a settled batch none of whose jobs succeeded: its frame is empty for that reason."""


#: the code of a file a folder holds that is not of the operation's kind (``labels.csv`` beside the photos):
#: skipped and counted (``batch.skipped``), not a refused input
SKIPPED = "SKIPPED"


def skipped_text(provider: str, operation: str, skipped: list[str], accepted: list[Any]) -> str:
    """``"animaldetect detect: 36 images, 1 other file skipped (labels.csv)"``: what a folder held besides."""
    images = all(str(getattr(it, "meta", {}).get("content_type", "")).startswith("image/") for it in accepted)
    noun = ("image" if images else "file") + ("s" if len(accepted) != 1 else "")
    names = ", ".join(os.path.basename(s) for s in skipped[:3]) + (", …" if len(skipped) > 3 else "")
    other = f"{len(skipped)} other file{'s' if len(skipped) != 1 else ''}"
    return f"{provider} {operation}: {len(accepted)} {noun}, {other} skipped ({names})"


#: How many refused inputs a warning or a repr names one by one (``batch.rejected`` holds all of them).
SHOWN = 50


def rejected_text(
    provider: str, operation: str, rejected: list[PreflightError], accepted: int, jobs: int | None = None
) -> str:
    """The ``RejectedInputs`` message: how many were refused, then each input and its reason. ``jobs``: how many
    jobs the ``accepted`` inputs make, where that differs (face rows go in jobs of up to 100)."""
    n = len(rejected)
    into = f" in {jobs} job{'s' if jobs != 1 else ''}" if jobs is not None and jobs != accepted else ""
    head = (
        f"{provider} {operation}: {n} of {n + accepted} inputs rejected before sending "
        f"(the other {accepted} {'was' if accepted == 1 else 'were'} submitted{into}; batch.rejected lists them):"
    )
    lines = "".join(f"\n  {e.input}: {e.message}" for e in rejected[:SHOWN])
    return head + lines + (f"\n  ... and {n - SHOWN} more" if n > SHOWN else "")


def warn_user(warning: Warning) -> None:
    """Issue ``warning`` at the first caller outside the toolkit (the notebook cell or script that made the
    call), so it is shown there, whichever internal path raised it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(root + os.sep):
        frame, level = frame.f_back, level + 1
    _show_in_jupyter()
    warnings.warn(warning, stacklevel=level)


def _show_in_jupyter() -> None:
    """In a Jupyter kernel, the toolkit's warnings are shown as one formatted block (no ``ipykernel_…py:1:``
    path, no echo of the cell's source line, not a pink stderr box); the warning filters still decide whether
    (and how often) one is shown. Other warnings are shown as before."""
    from ..widgets.notice import kernel_shell

    shown = warnings.showwarning
    if getattr(shown, "__toolkit__", False) or kernel_shell() is None:
        return

    def showwarning(
        message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        if not category.__module__.startswith("toolkit.") or file is not None:
            return shown(message, category, filename, lineno, file, line)
        from ..widgets.notice import warning_display

        warning_display(category.__name__, str(message))

    showwarning.__toolkit__ = True  # type: ignore[attr-defined]
    warnings.showwarning = showwarning
