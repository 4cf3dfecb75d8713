"""A batch's state as plain data (``Snapshot``) and its static HTML / text renderings.

No ipywidgets here: these renderings are what saved notebooks, nbconvert exports and terminals show, so they
use inline styles only (no CDN, no scripts, no classes) and, without ``timings``, only deterministic facts
(counts, failures in submission order) so nbval can compare them.
"""

from __future__ import annotations

import heapq
import html
import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Callable, Protocol

from ..client.model import Job, Status
from ..client.settled import settled
from .labels import ORDER, count_phrase, fmt_duration, fmt_eta, fmt_rate, label, plural


class BatchLike(Protocol):
    """What the widgets use of a ``toolkit.client.batch.Batch``. The widgets never import the batch module
    (the batch imports them to display itself): they ask the batch what it can do (``can_cancel``,
    ``can_retry``)."""

    id: str
    jobs: list[Job]
    rejected: list[Any]
    started: float
    version: int
    client: Any  # ``.name``

    @property
    def can_cancel(self) -> bool: ...

    @property
    def can_retry(self) -> bool: ...

    def _failed_jobs(self) -> list[Job]: ...

    def cancel(self) -> int: ...

    def retry_failed(self, force: bool = False) -> Any: ...

    def on_change(self, fn: Callable[[Any], None]) -> None: ...


#: status -> (text colour, pill background); readable on light and dark themes
COLORS: dict[str, tuple[str, str]] = {
    "succeeded": ("#116329", "#d2f4da"),
    "failed": ("#a40e26", "#ffdce0"),
    "running": ("#0a4fa3", "#d6e8ff"),
    "queued": ("#7a4b00", "#fff1c2"),
    "draft": ("#4b535c", "#e7eaee"),
    "cancelled": ("#5e3aa8", "#ece2ff"),
    "expired": ("#8a3a00", "#ffe2cc"),
    "rejected": ("#4b535c", "#e7eaee"),
}
MAX_FAILURES = 5
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px;line-height:1.45"


@dataclass(frozen=True)
class Failure:
    """One row of the failure table: a failed/expired job, or an input rejected before sending."""

    input: str
    code: str
    message: str
    status: str  # failed | expired | rejected


@dataclass(frozen=True)
class Snapshot:
    """Everything a monitor shows, computed in one pass over the batch's jobs."""

    provider: str
    operation: str
    batch_id: str
    total: int
    counts: dict[str, int]
    terminal: int  # jobs in a terminal status (the progress bar's value)
    finished: bool  # every job terminal and every success cached: ``batch.done``
    elapsed: float  # seconds since the first job was recorded in the ledger (frozen at the last finish)
    rate: float | None  # jobs finished per second in this session
    eta: float | None  # seconds left at that rate
    failures: tuple[Failure, ...]  # latest first while running; submission order once finished
    failed_total: int  # failed + expired jobs
    rejected: int  # inputs refused by preflight (nothing sent)
    version: int

    @property
    def summary(self) -> str:
        """``"37/200 done (30 succeeded, 7 failed, 163 running)"``: counts only, deterministic."""
        parts = count_phrase(self.counts)
        if self.rejected:
            parts += (", " if parts else "") + f"{self.rejected} {label('rejected')}"
        return f"{self.terminal}/{self.total} done ({parts or 'no jobs'})"

    @property
    def timing(self) -> str:
        """``"12.3 s · 4.5 jobs/min · about 52 s left"``, or ``"took 4 min 05 s"`` (not deterministic)."""
        if self.finished:
            return f"took {fmt_duration(self.elapsed)}" if self.total else ""
        parts = [fmt_duration(self.elapsed)]
        if self.rate:
            parts.append(fmt_rate(self.rate))
        if self.eta is not None:
            parts.append(f"about {fmt_eta(self.eta)} left")
        return " · ".join(parts)


def snapshot(batch: BatchLike, max_failures: int = MAX_FAILURES, now: float | None = None) -> Snapshot:
    """The batch's current state in one pass over its jobs (~0.5 ms per 1,000 jobs): call it a few times a second
    at most. Identity tests on the enum keep the loop cheap (Enum properties and hashing are Python calls)."""
    now = time.time() if now is None else now
    started = batch.started  # this session: the rate counts what finished since
    jobs = batch.jobs
    origin = min((j.created_at for j in jobs), default=started)  # the ledger's: survives a kernel restart
    by_status = Counter(map(_STATUS, jobs))
    unsettled_successes = recent = 0
    last_finish = session_last = 0.0
    failed: list[tuple[float, int]] = []
    for i, j in enumerate(jobs):
        st = j.status
        if st is _S:
            if not settled(j):  # the one rule (toolkit.client.settled), asked of successes only: cheap
                unsettled_successes += 1
        elif st is not _F and st is not _E and st is not _C:
            continue
        fin = j.finished_at or 0.0
        if fin > last_finish:
            last_finish = fin
        if fin >= started:
            recent += 1
            if fin > session_last:
                session_last = fin
        if st is _F or st is _E:
            failed.append((fin, i))
    counts = {s.value: by_status.get(s, 0) for s in _ALL}
    terminal = sum(by_status.get(s, 0) for s in _TERMINAL)
    total = len(jobs)
    finished = terminal - unsettled_successes == total
    elapsed = max(0.0, (last_finish if finished else now) - origin)
    session = max(0.0, (session_last if finished else now) - started)
    rate = recent / session if recent and session > 0.2 else None
    eta = (total - terminal) / rate if rate and not finished else None
    if finished:  # deterministic for saved notebooks: submission order
        shown = [i for _, i in failed[:max_failures]]
    else:  # latest first
        shown = [i for _, i in heapq.nlargest(max_failures, failed, key=lambda t: (t[0], -t[1]))]
    rows = [
        Failure(short_input(jobs[i].input), jobs[i].error_code or "", jobs[i].error_message or "", jobs[i].status.value)
        for i in shown
    ]
    room = max(0, max_failures - len(rows))
    rows += [
        Failure(short_input(e.input or ""), e.code or "PREFLIGHT", e.message, "rejected") for e in batch.rejected[:room]
    ]
    return Snapshot(
        provider=batch.client.name,
        operation=batch_operation(batch),
        batch_id=batch.id,
        total=total,
        counts=counts,
        terminal=terminal,
        finished=finished,
        elapsed=elapsed,
        rate=rate,
        eta=eta,
        failures=tuple(rows),
        failed_total=len(failed),
        rejected=len(batch.rejected),
        version=batch.version,
    )


_STATUS = attrgetter("status")
_OPERATION = "_toolkit_operation"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")
_S, _F, _E, _C = Status.SUCCEEDED, Status.FAILED, Status.EXPIRED, Status.CANCELLED
_ALL = tuple(Status(s) for s in ORDER)
_TERMINAL = tuple(s for s in Status if s.terminal)


def batch_operation(batch: BatchLike) -> str:
    """The operation a batch was submitted with: the ledger's (``screen`` for a mixed-media Authenta batch
    whose jobs run several tasks), else its jobs' one operation. Cached on the batch (asked per flush)."""
    op = batch.__dict__.get(_OPERATION)
    if op is None:
        ops = sorted({j.operation for j in batch.jobs})
        op = ops[0] if len(ops) == 1 else ""
        ledger = getattr(batch.client, "ledger", None)
        if len(ops) > 1 and ledger is not None:
            spec = ledger.batch(batch.id)
            op = spec["operation"] if spec else " + ".join(ops)
        setattr(batch, _OPERATION, op)
    return str(op)


def short_input(value: str, width: int = 48) -> str:
    """An input as users recognise it: relative to the working directory when inside it, else its tail."""
    if os.path.isabs(value):
        try:
            rel = os.path.relpath(value)
            if not rel.startswith(".."):
                value = rel
        except ValueError:  # another drive (Windows)
            pass
    return value if len(value) <= width else "…" + value[-(width - 1) :]


def title(s: Snapshot) -> str:
    return f"{s.provider} · {s.operation}" if s.operation else s.provider


# -- HTML -----------------------------------------------------------------------------------------------
def pill(status: str, n: int, text: str | None = None) -> str:
    """A coloured count, ``n`` and the status's display label (or ``text``); the status itself in ``title``."""
    fg, bg = COLORS.get(status, COLORS["draft"])
    return (
        f'<span title="{html.escape(status)}" style="display:inline-block;margin:0 4px 2px 0;padding:0 8px;'
        f'border-radius:10px;background:{bg};color:{fg};font-weight:600;white-space:nowrap">'
        f"{n} {html.escape(text if text is not None else label(status))}</span>"
    )


def pills_html(s: Snapshot) -> str:
    out = [pill(st, s.counts[st]) for st in ORDER if s.counts.get(st)]
    if s.rejected:
        out.append(pill("rejected", s.rejected))
    return "".join(out) or pill("draft", 0).replace("0 not sent yet", "no jobs")


def header_html(s: Snapshot) -> str:
    """Title, batch id and the coloured counts (one line, wraps when narrow)."""
    return (
        f'<div style="{FONT}"><b>{html.escape(title(s))}</b> '
        f'<span style="opacity:.65">{html.escape(s.batch_id)} · {plural(s.total, "job")}'
        f"</span>&ensp;{pills_html(s)}</div>"
    )


def bar_html(s: Snapshot) -> str:
    """A stacked bar, one segment per status (a static stand-in for the widget's progress bar)."""
    if not s.total:
        return ""
    segs = "".join(
        f'<div title="{s.counts[st]} {label(st)}" style="width:{100 * s.counts[st] / s.total:.3f}%;'
        f'background:{COLORS[st][0] if st in ("succeeded", "failed") else COLORS[st][1]}"></div>'
        for st in ORDER
        if s.counts.get(st)
    )
    return (
        f'<div style="display:flex;width:100%;max-width:520px;height:8px;margin:4px 0;border-radius:4px;'
        f'overflow:hidden;background:#e7eaee">{segs}</div>'
    )


def failures_html(s: Snapshot) -> str:
    """The latest failures as a compact table (empty string when there are none)."""
    if not s.failures:
        return ""
    more = s.failed_total + s.rejected - len(s.failures)
    head = "Failures" if s.finished else "Latest failures"
    rows = "".join(
        f'<tr><td style="padding:1px 10px 1px 0;white-space:nowrap;text-align:left">{html.escape(f.input)}</td>'
        f'<td style="padding:1px 10px 1px 0;text-align:left"><code style="color:{COLORS[f.status][0]}">'
        f"{html.escape(f.code or f.status)}</code></td>"
        f'<td style="padding:1px 0;text-align:left">{html.escape(_clip(f.message))}</td></tr>'
        for f in s.failures
    )
    tail = f'<div style="opacity:.65">… and {more} more (batch.failed(), batch.rejected)</div>' if more > 0 else ""
    return (
        f'<div style="{FONT};margin-top:4px"><div style="font-weight:600">{head}</div>'
        f'<table style="border-collapse:collapse;font-size:12px;margin:0">{rows}</table>{tail}</div>'
    )


def render_html(s: Snapshot, timings: bool = False) -> str:
    """Self-contained HTML of the state; ``timings`` adds elapsed/throughput/ETA (not deterministic)."""
    line = html.escape(s.summary.split(" (")[0])
    if timings and s.timing:
        line += " · " + html.escape(s.timing)
    return (
        f'<div style="{FONT};max-width:760px">{header_html(s)}{bar_html(s)}'
        f'<div style="{FONT};opacity:.8">{line}</div>{failures_html(s)}</div>'
    )


def render_text(s: Snapshot, timings: bool = False) -> str:
    """Plain-text state: one summary line, then the failure rows."""
    line = f"{title(s)} {s.batch_id}: {s.summary}"
    if timings and s.timing:
        line += f" {s.timing}"
    rows = [f"  {f.input}  {f.code or f.status}  {_clip(f.message, 100)}" for f in s.failures]
    more = s.failed_total + s.rejected - len(s.failures)
    if more > 0:
        rows.append(f"  … and {more} more")
    return "\n".join([line, *rows])


def _clip(text: str, n: int = 160) -> str:
    # object reprs in provider/preflight messages ("<_io.BytesIO object at 0x7f...>") would make saved
    # notebooks differ between runs
    text = _ADDRESS.sub(">", " ".join(text.split()))
    return text if len(text) <= n else text[: n - 1] + "…"
