"""Command line: ``toolkit`` / ``python -m toolkit``.

No traceback reaches the user: a known error (``ToolkitError``, an unreadable input, an HTTP failure) is one line
and exit status 2; anything else too, with a hint to rerun with ``--debug`` for the traceback. Notices (the
embedded sandbox in use) are one ``toolkit: ...`` line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import Any, Callable

from .commands import CliError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 some jobs failed, 2 an error, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(describe_operations=_asks_submit_help(argv))
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    restore_output = _setup_output(debug)
    try:
        if args.command == "jobs" and args.action != "ls" and not args.id:
            parser.error(f"jobs {args.action} needs a batch id (`toolkit jobs ls --batches` lists them)")
        return _run(args)
    except KeyboardInterrupt:
        after = "stopped" if args.command == "sandbox" else "interrupted; jobs already sent keep running"
        print(f"\ntoolkit {args.command}: {after}", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        known = _is_known(e)
        print(f"toolkit {args.command}: {_message(e)}", file=sys.stderr)
        if not known:
            print("(unexpected: rerun with --debug for the traceback)", file=sys.stderr)
        return 2
    finally:
        _stop_embedded_sandboxes()
        restore_output()


def _stop_embedded_sandboxes() -> None:
    """Stop a sandbox this command started before the interpreter exits under its threads (its jobs are kept
    in the workspace and go on at the next command that starts it)."""
    workspace = sys.modules.get("toolkit.workspace")
    for sandbox in list(getattr(workspace, "_sandboxes", {}).values()):
        if sandbox.port is not None:
            sandbox.stop()


def _run(args: argparse.Namespace) -> int:
    from . import commands

    if args.command == "submit":
        return commands.submit(args)
    if args.command == "jobs":
        return commands.jobs(args)
    if args.command == "results":
        return commands.results(args)
    if args.command == "sandbox":
        from ..sandbox import serve
        from ..sandbox.config import ConfigError
        from .parser import sandbox_config

        try:
            config = sandbox_config(args)
        except (ConfigError, ValueError) as e:
            raise CliError(str(e)) from None
        serve(config)
        return 0
    from ..demo import main as demo

    return int(demo() or 0)


def _asks_submit_help(argv: list[str]) -> bool | list[str]:
    """``submit --help`` (True) or ``submit PROVIDER --help`` (that provider) is asked for: only then are the
    providers imported to describe their operations."""
    if "submit" not in argv or not {"-h", "--help"} & set(argv):
        return False
    from ..client import registry

    named = [a for a in argv[argv.index("submit") + 1 :] if a in registry.names()]
    return named[:1] or True


def _is_known(e: BaseException) -> bool:
    from ..client.model import ToolkitError

    return isinstance(e, (ToolkitError, CliError, OSError)) or type(e).__module__.split(".")[0] == "httpx"


def _message(e: BaseException) -> str:
    """One line for the user: an OSError as ``reason: file``, a KeyError without its quotes, else ``str(e)``."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    if isinstance(e, KeyError) and len(e.args) == 1 and type(e) is KeyError:
        return str(e.args[0])
    text = str(e).strip() or type(e).__name__
    return text if _is_known(e) else f"{type(e).__name__}: {text}"


def _setup_output(debug: bool) -> Callable[[], None]:
    """``toolkit: ...`` lines on stderr for notices and warnings (debug: every toolkit log record too). Returns
    what puts the logging and warning set-up back as it was (``main()`` may run in-process: tests, a notebook)."""
    root = logging.getLogger("toolkit")
    notice = logging.getLogger("toolkit.notice")
    saved = (root.handlers[:], root.propagate, root.level, notice.level, warnings.showwarning)
    handler = _Stderr()
    handler.setFormatter(_Short() if not debug else logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    root.handlers = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    notice.setLevel(logging.INFO)
    if not debug:
        warnings.showwarning = _show_warning

    def restore() -> None:
        root.handlers, root.propagate = saved[0], saved[1]
        root.setLevel(saved[2])
        notice.setLevel(saved[3])
        warnings.showwarning = saved[4]

    return restore


class _Stderr(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is when a record is written (not the stream it was made with), so
    a ``main()`` called in-process (tests, a notebook) never leaves a handler on a stream closed since."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _Short(logging.Formatter):
    """``toolkit: message``: the first line only, never a traceback (those are for ``--debug``)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().strip().splitlines()
        return f"toolkit: {lines[0] if lines else record.levelname.lower()}"


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    print(f"toolkit: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
