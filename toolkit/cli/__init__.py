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
    """Run one command; returns the exit status: 0 all done, 1 some jobs failed (or unfinished) or inputs were
    refused, 2 a usage or other error, 130 interrupted (README "Exit codes")."""
    in_process = argv is not None
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(describe_operations=_asks_submit_help(argv))
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    restore_output = _setup_output(debug)
    restore_interrupt = _catch_interrupt()
    from ..client import runtime

    exit_line, runtime.exit_line = runtime.exit_line, None  # every command says what goes on in its own words
    try:
        if args.command == "jobs" and args.action != "ls" and not args.id:
            parser.error(f"jobs {args.action} needs a batch id (`toolkit jobs ls --batches` lists them)")
        return _run(args)
    except BrokenPipeError:
        _drop_stdout()  # the reader (``| head``) has all it wanted: no "Broken pipe", now or at exit
        return 0
    except (KeyboardInterrupt, Interrupted):
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
        restore_interrupt()
        _stop_embedded_sandboxes()
        restore_output()
        if in_process:  # a test or a notebook calling main(): the process's own exit says its line again
            runtime.exit_line = exit_line


def _drop_stdout() -> None:
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (a test's capture): nothing to flush later
        pass


class Interrupted(BaseException):
    """Ctrl-C in a command: not a ``KeyboardInterrupt``, which ``Batch.wait`` answers with advice for Python
    callers; the command prints its own one line and exits 130."""


def _catch_interrupt() -> Callable[[], None]:
    """Ctrl-C raises ``Interrupted`` while the command runs; returns what puts the handler back."""
    import signal

    def interrupted(signum: int, frame: Any) -> None:
        raise Interrupted()

    try:
        previous = signal.signal(signal.SIGINT, interrupted)
    except ValueError:  # not the main thread (main() called from a thread): Ctrl-C stays as it is
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return restore


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
    if args.command == "sandbox" and args.action:
        return _background(args)
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


def _background(args: argparse.Namespace) -> int:
    """``toolkit sandbox stop`` / ``status``: the workspace's background sandbox."""
    from pathlib import Path

    from ..sandbox import background

    data_dir = Path(args.workspace) / "sandbox"
    if args.action == "stop":
        pid = background.stop(data_dir)
        print(f"stopped the background sandbox of {args.workspace} (pid {pid})" if pid else "no background sandbox")
        return 0
    found = background.find(data_dir)
    print(f"{found.url} (pid {found.pid}, time scale {found.config.time_scale:g})" if found else "not running")
    return 0


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
