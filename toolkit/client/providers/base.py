"""What a provider adapter supplies to the shared batch machinery: contract as data, a few verbs as code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from ..filedata import FileInput
from ..model import Job, JobError, Status
from ..transport import Transport


@dataclass(frozen=True)
class PollPolicy:
    """When to poll, from docs/contracts.md: first poll after submit, then interval x factor up to a cap (seconds)."""

    first: float
    interval: float
    factor: float = 1.5
    max_interval: float = 60.0
    max_unknown: int = 10  # consecutive unknown status words before giving up on a job


@dataclass
class Item:
    """One preflighted input, ready to submit: a label, its bytes (if any) and what the API call needs."""

    input: str
    content: bytes | FileInput | None = None  # a FileInput: a preflighted file, read again when sent
    options: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    inputs: int = 1  # how many of the user's inputs this one job carries (a face job: up to 100 roster rows)
    key: str | None = None  # a job already recorded (a roster's rows enrolled before): attached as it is
    #: what earlier versions of the toolkit keyed this input by (e.g. an AOI before it was normalised)
    aliases: tuple[bytes, ...] = ()


@dataclass
class PollResult:
    status: Status | None  # None: an unknown status word
    provider_status: str | None
    error_code: str | None = None
    error_message: str | None = None
    result: bytes | None = None  # the result itself, where the poll call returns it (saves a fetch)


class Adapter:
    """Base class: subclasses set the class attributes and implement create/poll/fetch."""

    name: str = ""
    policy: PollPolicy = PollPolicy(first=2.0, interval=2.0)
    statuses: dict[str, Status] = {}
    idempotent_create: bool = False  # create may be retried/replayed safely (Idempotency-Key)

    def __init__(self, transport: Transport, store: Callable[[bytes], str] | None = None) -> None:
        self.t = transport
        # puts extra bytes (e.g. Claid's output image) into the content-addressed cache; returns the digest
        self.store = store

    async def create(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        """Create (and upload, submit) the job; call ``record(job)`` the moment ``job.job_id`` is known."""
        raise NotImplementedError

    async def poll(self, job: Job) -> PollResult:
        raise NotImplementedError

    def policy_for(self, job: Job) -> PollPolicy:
        """The poll schedule of one job (e.g. per operation); by default the adapter's ``policy``."""
        return self.policy

    async def fetch(self, job: Job) -> bytes:
        """The result bytes of a succeeded job (stored as-is in the cache)."""
        raise NotImplementedError

    async def cancel(self, job: Job) -> bool:
        """Cancel a job that has not started; False where the API cannot cancel."""
        return False

    async def delete(self, job: Job) -> bool:
        """Delete the job (and its stored media) at the provider; False where the API has no delete."""
        return False

    def forget_create(self, job: Job) -> None:
        """The create never reached the provider (connection refused throughout): drop what marks it as sent,
        so a re-run sends it afresh. Adapters that keep their own marks clear them too."""
        job.meta.pop("create_sent", None)

    async def find(self, job: Job) -> bool:
        """After a create that was interrupted before its job id came back: look the job up at the provider.

        Return True when the lookup settles it: found (fill ``job.job_id``/``urls``; the job is adopted) or
        proven absent (leave ``job.job_id`` None; the create is sent again). Return False when it cannot
        tell: the batch then refuses to create again (SUBMISSION_UNCERTAIN). The default cannot look."""
        return False

    # -- helpers for subclasses ---------------------------------------------------------------------
    def error(self, resp: httpx.Response, job: Job | None = None, input: str | None = None) -> JobError:
        code, message = self.parse_error(resp)
        message = self.t.config.redact(message)  # a provider may echo the key (e.g. "invalid key sk_...")
        return JobError(
            self.name,
            code,
            message,
            http_status=resp.status_code,
            job_id=job.job_id if job else None,
            input=input or (job.input if job else None),
            hint=_HINTS.get(resp.status_code),
        )

    def parse_error(self, resp: httpx.Response) -> tuple[str | None, str]:
        """Provider error envelope -> (code, message); subclasses override for their envelope."""
        try:
            body = resp.json()
        except ValueError:
            return None, resp.text[:300] or resp.reason_phrase
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return err.get("code"), err.get("message", "")
        return None, str(body)[:300]

    def rebase(self, url: str) -> str:
        """A URL recorded earlier, re-pointed at the current sandbox origin (its port changes per process).
        Signed URLs (the sandbox's ``/storage/`` listener, another origin) stay as issued: that port is kept
        across restarts in the sandbox's data dir."""
        if not self.t.config.sandbox:
            return url
        from urllib.parse import urlsplit, urlunsplit

        base = urlsplit(self.t.config.base_url)
        u = urlsplit(url)
        if u.path.startswith("/storage/"):
            return url
        return urlunsplit((base.scheme, base.netloc, u.path, u.query, u.fragment))


_HINTS = {
    401: "check the API key (environment variable or Workspace(keys=...))",
    402: "the account has no credits left",
    403: "the key lacks a permission or scope for this call",
    413: "the input is larger than the provider accepts",
}
