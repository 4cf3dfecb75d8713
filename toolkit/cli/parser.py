"""The command line's argument parser. Provider names come from the registry without importing a provider; the
operations and their options (``submit --help``) are looked up only when that help is asked for."""

from __future__ import annotations

import argparse
import inspect
import textwrap
from pathlib import Path
from typing import Any, Callable, NoReturn

from ..client import registry
from ..discover import find_workspace

DESCRIPTION = "Submit media-analysis jobs to five async APIs (or the embedded sandbox), follow them, export."

EPILOG = """\
examples:
  toolkit submit animaldetect detect data/camera_traps -o threshold=0.3
  toolkit jobs ls --batches
  toolkit jobs show BATCH
  toolkit results export BATCH --out results.parquet
"""

STATUSES = ("succeeded", "failed", "running", "queued", "draft", "cancelled", "expired")


class Parser(argparse.ArgumentParser):
    """argparse, with the one answer to an operation option written as a flag (``--threshold 0.3``)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            words = message.split(":", 1)[1].split()
            flags = [
                (w, words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("-") else None)
                for i, w in enumerate(words)
                if w.startswith("--")
            ]
            if flags:
                name, _, value = flags[0][0][2:].partition("=")
                value = value or flags[0][1] or "VALUE"
                message += f" (an operation's options are given as -o NAME=VALUE: -o {name}={value})"
        super().error(message)


def provider_name(text: str) -> str:
    """``--provider``: a registered provider, else the usage error naming the valid ones."""
    from ..client.options import unknown_name

    if text not in registry.names():
        raise argparse.ArgumentTypeError(str(unknown_name("provider", text, registry.names())))
    return text


def port_number(text: str) -> int:
    """``--port``: 0..65535 (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: ports are 0-65535 (0: any free port)")
    return port


def build_parser(describe_operations: bool | list[str] = False) -> argparse.ArgumentParser:
    """The parser. ``describe_operations`` (True, or a list of providers) lists the operations and their options
    in ``submit --help``: that imports the providers, so only when the help is shown."""
    common = Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs"
    )
    parser = Parser(
        prog="toolkit",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument(
        "--workspace",
        "-w",
        default=str(find_workspace()),  # $TOOLKIT_WORKSPACE, else the project's .toolkit here or in a parent
        help="workspace folder holding the ledger and cache (default: $TOOLKIT_WORKSPACE or .toolkit)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sp = sub.add_parser(
        "submit",
        parents=[common],
        help="submit one job per input and wait for the results",
        description=textwrap.fill(
            "Submit one job per input and wait (text progress); ends with a summary of the results. "
            "Re-running the same command re-attaches to the same jobs and sends nothing twice.",
            100,
        ),
        epilog=(
            operations_help(describe_operations if isinstance(describe_operations, list) else None)
            if describe_operations
            else "operations and their options: toolkit submit --help"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("provider", choices=registry.names(), help="the service: %(choices)s")
    sp.add_argument("operation", help="what each job does (listed below)")
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
    sp.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the call would send and pay (its plan); send nothing",
    )
    sp.add_argument(
        "--no-wait", action="store_true", help="return once every job is created (they go on; jobs wait collects them)"
    )
    sp.add_argument("--timeout", type=float, default=None, help="stop waiting after S seconds (the jobs go on)")

    jp = sub.add_parser(
        "jobs",
        parents=[common],
        help="the ledger: ls | show | wait | cancel | delete",
        description="ls lists jobs (or batches); show summarises a batch or one job; wait, cancel and delete act "
        "on a batch. ls and show read the local ledger only.",
    )
    jp.add_argument("action", choices=["ls", "show", "wait", "cancel", "delete"])
    jp.add_argument("id", nargs="?", help="a batch id (wait/cancel/delete); a batch id, job id or ledger key (show)")
    jp.add_argument("--provider", type=provider_name, help="ls: only this provider's jobs")
    jp.add_argument("--status", choices=STATUSES, help="ls: only jobs in this status")
    jp.add_argument("--batch", help="ls: only this batch's jobs")
    jp.add_argument("--batches", action="store_true", help="ls: list batches instead of jobs")
    jp.add_argument("--json", action="store_true", help="show: the raw ledger records as JSON")
    jp.add_argument("--timeout", type=float, default=None, help="wait: stop waiting after S seconds")

    rp = sub.add_parser(
        "results",
        parents=[common],
        help="export a batch's results: results export BATCH --out FILE",
        description="Write a batch's results table (one row per detection, feature, verdict, image or face row).",
    )
    rp.add_argument("action", choices=["export"])
    rp.add_argument("batch")
    rp.add_argument("--out", required=True, help="file: .parquet, .csv, .xlsx, .geojson, .gpkg or .json (raw results)")

    sp = sub.add_parser(
        "sandbox", parents=[common], help="run the local sandbox server speaking all five provider contracts"
    )
    sp.add_argument(
        "action",
        nargs="?",
        choices=["stop", "status"],
        help="the workspace's background sandbox (the one commands start without keys): stop it, or show it; "
        "without an action the sandbox runs in the foreground",
    )
    sandbox_args(sp)
    sub.add_parser(
        "demo", parents=[common], help="run every notebook against the embedded sandbox, write reports/index.html"
    )
    return parser


#: declared options the command line sets otherwise (``--force``, ``--dry-run``) or never (``start``: the CLI
#: always starts)
NOT_OPTIONS = ("force", "dry_run", "start")


def operations_help(providers: list[str] | None = None, width: int = 100) -> str:
    """The operations of ``providers`` (default: all) with their inputs and options, for ``submit --help``,
    from each operation's declaration (``toolkit.client.options``); imports those providers."""
    lines = ["operations, their inputs and their options (-o NAME=VALUE):"]
    for name in providers or registry.names():
        info = registry.get(name)
        for ops, spec in operations(info):
            if isinstance(spec, str):  # a note on the entry above
                lines += textwrap.wrap(spec, width, initial_indent="  ", subsequent_indent="    ")
                continue
            inputs = " ".join(i.name.upper() + "..." for i in getattr(spec, "inputs", ()))
            lines += ["", f"{name} {ops} {inputs}".rstrip()]
            summary = " ".join(getattr(spec, "summary", "").replace("``", "").split())
            if summary:
                lines += textwrap.wrap(summary, width, initial_indent="  ", subsequent_indent="  ")
            options = [o for o in getattr(spec, "options", ()) if o.name not in NOT_OPTIONS]
            for o in options:
                lines += textwrap.wrap(o.describe(), width, initial_indent="  -o ", subsequent_indent="       ")
            if not options:
                lines.append("  (no options)")
    return "\n".join(lines)


def operations(info: registry.ProviderInfo) -> list[tuple[str, Any]]:
    """``[(operation, declaration)]`` of one provider; the tasks of a ``run`` method (Authenta) share one entry
    ``TASK``, followed by a note naming them. A declaration is ``toolkit.client.options.Operation`` (one is made up from the signature where a
    client outside the toolkit declares none)."""
    from ..client.options import declared, options_of

    out: list[tuple[str, Any]] = []
    tasks: list[str] = []
    for op in info.operations:
        method = getattr(info.client, op, None)
        if not callable(method):
            tasks.append(op)
            continue
        out.append((op, declared(method) or _from_signature(op, method)))
    if tasks:
        try:
            spec = options_of(info.client, tasks[0])
        except Exception:  # no run() declaration: what its signature says
            spec = _from_signature(tasks[0], getattr(info.client, "run", lambda self, task, media: None), skip=2)
        out.append(("TASK", spec))
        out.append(("", f"TASK is one of: {', '.join(tasks)}"))
    return out


def _from_signature(name: str, method: Callable[..., Any], skip: int = 1) -> Any:
    """A declaration made up from a method's signature (for a client that declares none)."""
    from ..client.options import REQUIRED, Input, Operation, Option

    params = list(inspect.signature(method).parameters.values())[1:]
    inputs = tuple(Input(p.name) for p in params[:skip] if p.name != "task")
    options = tuple(
        Option(p.name, default=REQUIRED if p.default is p.empty else p.default)
        for p in params[skip:]
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    return Operation(name, (inspect.getdoc(method) or "").split("\n\n")[0], inputs, options)


def sandbox_args(p: argparse.ArgumentParser) -> None:
    """The options of ``toolkit sandbox``."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8787, help="port (default 8787)")
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


def sandbox_config(args: argparse.Namespace) -> Any:
    """``toolkit sandbox``'s options as a ``SandboxConfig`` (a ``ConfigError`` names a malformed one)."""
    from ..sandbox.config import SandboxConfig, Tenant, parse_faults

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
    return cfg
