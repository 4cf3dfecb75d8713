"""``make demo``: execute every notebook against the embedded sandbox and write an offline HTML report.

The notebooks run in ``notebooks/`` with their workspace in ``notebooks/.toolkit`` (or ``$TOOLKIT_WORKSPACE``),
which is also what opening them in Jupyter uses: after the demo, every notebook re-runs there at once from the
ledger. A second demo is fast for the same reason, and submits nothing.

API keys in the environment are ignored: the demo always runs against the embedded sandbox (to run the
notebooks against the real services, open them in Jupyter or use ``python -m toolkit.report build``).
The sandbox runs at time scale 0.002 here (``$TOOLKIT_SANDBOX_TIME_SCALE`` overrides it): a 15-minute SateAIs
ship job takes about 2 s and a 50-minute oil-slick job about 6 s, which keeps every notebook under a minute.
Interactive sessions keep the workspace default (0.01), where the monitors have time to show progress.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from . import report
from .workspace import service_variables

DEMO_TIME_SCALE = "0.002"


def notebooks_dir() -> Path:
    """``notebooks/`` of the working directory (``make demo`` runs in the repository), else of the source tree."""
    here = Path.cwd() / "notebooks"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "notebooks"


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks, write ``reports/``, print where the report is; non-zero if a notebook failed."""
    folder = notebooks_dir()
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(f"toolkit demo: no notebooks in {folder}", file=sys.stderr)
        return 2
    reports = Path(os.environ.get("TOOLKIT_REPORTS", "reports")).resolve()
    workspace = Path(os.environ.get("TOOLKIT_WORKSPACE") or folder / ".toolkit").resolve()
    env: dict[str, str | None] = {var: None for var in service_variables()}  # the demo never calls the real APIs
    env["TOOLKIT_SANDBOX_TIME_SCALE"] = os.environ.get("TOOLKIT_SANDBOX_TIME_SCALE", DEMO_TIME_SCALE)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures inline even if MPLBACKEND is set
    print(
        f"toolkit demo: running {len(notebooks)} notebooks against the embedded sandbox (time scale "
        f"{env['TOOLKIT_SANDBOX_TIME_SCALE']})\n  workspace: {workspace}",
        flush=True,
    )
    t0 = time.perf_counter()
    runs = report.build(notebooks, reports, cwd=folder, env=env, workspace=workspace)
    failed = [r for r in runs if not r.ok]
    submitted = sum(r.jobs_submitted or 0 for r in runs)
    print(
        f"\n{len(runs) - len(failed)} of {len(runs)} notebooks ran in {time.perf_counter() - t0:.0f} s; "
        f"{submitted} jobs submitted" + (" (everything came from the ledger)" if submitted == 0 else "")
    )
    for r in failed:
        print(f"  FAILED {r.error}", file=sys.stderr)
    print(f"report: {(reports / 'index.html').as_uri()}")
    return 1 if failed else 0
