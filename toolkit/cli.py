"""Command line: ``python -m toolkit`` / ``toolkit``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _sandbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787)")
    p.add_argument("--data-dir", type=Path, default=Path(".toolkit/sandbox"),
                   help="where jobs and blobs are kept (default .toolkit/sandbox)")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiply every runtime and documented window by F (e.g. 0.01)")
    p.add_argument("--faults", default=None, help="e.g. '5xx=0.1,429=0.05,drop=0.02,slow=0.01,authenta.fail=0.05'")
    p.add_argument("--seed", type=int, default=0, help="seed of runtimes and faults")
    p.add_argument("--key", action="append", default=[], metavar="PROVIDER:KEY",
                   help="add a tenant (repeatable); faces:KEY@ORG/COLLECTION scopes a face key")
    p.add_argument("--rate-limit", action="append", default=[], metavar="PROVIDER[.BUCKET]=N/SECONDS",
                   help="override a rate limit, e.g. claid=120/60+4/1 (repeatable)")
    p.add_argument("--runtime", action="append", default=[], metavar="PROVIDER=SECONDS",
                   help="median processing time of a provider's jobs before scaling (repeatable)")
    p.add_argument("--workers", type=int, default=4, help="engine worker threads (default 4)")


def _sandbox_config(args: argparse.Namespace):
    from .sandbox.config import ConfigError, SandboxConfig, Tenant, parse_faults

    try:
        cfg = SandboxConfig(
            host=args.host, port=args.port, data_dir=args.data_dir, time_scale=args.time_scale,
            faults=parse_faults(args.faults), seed=args.seed, tenants=[Tenant.parse(k) for k in args.key],
            workers=args.workers,
        )
        for spec in args.rate_limit:
            cfg.set_rate_limit(spec)
        for spec in args.runtime:
            name, _, secs = spec.partition("=")
            cfg.runtimes[name] = float(secs)
    except (ConfigError, ValueError) as e:
        raise SystemExit(f"toolkit sandbox: {e}") from None
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toolkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("sandbox", help="run the local sandbox server speaking all five provider contracts")
    _sandbox_args(sp)
    sub.add_parser("demo", help="start the sandbox and walk one job of every provider through it")
    args = parser.parse_args(argv)

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
