"""What a workspace's jobs cost, in each provider's own billing unit (docs/contracts.md §7 and each provider's
section): a pure function of the ledger's jobs, nothing is asked of any service.

A job is charged when the provider accepted its create (it has a provider job id, §7), with the exceptions the
providers document: SateAIs charges nothing for a failed job, Authenta charges once processing starts. Where a
provider documents no price, the unit is its jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from ..client.model import Status
from .jobs import _job_objects

__all__ = ["costs", "BILLING", "COLUMNS"]

COLUMNS = ["jobs", "sent", "inputs", "billed", "unit", "basis"]
_STARTED = {Status.RUNNING, Status.SUCCEEDED, Status.FAILED}


@dataclass(frozen=True)
class Billing:
    """A provider's billing unit, which of its sent jobs are charged, and where that is written."""

    unit: str
    charged: Callable[[Any], bool]
    basis: str


def _any(job: Any) -> bool:
    return True


BILLING: dict[str, Billing] = {
    "animaldetect": Billing(
        "credits",
        _any,
        "1 credit per image: one job per image, 402 'Credit limit exceeded' when none are left (contracts §1, §7)",
    ),
    "sateais": Billing(
        "credits",
        lambda j: Status(j.status) is not Status.FAILED,
        "credits per analysis job, none for a failed one (contracts §2); 1 per job in the sandbox, "
        "ws.sateais.preview() gives a job's estimate",
    ),
    "authenta": Billing(
        "credits",
        lambda j: Status(j.status) in _STARTED,
        "credits per job, charged once processing starts (contracts §3, §7)",
    ),
    "claid": Billing(
        "API calls",
        _any,
        "1 API call per image edit, 402 'No API calls left' when none are left (contracts §4, §7)",
    ),
    "faces": Billing(
        "jobs",
        _any,
        "no price documented (contracts §5): counted in batch jobs; the sandbox takes 1 credit per batch job (§7)",
    ),
}


def costs(source: Any, providers: list[str] | None = None, since: Any = None) -> pd.DataFrame:
    """One row per provider (index ``provider``) of a Workspace, Batch or list of jobs: ``jobs`` recorded,
    ``sent`` (accepted by the provider: they have a provider job id), ``inputs`` those carried (images, AOIs,
    media files, faces), ``billed`` in the provider's ``unit`` (credits, API calls, or jobs where no price is
    documented) and the ``basis`` of that count. ``providers`` keeps only those; ``since`` (a date or
    timestamp, UTC unless it says otherwise) only the jobs created from then on."""
    jobs = list(_job_objects(source))
    if providers is not None:
        jobs = [j for j in jobs if j.provider in set(providers)]
    if since is not None:
        start = pd.Timestamp(since)
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        jobs = [j for j in jobs if pd.Timestamp(j.created_at, unit="s", tz="UTC") >= start]
    rows = []
    order = list(BILLING)
    for name in sorted({j.provider for j in jobs}, key=lambda p: (order.index(p) if p in order else len(order), p)):
        mine = [j for j in jobs if j.provider == name]
        sent = [j for j in mine if j.job_id is not None]
        billing = BILLING.get(name, Billing("jobs", _any, "no billing unit known for this provider: counted in jobs"))
        charged = [j for j in sent if billing.charged(j)]
        rows.append(
            {
                "provider": name,
                "jobs": len(mine),
                "sent": len(sent),
                "inputs": sum(_inputs(j) for j in sent),
                "billed": len(charged),
                "unit": billing.unit,
                "basis": billing.basis,
            }
        )
    frame = pd.DataFrame(rows, columns=["provider", *COLUMNS]).set_index("provider")
    return frame.astype({c: "int64" for c in ("jobs", "sent", "inputs", "billed")})


def _inputs(job: Any) -> int:
    """Inputs a job carries: a face batch job its roster rows, any other job one input."""
    rows = (job.meta or {}).get("rows")
    return len(rows) if isinstance(rows, list) else 1
