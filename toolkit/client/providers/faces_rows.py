"""Which roster rows a face enrollment sends: rows, not positions, are the unit.

A row's identity is (collection, external id, image digest). A row some recorded job of this collection and
target already carries (enrolled, in flight, or stopped: ``retry_failed`` is what sends a failed row again) is
never sent again, wherever it now stands in the roster: the batch re-attaches to that job. The other rows are
packed, in roster order, into new jobs of <= 100, each keyed by the (external id, digest) pairs it carries, so
the same new rows give the same job on a re-run. Editing a row's image gives it a new identity: a new
enrollment of that row only.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from ..ledger import idempotency_key
from ..model import Job, Status
from ..roster import Roster, RosterRow
from .base import Item

MAX_BATCH = 100  # images per batch job (400 BATCH_TOO_LARGE above)

Ident = tuple[str, str]  # (external id, image sha256), within one collection and target
#: (job key, position in that job, roster row, image file): where each roster row's result is read
RowView = list[tuple[str, int, int, str]]


def ident(row: dict[str, Any]) -> Ident:
    return (row["external_id"], row["sha256"])


def manifest(rows: list[dict[str, Any]], retry_of: list[str] | None = None) -> bytes:
    """What a job's key is derived from: its (external id, image digest) pairs in job order."""
    text = "\n".join(f"{r['external_id']}\t{r['sha256']}" for r in rows)
    if retry_of:
        text += "\nretry-of\t" + ",".join(retry_of)
    return text.encode()


def span(first: str, last: str) -> str:
    """``row 5`` or ``rows 2-101``: roster rows as people see them (``RosterRow.row``)."""
    return f"row {first}" if first == last else f"rows {first}-{last}"


def shown(row: dict[str, Any]) -> str:
    """A job row's number as people see it; jobs recorded before ``row`` existed carry the 0-based index only."""
    return str(row.get("row", row["index"]))


def job_item(
    name: str, label: str, rows: list[dict[str, Any]], collection: str, retry_of: list[str] | None = None
) -> Item:
    """One new batch job carrying ``rows`` (their ``RosterRow.meta()``)."""
    meta: dict[str, Any] = {"roster": name, "rows": rows}
    if retry_of:
        meta["retry_of"] = retry_of
    return Item(
        input=label,
        content=manifest(rows, retry_of),
        options={"collection": collection},
        meta=meta,
        inputs=len(rows),
    )


_RANK = {Status.SUCCEEDED: 0, Status.DRAFT: 1, Status.QUEUED: 1, Status.RUNNING: 1}


def _rank(job: Job) -> tuple[int, int]:
    return (1 if job.meta.get("retry_of") else 0, _RANK.get(job.status, 2))


def covering(jobs: Iterable[Job], provider: str, target: str, collection: str) -> dict[Ident, Job]:
    """Per row identity, the recorded job that carries it: an enrollment before a retry of its failed rows (the
    retry is ``retry_failed``'s, reached from the batch it retried: a re-run of the same cells finds the same
    jobs), then a succeeded one before one in flight before one that stopped; the latest among equals. Only enroll jobs of ``collection`` sent to ``target`` (the job's key,
    derived again from its rows, says where it went: a sandbox job never covers a live row)."""
    out: dict[Ident, Job] = {}
    for job in jobs:  # ledger order: oldest first
        rows = job.meta.get("rows") or []
        if job.operation != "enroll" or job.options.get("collection") != collection or not rows:
            continue
        content = manifest(rows, job.meta.get("retry_of"))
        if idempotency_key(provider, f"enroll@{target}", job.options, content) != job.key[:32]:
            continue  # another target (or a key this client did not derive)
        for row in rows:
            held = out.get(ident(row))
            if held is None or _rank(job) <= _rank(held):
                out[ident(row)] = job
    return out


def plan(roster: Roster, collection: str, covered: dict[Ident, Job]) -> list[Item]:
    """The batch's jobs in roster order: the recorded jobs that cover rows (``Item.key`` set), then new jobs
    of <= 100 for the rest, each placed at its first row."""
    attached: dict[str, tuple[Job, list[RosterRow]]] = {}
    new: list[RosterRow] = []
    for row in roster.rows:
        job = covered.get((row.external_id, row.sha256))
        if job is None:
            new.append(row)
        else:
            attached.setdefault(job.key, (job, []))[1].append(row)
    placed: list[tuple[int, Item]] = []
    for job, rows in attached.values():
        item = Item(
            input=job.input,
            content=manifest(job.meta["rows"], job.meta.get("retry_of")),
            options=dict(job.options),
            meta=job.meta,
            inputs=len(rows),
            key=job.key,
        )
        placed.append((rows[0].index, item))
    for start in range(0, len(new), MAX_BATCH):
        part = new[start : start + MAX_BATCH]
        first, last = part[0].index, part[-1].index
        label = f"{roster.name} {span(part[0].row, part[-1].row)}"
        label += f" ({len(part)} rows)" if len(part) != last - first + 1 else ""
        placed.append((first, job_item(roster.name, label, [r.meta() for r in part], collection)))
    return [item for _, item in sorted(placed, key=lambda p: p[0])]


def view(jobs: list[Job], roster: Roster, covered: dict[Ident, Job]) -> RowView:
    """Where each roster row's result is: the job chosen for it and its position there, with the row's current
    index and file. Other rows those jobs carry (an image since replaced, a row since removed) are not listed."""
    current = {(r.external_id, r.sha256): r for r in roster.rows}
    owner = {k: j.key for k, j in covered.items() if k in current}
    out: RowView = []
    for job in jobs:
        for pos, row in enumerate(job.meta.get("rows") or []):
            k = ident(row)
            now = current.get(k)
            if now is not None and owner.setdefault(k, job.key) == job.key:
                out.append((job.key, pos, now.index, str(now.file)))
    return out


def retry_items(
    records: list[dict[str, Any]],
    roster_rows: RowView | None,
    resumable: set[str],
    row_names: dict[int, str] | None = None,
) -> list[Item]:
    """``failed_items`` of a faces batch: failed items of done jobs, and every row of jobs the provider failed
    (not those failed with a ``resumable`` code: their rows may well be enrolled), packed into jobs of <= 100.
    With ``roster_rows`` (an enroll batch), only the roster's rows, at their current index, file and (from
    ``row_names``, index -> row as shown) row number."""
    names = row_names or {}
    now = {(k, pos): (i, f) for k, pos, i, f in roster_rows or []}
    picked: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    sources: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rec in records:
        rows = rec["meta"].get("rows") or []
        if rec["status"] == Status.SUCCEEDED.value and rec["result"] is not None:
            ok = _succeeded_positions(rows, body_data(rec["result"]).get("results") or [])
        elif rec["status"] == Status.FAILED.value and rec["error_code"] not in resumable:
            ok = set()
        else:
            continue
        bad = [
            row
            if roster_rows is None
            else {
                **row,
                "index": (at := now[rec["key"], i][0]),
                "row": names.get(at, str(at)),
                "file": now[rec["key"], i][1],
            }
            for i, row in enumerate(rows)
            if i not in ok and (roster_rows is None or (rec["key"], i) in now)
        ]
        if bad:
            group = (rec["options"].get("collection"), rec["meta"].get("roster", "roster"))
            picked[group] += bad
            sources[group].append(rec["key"])
    items: list[Item] = []
    for (collection, name), rows in picked.items():
        rows.sort(key=lambda r: r["index"])
        for start in range(0, len(rows), MAX_BATCH):
            part = rows[start : start + MAX_BATCH]
            label = f"{name} {span(shown(part[0]), shown(part[-1]))} (retry of {len(part)} rows)"
            items.append(job_item(name, label, part, collection, retry_of=sorted(sources[(collection, name)])))
    return items


def _succeeded_positions(rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> set[int]:
    """Positions (in the job's rows) of items the provider enrolled; matched by index, checked by external id."""
    by_id = {row["external_id"]: i for i, row in enumerate(rows)}
    ok = set()
    for x in results:
        if not x.get("success"):
            continue
        i = item_index(x)
        if i is None or i >= len(rows) or rows[i]["external_id"] != x.get("external_id"):
            i = by_id.get(x.get("external_id"))
        if i is not None:
            ok.add(i)
    return ok


def body_data(body: Any) -> dict[str, Any]:
    """The job object of a response: ``{"success": ..., "data": {...}}`` or the job itself."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    return body if isinstance(body, dict) else {}


def item_index(x: dict[str, Any]) -> int | None:
    i = x.get("index")
    return i if isinstance(i, int) and i >= 0 else None
