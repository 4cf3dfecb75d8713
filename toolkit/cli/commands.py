"""What each command does. ``jobs ls``/``jobs show`` read the ledger alone; a batch is re-attached with a transport
that is made on first use, so ``results export`` of a finished batch neither reads keys nor starts the sandbox."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, cast

from ..client import registry
from ..client.model import Status
from ..widgets.labels import cancel_message, count_phrase, plural
from . import format as fmt

if TYPE_CHECKING:
    from ..client.batch import Batch, ProviderClient
    from ..client.ledger import Ledger
    from ..client.transport import Transport
    from ..workspace import Workspace


class CliError(Exception):
    """A mistake on the command line or in the workspace: printed as one line, exit status 2."""


#: what one row of each loader's frame is
ROW_NOUNS: dict[str, tuple[str, str]] = {
    "detections": ("detection", "detections"),
    "features": ("feature", "features"),
    "verdicts": ("verdict", "verdicts"),
    "images": ("image", "images"),
    "faces": ("face row", "face rows"),
}
FORMATS = (".parquet", ".csv", ".xlsx", ".geojson", ".gpkg", ".json")


class LazyTransport:
    """Stands for a provider's ``Transport`` and makes it on first use (which may start the embedded sandbox)."""

    _make: Callable[[], Transport]
    _real: Transport | None

    def __init__(self, make: Callable[[], Transport]) -> None:
        object.__setattr__(self, "_make", make)
        object.__setattr__(self, "_real", None)

    def _get(self) -> Transport:
        if self._real is None:
            real = self._make()
            object.__setattr__(self, "_real", real)
            return real
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get(), name, value)


# -- submit -----------------------------------------------------------------------------------------------
def submit(args: argparse.Namespace) -> int:
    from ..client import model

    if hasattr(model, "RejectedInputs"):  # named one by one below, in the CLI's words
        warnings.filterwarnings("ignore", category=model.RejectedInputs)
    info = registry.get(args.provider)
    operations = info.operations  # the client methods it may call, or (Authenta) the tasks of its run()
    if args.operation not in operations:
        raise CliError(
            f"{args.provider} has no operation {args.operation!r}; it has: {', '.join(operations) or 'none'} "
            "(`toolkit submit --help` lists their options)"
        )
    options = {"force": args.force, **_options(args, info.client)}  # checked before the workspace starts
    if args.dry_run:
        options["dry_run"] = True
    inputs: Any = args.inputs[0] if len(args.inputs) == 1 else list(args.inputs)
    client = workspace(args).client(args.provider)
    method = getattr(client, args.operation, None)
    if callable(method):
        batch = method(inputs, **options)
    else:  # a task of the client's generic run(task, ...) (Authenta's), named among the registry's operations
        run: Callable[..., Batch] = getattr(client, "run")
        batch = run(args.operation, inputs, **options)
    if args.dry_run:  # a Plan: nothing was sent or recorded
        print(repr(batch))
        return 0
    for e in batch.rejected:
        say(f"rejected before sending: {fmt.short(e.input or '')}: {e.message}")
    rejected = f"; {plural(len(batch.rejected), 'input')} rejected before sending" if batch.rejected else ""
    say(f"batch {batch.id}: {plural(len(batch), 'job')} ({args.provider} {args.operation}){rejected}")
    if args.no_wait:
        say(detached(batch))
        print(batch.id)
        return 0
    say(f"waiting; Ctrl-C stops waiting, not the jobs (re-attach with: toolkit jobs wait {batch.id})")
    return finish(batch, args.timeout)


def detached(batch: "Batch", step: float = 0.05) -> str:
    """Wait until every create is answered (its job id recorded), then the one line that says so. Jobs that
    wait locally for a free slot (a provider's cap on active jobs) are created by the ``jobs wait`` that
    follows, from their files."""
    cap = batch.client.transport.config.max_active_jobs
    while True:
        unsent = [j for j in batch.jobs if not j.done and not j.meta.get("submitted")]
        running = sum(1 for j in batch.jobs if not j.done and j.meta.get("submitted"))
        sending = [j for j in unsent if j.meta.get("create_sent") or j.meta.get("create_owner")]
        if not unsent or (cap and running >= cap and not sending) or batch._future is None or batch._future.done():
            break
        time.sleep(step)
    created = sum(1 for j in batch.jobs if j.meta.get("submitted") or j.job_id)
    failed = len(batch._failed_jobs())
    text = f"batch {batch.id}: {plural(created, 'job')} created and running at {batch.client.name}"
    if unsent:
        text += f", {len(unsent)} waiting for a free slot"
    if failed:
        text += f", {failed} failed"
    return f"{text}; follow {'them' if created + len(unsent) != 1 else 'it'} with: toolkit jobs wait {batch.id}"


def _options(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    """``-o NAME=VALUE`` options, parsed and checked by the operation's declaration (``InvalidOption`` names an
    unknown option and the one meant); JSON where it parses for an operation without one."""
    from ..client.model import InvalidOption
    from ..client.options import options_of

    try:
        spec = options_of(client, args.operation)
    except InvalidOption:
        spec = None
    options: dict[str, Any] = {}
    for opt in args.option:
        name, sep, text = opt.partition("=")
        if not sep or not name:
            raise CliError(f"option {opt!r} is not NAME=VALUE (e.g. -o threshold=0.3)")
        name = name.replace("-", "_")
        call = f"{args.provider} {args.operation}"
        options[name] = spec.parse(name, text, call) if spec is not None else _value(text)
    return options


def finish(batch: "Batch", timeout: float | None) -> int:
    """Wait for the batch, then say what finished, what failed and where the results are; 1 if not all is well."""
    from ..client.model import BatchTimeout

    try:
        batch.wait(timeout=timeout, progress=True)
    except BatchTimeout:
        say(f"stopped waiting after {timeout:g} s; the jobs keep running")
    for line in result_summary(batch):
        say(line)
    print(batch.id)
    return 1 if batch._failed_jobs() or batch.rejected or not batch.done else 0


def result_summary(batch: "Batch") -> list[str]:
    """``finished: 35 succeeded, 1 failed`` and, when there are results, how many rows and how to export them."""
    counts = batch.status_counts()
    done = batch.done
    lines = [f"{'finished' if done else 'not finished yet'}: {count_phrase(counts) or 'no jobs'}"]
    if batch.rejected:
        lines[0] += f" ({plural(len(batch.rejected), 'input')} rejected before sending)"
    for j in batch._failed_jobs()[:5]:
        lines.append(
            f"  failed: {fmt.short(j.input)}: {fmt.clip(' '.join(filter(None, (j.error_code, j.error_message))), 70)}"
        )
    if len(batch._failed_jobs()) > 5:
        lines.append(f"  … and {len(batch._failed_jobs()) - 5} more: toolkit jobs show {batch.id}")
    if not done:
        lines.append(f"  follow it with: toolkit jobs wait {batch.id}")
    if counts["succeeded"]:
        suffix = ".geojson" if registry.get(batch.client.name).loader == "features" else ".parquet"
        lines.append(f"results: {frame_counts(batch)}, in the cache of {batch.client.ledger.path}")
        lines.append(f"  export: toolkit results export {batch.id} --out results{suffix}")
    return lines


def frame_counts(batch: "Batch", frame: Any = None) -> str:
    """``"38 detections from 36 jobs (27 with at least one)"``: the rows of the batch's results frame, what a
    row is, and the jobs they come from."""
    if frame is None:
        with warnings.catch_warnings():  # unfinished jobs are counted in the summary line already
            warnings.simplefilter("ignore")
            frame = batch.results()
    one, many = ROW_NOUNS.get(str(registry.get(batch.client.name).loader), ("row", "rows"))
    with_result = len(batch.raw())
    cols = getattr(frame, "columns", ())
    in_frame = int(frame["job_id"].dropna().nunique()) if "job_id" in cols else with_result
    text = f"{len(frame)} {one if len(frame) == 1 else many} from {plural(max(in_frame, with_result), 'job')}"
    if in_frame < with_result:
        text += f" ({in_frame} with at least one)"
    return text


# -- jobs -------------------------------------------------------------------------------------------------
def jobs(args: argparse.Namespace) -> int:
    if args.action == "ls":
        return _ls(args)
    if args.action == "show":
        return _show(args)
    batch = attach(args, args.id)
    if args.action == "wait":
        say(f"waiting for batch {batch.id} ({plural(len(batch), 'job')}); Ctrl-C stops waiting, not the jobs")
        return finish(batch, args.timeout)
    if args.action == "cancel":
        before = batch.status_counts()
        n = batch.cancel()
        text = cancel_message(n, before, batch.status_counts())
        if not batch.can_cancel and any(j.status in (Status.DRAFT, Status.QUEUED) for j in batch.jobs):
            text += f" ({batch.client.name}'s API cannot cancel jobs it has received)"
        print(f"batch {batch.id}: {text}")
        return 0
    n = batch.delete()
    sent = sum(1 for j in batch.jobs if j.job_id)
    print(f"batch {batch.id}: deleted {n} of the {plural(sent, 'job')} {batch.client.name} received")
    return 0


def _ls(args: argparse.Namespace) -> int:
    ledger = read_ledger(args)
    if ledger is None:
        print(f"(nothing recorded: no ledger in {args.workspace})")
        return 0
    if args.batches:
        batches = [b for b in ledger.batches() if not args.provider or b["provider"] == args.provider]
        status = {j.key: j.status.value for j in ledger.jobs()}
        counts = {}
        for b in batches:
            spec = ledger.batch(b["id"]) or {"keys": []}
            counts[b["id"]] = Counter(status[k] for k in spec["keys"] if k in status)
        print(fmt.batches_table(batches, counts) if batches else "(no batches recorded)")
        return 0
    keys = None
    if args.batch:
        keys = batch_spec(ledger, args.batch)["keys"]
    statuses = [Status(args.status)] if args.status else None
    found = ledger.jobs(provider=args.provider, statuses=statuses, keys=keys)
    print(fmt.jobs_table(found) if found else "(no jobs match)")
    if len(found) > 1:
        print(f"{plural(len(found), 'job')}; details: toolkit jobs show BATCH_OR_JOB_ID")
    return 0


def _show(args: argparse.Namespace) -> int:
    ledger = read_ledger(args)
    if ledger is None:
        raise CliError(f"nothing recorded: no ledger in {args.workspace}")
    spec = ledger.batch(args.id)
    if spec is not None:
        found = ledger.jobs(keys=spec["keys"])
        if args.json:
            print(json.dumps([fmt.record(j) for j in found], indent=1, default=str))
            return 0
        cached = sum(1 for j in found if j.status == Status.SUCCEEDED and ledger.has_result(j.result_digest or ""))
        opts = spec["spec"].get("options") or {}
        print(fmt.batch_summary(spec["id"], spec["provider"], spec["operation"], found, opts, cached))
        return 0
    found = [j for j in ledger.jobs() if args.id in (j.key, j.job_id) or j.key.startswith(args.id)]
    if not found:
        raise CliError(
            f"nothing recorded under {args.id!r}: give a batch id (`toolkit jobs ls --batches` lists them), "
            "a job id or a ledger key (`toolkit jobs ls`)"
        )
    if args.json:
        print(json.dumps([fmt.record(j) for j in found], indent=1, default=str))
    elif len(found) > 1:
        print(f"{plural(len(found), 'job')} match {args.id!r}:\n{fmt.jobs_table(found)}")
    else:
        print(fmt.job_detail(found[0], ledger.has_result(found[0].result_digest or "")))
    return 0


# -- results ----------------------------------------------------------------------------------------------
def results(args: argparse.Namespace) -> int:
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise CliError(f"unknown format {suffix or out.name!r}: give --out a file ending in {', '.join(FORMATS)}")
    if not out.parent.is_dir():  # never created silently: a typo in the path would hide the file
        raise CliError(f"the folder {out.parent} does not exist: create it first (mkdir -p {out.parent}), or fix --out")
    batch = attach(args, args.batch)
    if not batch.done:  # e.g. results lost from the cache: fetched again while the provider still has them
        batch.start().wait(progress=False)
    ledger = batch.client.ledger
    missing = sum(j.status == Status.SUCCEEDED and not ledger.has_result(j.result_digest or "") for j in batch.jobs)
    if missing:
        raise CliError(
            f"{plural(missing, 'succeeded job')} of batch {batch.id} have no result in the cache at "
            f"{ledger.cache_dir} and the provider no longer has them; nothing was written"
        )
    if suffix == ".json":
        raw = batch.raw()
        out.write_text(json.dumps(raw, indent=1, default=str))
        what = f"{plural(len(raw), 'raw result')} (one per job with a result)"
    else:
        frame = batch.results()
        _write(frame, out, suffix, batch.client.name)
        what = frame_counts(batch, frame)
    without = sum(j.status != Status.SUCCEEDED for j in batch.jobs)
    note = ""
    if without:
        counts = {s: n for s, n in batch.status_counts().items() if s != "succeeded"}
        note = f"; {plural(without, 'job')} without a result ({count_phrase(counts)}): toolkit jobs show {batch.id}"
    say(f"wrote {out}: {what} of batch {batch.id}{note}")
    return 0


def _write(frame: Any, out: Path, suffix: str, provider: str) -> None:
    from ..load import export

    if suffix == ".parquet":
        export.to_parquet(frame, out)  # the raw JSON stays in the cache, not in the file's metadata
    elif suffix == ".csv":
        export.to_csv(frame, out)  # geometry as WKT, timestamps as ISO 8601
    elif suffix == ".xlsx":
        export.to_excel(frame, out)  # one sheet; timestamps in UTC
    elif not hasattr(frame, "geometry"):
        raise CliError(f"{provider} results have no geometry: use --out with .parquet, .csv or .json")
    elif suffix == ".geojson":
        export.to_geojson(frame, out)  # RFC 7946: no crs member
    else:
        frame.attrs = {}
        frame.to_file(out, driver="GPKG")


# -- the workspace, read-only where possible ----------------------------------------------------------------
def workspace(args: argparse.Namespace) -> "Workspace":
    from ..workspace import Workspace

    return Workspace(args.workspace, background_sandbox=True)  # its sandbox outlives the command


def read_ledger(args: argparse.Namespace) -> "Ledger | None":
    """The workspace's ledger, or None when there is none yet (reading never creates a workspace)."""
    from ..client.ledger import Ledger

    path = Path(args.workspace)
    return Ledger(path) if (path / "ledger.sqlite3").is_file() else None


def batch_spec(ledger: "Ledger", batch_id: str) -> dict[str, Any]:
    spec = ledger.batch(batch_id)
    if spec is None:
        raise CliError(f"no batch {batch_id!r} in {ledger.path}: run `toolkit jobs ls --batches` to list batches")
    return spec


def attach(args: argparse.Namespace, batch_id: str) -> "Batch":
    """A recorded batch re-attached from the ledger. Its provider's configuration is read, and the embedded
    sandbox started, only when the batch sends a request (waiting, cancelling, fetching a lost result)."""
    ledger = read_ledger(args)
    if ledger is None:
        raise CliError(f"no batch {batch_id!r}: nothing recorded in {args.workspace} (`toolkit jobs ls --batches`)")
    spec = batch_spec(ledger, batch_id)
    ws = workspace(args)
    provider = spec["provider"]
    info = registry.get(provider)
    from ..client.transport import Transport

    # LazyTransport stands for the Transport (every attribute is the real one's); the registry types the client
    # class structurally, and it is a ProviderClient
    transport = cast("Transport", LazyTransport(lambda: Transport(ws._config(provider))))
    client = cast("ProviderClient", info.client(ws.ledger, transport))
    return client.attach(batch_id)


def say(text: str) -> None:
    """A progress or summary line: on stderr, so stdout carries only what scripts read (ids, tables)."""
    print(text, file=sys.stderr, flush=True)


def _value(text: str) -> Any:
    """``-o threshold=0.3`` -> 0.3; JSON where it parses (numbers, true/false, objects), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


__all__ = ["CliError", "LazyTransport", "finish", "jobs", "results", "submit"]
