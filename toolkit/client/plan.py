"""What a submitting call would do, worked out before it does anything: the keys of its inputs, and per input
whether it is a new job, a job in flight that is re-attached, a job that finished already (no cost), an input
already analysed under other options (a new, paid job) or an input refused before sending.

``ProviderClient.submit`` runs these same pure steps and then records and starts; ``dry_run=True`` stops here
and returns the ``Plan``: the counts of a plan and of the call that follows agree by construction.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .filedata import FileInput
from .ledger import idempotency_key
from .model import SHOWN, SKIPPED, Job, PreflightError, Status
from .providers.base import Item

NEW = "new job"
ATTACHED = "re-attached (in flight)"
FINISHED = "finished already"
AGAIN = "paid again"
REFUSED = "refused"
OUTCOMES = (NEW, AGAIN, ATTACHED, FINISHED, REFUSED)
_COLORS = {NEW: "#0a4fa3", AGAIN: "#a40e26", ATTACHED: "#7a4b00", FINISHED: "#116329", REFUSED: "#4b535c"}


class PaidAgain(UserWarning):
    """A call sends new, paid jobs for inputs already analysed under other options; the warning names how many,
    the earlier batch and how to get the answer from its results instead."""


@dataclass
class Keyed:
    """A call's inputs by key: the batch's keys in order, the item of each, every name each key was given under,
    the keys earlier toolkit versions gave the same inputs, the refused inputs, and each key's input digest."""

    batch_keys: list[str] = field(default_factory=list)
    work: dict[str, Item] = field(default_factory=dict)
    given: dict[str, set[str]] = field(default_factory=dict)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    rejected: list[PreflightError] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # files that are not media in a folder: counted, not refused


def key_items(
    provider: str,
    operation: str,
    target: str,
    items: Iterable[Item | PreflightError],
    options: dict[str, Any],
    salt: str,
) -> Keyed:
    """Key every input (provider, operation, where it runs, options, bytes; ``salt`` for deliberate new jobs).
    The same input twice in one call is one job. Pure: reads the inputs' bytes, nothing else."""
    k = Keyed()
    where = f"{operation}@{target}"
    for it in items:
        if isinstance(it, PreflightError) and it.code == SKIPPED:
            k.skipped.append(it.input or "")
            continue
        if isinstance(it, PreflightError):
            k.rejected.append(it)
            continue
        opts = {**options, **it.options}
        content = it.content if it.content is not None else json.dumps(it.meta, sort_keys=True, default=str)
        key = it.key or idempotency_key(provider, where, opts, content) + (f"-{salt[:8]}" if salt else "")
        if key in k.given:
            k.given[key].add(it.input)
            continue
        k.given[key] = {it.input}
        k.batch_keys.append(key)
        it.options = opts
        k.work[key] = it
        k.digests[key] = input_digest(provider, where, content)
        if it.aliases and not salt:
            k.aliases[key] = [idempotency_key(provider, where, opts, a) for a in it.aliases]
    return k


def input_digest(provider: str, where: str, content: bytes | str | FileInput) -> str:
    """The input's identity whatever its options: the same bytes for the same provider, operation and target."""
    if isinstance(content, FileInput):
        sha = content.digest  # preflight's digest of the file: not read again
    else:
        sha = hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()
    return hashlib.sha256(f"{provider}\0{where}\0{sha}".encode()).hexdigest()[:32]


def batch_id_of(provider: str, operation: str, options: dict[str, Any], keys: list[str]) -> str:
    return "b-" + idempotency_key(provider, operation, options, "\n".join(sorted(keys)))[:16]


def analysed_before(jobs: Iterable[Job], operation: str, digests: dict[str, str]) -> dict[str, Job]:
    """Per new key, the latest recorded job of ``operation`` on the same input bytes under another key (other
    options), succeeded or in flight. Rows recorded before input digests were kept have none: they say nothing."""
    wanted: dict[str, list[str]] = {}
    for key, digest in digests.items():
        wanted.setdefault(digest, []).append(key)
    out: dict[str, Job] = {}
    for job in jobs:  # oldest first: the latest wins
        keys = wanted.get(job.meta.get("input_digest", ""), [])
        if job.operation != operation or job.status not in _ANALYSED:
            continue
        for key in keys:
            if key != job.key:
                out[key] = job
    return out


_ANALYSED = (Status.SUCCEEDED, Status.DRAFT, Status.QUEUED, Status.RUNNING)


@dataclass
class PlanRow:
    """One input of a plan: its outcome, why (a refusal, the earlier batch), how many inputs the job carries."""

    input: str
    outcome: str
    detail: str = ""
    key: str | None = None
    inputs: int = 1
    credits: float | None = None
    earlier_batch: str | None = None


def outcomes(
    keyed: Keyed, recorded: dict[str, Job], earlier: dict[str, Job], resumes: Callable[[Job], bool]
) -> list[PlanRow]:
    """The plan's rows: each batch key against what the ledger holds, then the refused inputs.
    ``resumes(job)``: whether a failed job would be resumed (``ProviderClient.resume_status``)."""
    rows = []
    for key in keyed.batch_keys:
        it, job = keyed.work[key], recorded.get(key)
        row = PlanRow(it.input, NEW, key=key, inputs=it.inputs)
        if job is None and key in earlier:
            e = earlier[key]
            row.outcome, row.earlier_batch = AGAIN, e.batch_id
            row.detail = f"analysed in batch {e.batch_id}" + (f" with {changed(e.options, it.options)}" or "")
        elif job is not None and job.status == Status.FAILED and resumes(job):
            row.outcome, row.detail = ATTACHED, f"resumes the failed job ({job.error_code or 'no code'})"
        elif job is not None and job.status.terminal:
            row.outcome = FINISHED
            row.detail = "" if job.status == Status.SUCCEEDED else f"{job.status.value} ({job.error_code or 'no code'})"
        elif job is not None:
            row.outcome, row.detail = ATTACHED, job.status.value
        rows.append(row)
    rows += [PlanRow(e.input or "", REFUSED, e.message, inputs=1) for e in keyed.rejected]
    return rows


def changed(before: dict[str, Any], now: dict[str, Any]) -> str:
    """The options that differ, as ``threshold=0.3`` (the earlier values)."""
    names = sorted(n for n in {*before, *now} if before.get(n) != now.get(n))
    return ", ".join(f"{n}={before.get(n)!r}" for n in names)


@dataclass
class Plan:
    """What a call would send and pay, before it does: one row per input, the totals, the credits where the
    provider states them. Returned by every operation with ``dry_run=True``; nothing is sent or recorded
    (SateAIs only asks its free preview)."""

    provider: str
    operation: str
    rows: list[PlanRow]
    batch_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Rows per outcome, every outcome present."""
        c = Counter(r.outcome for r in self.rows)
        return {o: c.get(o, 0) for o in OUTCOMES}

    @property
    def new_jobs(self) -> int:
        """Jobs the call would create (each one paid): new inputs and inputs analysed before under other options."""
        return self.counts[NEW] + self.counts[AGAIN]

    @property
    def credits(self) -> float | None:
        """The credits the provider states for the new jobs (None where it states none)."""
        stated = [r.credits for r in self.rows if r.outcome in (NEW, AGAIN) and r.credits is not None]
        return sum(stated) if stated else None

    def rows_of(self, outcome: str) -> list[PlanRow]:
        return [r for r in self.rows if r.outcome == outcome]

    def summary(self) -> str:
        """One line: how many inputs, and what each group would cost."""
        c = self.counts
        n = sum(r.inputs for r in self.rows)
        parts = [
            f"{c[NEW]} new job{'s' if c[NEW] != 1 else ''}" if c[NEW] else "",
            f"{c[AGAIN]} paid again (analysed under other options)" if c[AGAIN] else "",
            f"{c[ATTACHED]} re-attached" if c[ATTACHED] else "",
            f"{c[FINISHED]} finished already (0 cost)" if c[FINISHED] else "",
            f"{c[REFUSED]} refused" if c[REFUSED] else "",
        ]
        text = f"{self.provider} {self.operation}: {n} input{'s' if n != 1 else ''} -> " + (
            ", ".join(p for p in parts if p) or "nothing to do"
        )
        if self.credits is not None:
            text += f"; {self.credits:g} credits estimated"
        return text + "; nothing sent yet"

    def __repr__(self) -> str:
        shown = self.rows[:SHOWN]
        width = min(48, max([len(r.input) for r in shown] + [5]))
        lines = [f"  {_cut(r.input, width):<{width}}  {r.outcome:<23} {r.detail}".rstrip() for r in shown]
        if len(self.rows) > SHOWN:
            lines.append(f"  ... and {len(self.rows) - SHOWN} more (plan.rows)")
        lines += [f"  note: {n}" for n in self.notes]
        return f"<Plan {self.summary()}>" + "".join("\n" + line for line in lines)

    def _repr_html_(self) -> str:
        cell = "style='text-align:left;padding:1px 8px'"
        body = []
        for r in self.rows[:SHOWN]:
            color = _COLORS.get(r.outcome, "inherit")
            credits = "" if r.credits is None else f"{r.credits:g}"
            body.append(
                f"<tr><td {cell}>{html.escape(r.input)}</td>"
                f"<td {cell}><span style='color:{color}'>{html.escape(r.outcome)}</span></td>"
                f"<td {cell}>{html.escape(r.detail)}</td><td {cell}>{credits}</td></tr>"
            )
        if len(self.rows) > SHOWN:
            body.append(f"<tr><td {cell} colspan=4>... and {len(self.rows) - SHOWN} more (plan.rows)</td></tr>")
        notes = "".join(f"<div>{html.escape(n)}</div>" for n in self.notes)
        head = "".join(f"<th {cell}>{h}</th>" for h in ("input", "outcome", "detail", "credits"))
        return (
            f"<div style='font-size:13px'><div><b>Plan</b> {html.escape(self.summary())}</div>"
            f"<table style='border-collapse:collapse'><tr>{head}</tr>{''.join(body)}</table>{notes}</div>"
        )

    @classmethod
    def merge(cls, provider: str, operation: str, plans: list["Plan"], rejected: list[PreflightError]) -> "Plan":
        """One plan of several calls (Authenta's ``screen``: one per task), with the inputs refused before them."""
        rows = [PlanRow(e.input or "", REFUSED, e.message) for e in rejected]
        return cls(
            provider, operation, [r for p in plans for r in p.rows] + rows, None, [n for p in plans for n in p.notes]
        )


def paid_again_text(plan: Plan, hint: str) -> str:
    """The ``PaidAgain`` message: the count, the earlier batch(es) and how to filter locally instead."""
    again = plan.rows_of(AGAIN)
    batches = sorted({r.earlier_batch for r in again if r.earlier_batch})
    first = again[0].detail.partition(" with ")[2]
    was = f" (earlier: {first})" if first else ""
    return (
        f"{plan.provider} {plan.operation}: {len(again)} input{'s' if len(again) != 1 else ''} already analysed "
        f"under other options in batch {', '.join(batches)}{was} {'is' if len(again) == 1 else 'are'} sent again "
        "as new, paid jobs. "
        f"To explore options on results you have, filter them locally instead: "
        f"ws.{plan.provider}.attach({batches[0]!r}).results()" + (f"; {hint}" if hint else "") + ". "
        "dry_run=True shows this before sending."
    )


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3) :]
