"""Command line: ``python -m toolkit`` / ``toolkit``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .client import registry
from .client.model import Status, ToolkitError


def _sandbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".toolkit/sandbox"),
        help="where jobs and blobs are kept (default .toolkit/sandbox)",
    )
    p.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply every runtime and documented window by F (e.g. 0.01)"
    )
    p.add_argument("--faults", default=None, help="e.g. '5xx=0.1,429=0.05,drop=0.02,slow=0.01,authenta.fail=0.05'")
    p.add_argument("--seed", type=int, default=0, help="seed of runtimes and faults")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="PROVIDER:KEY",
        help="add a tenant (repeatable); faces:KEY@ORG/COLLECTION scopes a face key",
    )
    p.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="PROVIDER[.BUCKET]=N/SECONDS",
        help="override a rate limit, e.g. claid=120/60+4/1 (repeatable)",
    )
    p.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="PROVIDER=SECONDS",
        help="median processing time of a provider's jobs before scaling (repeatable)",
    )
    p.add_argument(
        "--runtime-spread",
        type=float,
        default=0.5,
        help="sigma of the lognormal runtime distribution around each median (default 0.5)",
    )
    p.add_argument("--workers", type=int, default=4, help="engine worker threads (default 4)")
    p.add_argument(
        "--credits",
        action="append",
        default=[],
        metavar="PROVIDER=N",
        help="each key of PROVIDER gets N credits, one per job created; then 402 (repeatable)",
    )


def _sandbox_config(args: argparse.Namespace):
    from .sandbox.config import ConfigError, SandboxConfig, Tenant, parse_faults

    try:
        cfg = SandboxConfig(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            time_scale=args.time_scale,
            faults=parse_faults(args.faults),
            seed=args.seed,
            tenants=[Tenant.parse(k) for k in args.key],
            workers=args.workers,
            runtime_spread=args.runtime_spread,
        )
        for spec in args.rate_limit:
            cfg.set_rate_limit(spec)
        for spec in args.credits:
            cfg.set_credits(spec)
        for spec in args.runtime:
            name, _, secs = spec.partition("=")
            cfg.runtimes[name] = float(secs)
    except (ConfigError, ValueError) as e:
        raise SystemExit(f"toolkit sandbox: {e}") from None
    return cfg


def _value(text: str) -> Any:
    """``-o threshold=0.3`` -> 0.3; JSON where it parses (numbers, true/false, objects), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _workspace(args: argparse.Namespace):
    from .workspace import Workspace

    return Workspace(args.workspace)


def _submit(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    client = ws.client(args.provider)
    options: dict[str, Any] = {}
    for opt in args.option:
        name, sep, text = opt.partition("=")
        if not sep:
            raise SystemExit(f"toolkit submit: option {opt!r} is not NAME=VALUE")
        options[name.replace("-", "_")] = _value(text)
    inputs: Any = args.inputs[0] if len(args.inputs) == 1 else list(args.inputs)
    operations = registry.get(args.provider).operations  # the client methods it may call
    method = getattr(client, args.operation, None) if args.operation in operations else None
    if callable(method):
        batch = method(inputs, force=args.force, **options)
    elif hasattr(client, "run"):  # Authenta: the operation is a task type (slug or id)
        batch = client.run(args.operation, inputs, force=args.force, **options)
    else:
        raise SystemExit(
            f"toolkit submit: {args.provider} has no operation {args.operation!r} "
            f"({', '.join(operations) or 'none declared'})"
        )
    for e in batch.rejected:
        print(f"rejected: {e}", file=sys.stderr)
    print(
        f"batch {batch.id}: {len(batch)} job(s) ({args.provider} {args.operation}); "
        f"re-attach with: toolkit jobs wait {batch.id}",
        file=sys.stderr,
    )
    if args.no_wait:
        print(batch.id)
        return 0
    return _finish(batch.wait(timeout=args.timeout, progress=True))


def _finish(batch: Any) -> int:
    for j in batch.failed():
        print(f"failed: {j.input}: {j.error_code or ''} {j.error_message or ''}".rstrip(), file=sys.stderr)
    print(batch.id)
    return 1 if batch.failed() or batch.rejected or not batch.done else 0


def _jobs(args: argparse.Namespace) -> int:
    import pandas as pd

    ws = _workspace(args)
    if args.action == "ls":
        if args.batches:
            df = ws.batches()
        else:
            df = ws.jobs(provider=args.provider, status=args.status, batch=args.batch)
            df = df[["provider", "operation", "status", "job_id", "batch_id", "input", "error_code", "finished_at"]]
            df["input"] = df["input"].map(lambda s: s if len(s) <= 48 else "..." + s[-45:])
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_columns", None):
            print(df.to_string(index=False) if len(df) else "(no jobs recorded)")
        return 0
    if args.action == "show":
        jobs = [j for j in ws.ledger.jobs() if args.id in (j.key, j.job_id) or j.key.startswith(args.id)]
        if not jobs:
            try:
                jobs = ws.batch(args.id).jobs
            except KeyError:
                raise SystemExit(
                    f"toolkit jobs show: nothing recorded under {args.id!r} (give a job id, a ledger key or a batch id)"
                ) from None
        for j in jobs:
            d = {k: v for k, v in vars(j).items() if v not in (None, {}, "")}
            d["status"] = j.status.value
            print(json.dumps(d, indent=2, default=str))
        return 0
    batch = ws.batch(args.id)
    if args.action == "wait":
        return _finish(batch.wait(timeout=args.timeout, progress=True))
    if args.action == "cancel":
        print(f"cancelled {batch.cancel()} job(s) of batch {batch.id}")
        return 0
    if args.action == "delete":
        print(f"deleted {batch.delete()} job(s) of batch {batch.id} at {batch.client.name}")
        return 0
    raise SystemExit(f"toolkit jobs: unknown action {args.action}")


def _results(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    batch = ws.batch(args.batch)
    if not batch.done:  # e.g. results lost from the cache: fetched again while the provider still has them
        batch.start().wait(progress=False)
    missing = sum(j.status == Status.SUCCEEDED and not ws.ledger.has_result(j.result_digest or "") for j in batch.jobs)
    if missing:
        raise SystemExit(
            f"toolkit results export: {missing} succeeded job(s) of batch {batch.id} have no result in the "
            f"cache at {ws.ledger.cache_dir} and the provider no longer has them; nothing was written"
        )
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix == ".json":
        out.write_text(json.dumps(batch.raw(), indent=1, default=str))
    else:
        from .load import export

        frame = batch.results()
        if suffix == ".parquet":
            export.to_parquet(frame, out)  # the raw JSON stays in the cache, not in the file's metadata
        elif suffix == ".csv":
            export.to_csv(frame, out)  # geometry as WKT, timestamps as ISO 8601
        elif suffix in (".geojson", ".gpkg"):
            if not hasattr(frame, "geometry"):
                raise SystemExit(
                    f"toolkit results export: {batch.client.name} results have no geometry; use .parquet, .csv or .json"
                )
            if suffix == ".geojson":
                export.to_geojson(frame, out)  # RFC 7946: no crs member
            else:
                frame.attrs = {}
                frame.to_file(out, driver="GPKG")
        else:
            raise SystemExit(
                f"toolkit results export: unknown format {suffix!r} (.parquet, .csv, .geojson, .gpkg, .json)"
            )
    without = sum(j.status != Status.SUCCEEDED for j in batch.jobs)
    note = f"; {without} job(s) have no result (failed, cancelled or expired: `toolkit jobs show`)" if without else ""
    print(f"wrote {out} ({len(batch.raw())} result(s) of batch {batch.id}{note})", file=sys.stderr)
    return 0


def _operations_help() -> str:
    """``detect (animaldetect) | ship, oilslick, ... (sateais) | ...``, from the provider registry."""

    def ops(info: registry.ProviderInfo) -> str:
        if info.operations_help:
            return info.operations_help
        shown = ", ".join(info.operations[:2]) + (", ..." if len(info.operations) > 2 else "")
        return shown or "none"

    return " | ".join(f"{ops(i)} ({i.name})" for i in registry.providers())


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser; provider choices and operations come from ``toolkit.client.registry``."""
    parser = argparse.ArgumentParser(prog="toolkit", description=__doc__)
    parser.add_argument(
        "--workspace",
        "-w",
        default=os.environ.get("TOOLKIT_WORKSPACE", ".toolkit"),
        help="workspace folder holding the ledger and cache (default .toolkit)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sp = sub.add_parser(
        "submit",
        help="submit one job per input and wait (text progress)",
        description="e.g. toolkit submit animaldetect detect data/camera_traps -o threshold=0.3; "
        "toolkit submit sateais ship data/aoi/harbour.geojson -o date=2026-06-15; "
        "toolkit submit authenta ai-image-detection data/media",
    )
    sp.add_argument("provider", choices=registry.names())
    sp.add_argument("operation", help=_operations_help())
    sp.add_argument("inputs", nargs="+", help="files, folders, globs, AOIs or a roster CSV")
    sp.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an operation option; VALUE is JSON where it parses (repeatable)",
    )
    sp.add_argument("--force", action="store_true", help="submit anew even if the ledger has these jobs")
    sp.add_argument("--no-wait", action="store_true", help="print the batch id and return at once")
    sp.add_argument("--timeout", type=float, default=None, help="stop waiting after S seconds (jobs go on)")

    jp = sub.add_parser("jobs", help="the ledger: ls | show | wait | cancel | delete")
    jp.add_argument("action", choices=["ls", "show", "wait", "cancel", "delete"])
    jp.add_argument("id", nargs="?", help="batch id (wait/cancel/delete) or job id/key/batch id (show)")
    jp.add_argument("--provider")
    jp.add_argument("--status")
    jp.add_argument("--batch")
    jp.add_argument("--batches", action="store_true", help="ls: list batches instead of jobs")
    jp.add_argument("--timeout", type=float, default=None)

    rp = sub.add_parser("results", help="export a batch's results: results export BATCH --out FILE")
    rp.add_argument("action", choices=["export"])
    rp.add_argument("batch")
    rp.add_argument("--out", required=True, help="file: .parquet, .csv, .geojson, .gpkg or .json (raw)")

    sp = sub.add_parser("sandbox", help="run the local sandbox server speaking all five provider contracts")
    _sandbox_args(sp)
    sub.add_parser("demo", help="run every notebook against the embedded sandbox and write reports/index.html")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    try:
        if args.command == "submit":
            return _submit(args)
        if args.command == "jobs":
            if args.action != "ls" and not args.id:
                parser.error(f"jobs {args.action} needs an id")
            return _jobs(args)
        if args.command == "results":
            return _results(args)
    except (KeyError, ValueError, ToolkitError) as e:
        print(f"toolkit {args.command}: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    if args.command == "sandbox":
        from .sandbox import serve

        serve(_sandbox_config(args))
        return 0
    if args.command == "demo":
        from .demo import main as demo

        return demo()
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
