"""Text the command line prints: tables that fit 100 columns, human times, batch and job summaries.

Pure functions over ``Job`` records and counts (no workspace, no HTTP), so the output can be snapshot-tested.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import Any, Iterable, Sequence

from ..client.model import Job, Status
from ..widgets.labels import ORDER, count_phrase, fmt_duration, label, plural

WIDTH = 100
EMPTY = "-"


def when(ts: float | None, now: float | None = None) -> str:
    """``"12 s ago"``, ``"3 min ago"``, ``"5 h ago"`` within a day, else local ``"2026-12-03 10:21"``; ``-``."""
    if ts is None:
        return EMPTY
    age = (time.time() if now is None else now) - ts
    if 0 <= age < 60:
        return f"{age:.0f} s ago"
    if 0 <= age < 3600:
        return f"{age // 60:.0f} min ago"
    if 0 <= age < 86400:
        return f"{age // 3600:.0f} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def clip(text: str, width: int, tail: bool = False) -> str:
    """``text`` in at most ``width`` characters: its head with ``…`` (or, ``tail``, ``…`` and its end)."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if tail else text[: width - 1] + "…"


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], flex: int = -1, keep_end: bool = True, width: int = WIDTH
) -> str:
    """Left-aligned columns two spaces apart, numbers right-aligned; the ``flex`` column is clipped so every line
    fits ``width`` (``keep_end``: at its start, as for paths). Empty cells show ``-``."""
    cells = [[EMPTY if v is None or v == "" else str(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    flex %= len(header)
    room = width - (sum(widths) - widths[flex]) - 2 * (len(header) - 1)
    widths[flex] = max(len(header[flex]), min(widths[flex], room))
    numeric = [bool(cells) and all(r[i].isdigit() or r[i] == EMPTY for r in cells) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        out = []
        for i, v in enumerate(values):
            v = clip(v, widths[i], tail=keep_end) if i == flex else v
            out.append(v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([line(header), *(line(r) for r in cells)])


def jobs_table(jobs: Sequence[Job], now: float | None = None) -> str:
    """``jobs ls``: one line per job (status, provider, operation, batch, finished, input), at most 100 wide."""
    rows = [
        (
            j.status.value,
            j.provider,
            clip(j.operation, 18),
            j.batch_id,
            when(j.finished_at or j.created_at if j.done else None, now),
            short(j.input),
        )
        for j in jobs
    ]
    return table(("STATUS", "PROVIDER", "OPERATION", "BATCH", "FINISHED", "INPUT"), rows)


def batches_table(batches: Sequence[dict[str, Any]], counts: dict[str, Counter[str]], now: float | None = None) -> str:
    """``jobs ls --batches``: id, provider, operation, number of jobs, when recorded, their statuses."""
    rows = [
        (
            b["id"],
            b["provider"],
            clip(b["operation"], 18),
            sum(counts.get(b["id"], Counter()).values()),
            when(b["created_at"], now),
            count_phrase(counts.get(b["id"], Counter())) or EMPTY,
        )
        for b in batches
    ]
    return table(("BATCH", "PROVIDER", "OPERATION", "JOBS", "RECORDED", "STATUS"), rows)


def batch_summary(
    batch_id: str, provider: str, operation: str, jobs: Sequence[Job], options: dict[str, Any], cached: int
) -> str:
    """``jobs show BATCH``: counts by status, durations (median/max), the failures, where the results are."""
    counts = Counter(j.status.value for j in jobs)
    first = min((j.created_at for j in jobs), default=None)
    head = f"batch {batch_id} · {provider} {operation} · {plural(len(jobs), 'job')} · recorded {when(first)}"
    out = [head]
    if options:
        out.append("options: " + clip(", ".join(f"{k}={v!r}" for k, v in sorted(options.items())), WIDTH - 9))
    out += ["", table(("STATUS", "JOBS"), [(label(s), counts[s]) for s in ORDER if counts.get(s)])]
    ran = [j for j in jobs if j.status in (Status.SUCCEEDED, Status.FAILED) and j.finished_at]
    spans = [
        ("end to end", [j.finished_at - j.created_at for j in ran if j.finished_at]),
        ("at the service", [j.finished_at - j.submitted_at for j in ran if j.finished_at and j.submitted_at]),
    ]
    rows = [(name, fmt_duration(statistics.median(v)), fmt_duration(max(v))) for name, v in spans if v]
    if rows:
        out += ["", table(("DURATION PER JOB", "MEDIAN", "MAX"), rows)]
    failed = [j for j in jobs if j.status in (Status.FAILED, Status.EXPIRED)]
    if failed:
        out += ["", f"failures ({plural(len(failed), 'job')})"]
        rows = [(short(j.input, 32), j.error_code or j.status.value, j.error_message or "") for j in failed]
        out.append(table(("INPUT", "ERROR CODE", "MESSAGE"), rows, flex=2, keep_end=False))
    out += ["", f"results: {plural(cached, 'job')} with a result in the cache"]
    if cached:
        out.append(f"  export: toolkit results export {batch_id} --out results.parquet")
    out.append(f"  raw records: toolkit jobs show {batch_id} --json")
    return "\n".join(out)


def job_detail(j: Job, cached: bool) -> str:
    """``jobs show JOB``: one job, field by field."""
    fields = [
        ("input", short(j.input, WIDTH - 10)),
        ("provider", f"{j.provider} {j.operation}"),
        ("batch", j.batch_id),
        ("status", label(j.status.value) + _their_word(j)),
        ("job id", j.job_id),
        ("error", " ".join(x for x in (j.error_code, j.error_message) if x)),
        ("recorded", when(j.created_at)),
        ("sent", when(j.submitted_at)),
        ("finished", when(j.finished_at)),
        ("took", fmt_duration(j.finished_at - j.created_at) if j.finished_at else None),
        ("result", "in the cache" if cached else None),
    ]
    return "\n".join(f"{k:<9} {clip(str(v), WIDTH - 10) if v not in (None, '') else EMPTY}" for k, v in fields)


def _their_word(j: Job) -> str:
    """`` (the service says "processing")`` where the provider's own status word differs from ours."""
    word = (j.provider_status or "").strip()
    return f' (the service says "{word}")' if word and word.lower() != j.status.value else ""


def record(j: Job) -> dict[str, Any]:
    """A ledger row as JSON-ready data (``jobs show --json``)."""
    d = {k: v for k, v in vars(j).items() if v not in (None, {}, "")}
    d["status"] = j.status.value
    return d


def short(path: str, width: int = 48) -> str:
    """An input as the user typed it, relative to the working directory when inside it."""
    from ..widgets.render import short_input

    return short_input(path, width)
