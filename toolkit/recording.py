"""Recording the committed notebooks' outputs (what nbval compares against), and keeping them clean.

A committed notebook is read by everyone who opens the repository, so its outputs must not carry the
recording machine: no temporary workspace, no sandbox port, no host or user name. ``refresh`` runs each
notebook the way ``make test`` does (the embedded sandbox at nbval's time scale, no API keys, a fresh
workspace) and then rewrites what is machine-specific to neutral text: the workspace becomes ``.toolkit``
(what a reader who opens the notebook in Jupyter gets) and a sandbox address ``http://127.0.0.1:PORT``.
``machine_specific`` finds what is left; a test runs it over every committed notebook.
"""

from __future__ import annotations

import getpass
import re
import socket
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .workspace import service_variables

NEUTRAL_WORKSPACE = ".toolkit"
NEUTRAL_SANDBOX = "http://127.0.0.1:PORT"
NBVAL_TIME_SCALE = "0.002"  # the Makefile's nbval run uses the same
_LOCAL_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+")
#: where a warning raised at the user's line says it was raised: the kernel's file for the cell
_CELL_FILE = re.compile(r"(?:/[^\s'\"<>:]*/)?ipykernel_\d+/\d+\.py:\d+:")
NEUTRAL_CELL = "<cell>:"
_MACHINE = [
    ("a local address with a port", re.compile(r"\b(?:127\.0\.0\.1|localhost|\[::1\]):\d+")),
    ("a temporary path", re.compile(r"(?<![\w.])(?:/tmp|/var/tmp|/var/folders|/private/var|/dev/shm)/[^\s'\"<>]*")),
    ("a home folder", re.compile(r"(?<![\w.])(?:/home/[^\s/'\"<>]+|/root|/Users/[^\s/'\"<>]+)(?=[/\s'\"<>]|$)")),
    ("a Windows user folder", re.compile(r"[A-Za-z]:\\\\?Users\\\\?[^\s\\'\"<>]+")),
    ("a kernel's cell file", re.compile(r"ipykernel_\d+")),
]


def scrub(text: str, workspace: Path | None = None) -> str:
    """``text`` with the recording run's workspace path and sandbox addresses replaced by neutral ones."""
    if workspace is not None:
        for form in {str(workspace), str(workspace.resolve())}:
            text = text.replace(form, NEUTRAL_WORKSPACE)
    return _CELL_FILE.sub(NEUTRAL_CELL, _LOCAL_URL.sub(NEUTRAL_SANDBOX, text))


def _outputs_text(nb: Any) -> Iterable[tuple[int, str]]:
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    value = output[key]
                    yield i, "\n".join(value) if isinstance(value, list) else str(value)
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    yield i, value if isinstance(value, str) else str(value)


def machine_specific(nb: Any) -> list[str]:
    """What in a notebook's outputs belongs to the machine that ran it: ``["cell 3: a temporary path
    ('/tmp/x')", ...]``, empty when the outputs are clean. Host and user names of this machine count too."""
    names = [
        (what, re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])"))
        for what, name in (("this machine's host name", socket.gethostname()), ("this user's name", getpass.getuser()))
        if len(name) >= 4 and name not in {"localhost", "root", "user", "jovyan"}
    ]
    found = []
    for i, text in _outputs_text(nb):
        for what, pattern in _MACHINE + names:
            m = pattern.search(text)
            if m:
                found.append(f"cell {i}: {what} ({m.group(0)!r})")
    return found


def refresh(notebooks: Iterable[Path], *, env: dict[str, str | None] | None = None, timeout: int = 900) -> list[str]:
    """Re-execute notebooks in place on a fresh temporary workspace (the outputs nbval compares against).

    The run meets the embedded sandbox as ``make test`` does (no API keys, nbval's time scale). What is kept
    is text, scrubbed of the run's workspace and ports: tables, printed results and the monitors' static HTML.
    Widget state (model ids change on every run) and figures (hundreds of kB each; ``make demo`` renders them
    into ``reports/``) are left out, so the committed notebooks stay small and their diffs readable.
    Returns the errors (empty when every notebook ran and came out clean)."""
    import nbformat

    from .report import WIDGET_VIEW, execute

    errors = []
    with tempfile.TemporaryDirectory(prefix="toolkit-refresh-") as tmp:
        workspace = Path(tmp) / ".toolkit"
        run_env: dict[str, str | None] = {var: None for var in service_variables()}
        run_env.update({"TOOLKIT_WORKSPACE": str(workspace), "TOOLKIT_SANDBOX_TIME_SCALE": NBVAL_TIME_SCALE})
        run_env.update(env or {})
        for path in [Path(p) for p in notebooks]:
            nb, _, error = execute(path, cwd=path.parent.resolve(), env=run_env, timeout=timeout)
            nb.metadata.pop("widgets", None)
            for cell in nb.cells:
                if cell.cell_type != "code":
                    continue
                for output in cell.outputs:  # a widget with a picture as fallback keeps its text line
                    data = output.get("data", {})
                    if WIDGET_VIEW in data and "text/plain" in data:
                        for key in [k for k in data if k.startswith("image/")]:
                            del data[key]
                cell.outputs = [o for o in cell.outputs if not any(k.startswith("image/") for k in o.get("data", {}))]
                for output in cell.outputs:
                    output.get("data", {}).pop(WIDGET_VIEW, None)
            nb = nbformat.reads(scrub(nbformat.writes(nb), workspace), as_version=4)
            left = machine_specific(nb)
            if error is None and left:
                error = f"machine-specific output left after scrubbing: {'; '.join(left[:3])}"
            nbformat.write(nb, path)
            print(f"  {path.name}: {'ok' if error is None else error}", file=sys.stderr)
            if error:
                errors.append(f"{path.name}: {error}")
    return errors


def main(argv: list[str] | None = None) -> int:
    """``python -m toolkit.recording NOTEBOOK...``: re-record the notebooks' outputs (``make notebooks``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m toolkit.recording", description=refresh.__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    return 1 if refresh(parser.parse_args(argv).notebooks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
