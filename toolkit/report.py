"""Execute notebooks with a real kernel and render them as self-contained, offline HTML (``make demo``).

``build`` runs each notebook in a fresh kernel of this Python (not whatever ``python3`` kernelspec the machine
has), stores the widget state (so the monitors' final state survives), renders one HTML page per notebook with
images inline and nothing fetched from the network, and writes ``index.html`` plus ``runs.json`` with what
each run cost: seconds, jobs submitted (from the ledger) and HTTP requests sent (counted in the kernel).

``python -m toolkit.report build notebooks/*.ipynb --out reports`` does the same from a shell;
``python -m toolkit.recording notebooks/*.ipynb`` (``make notebooks``) re-executes notebooks in place on a
fresh workspace, which is how the outputs nbval compares against are recorded.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STATS_MARK = "__toolkit_run_stats__"
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.IGNORECASE | re.DOTALL)
_NBVAL = re.compile(r"^\s*#\s*NBVAL_\w+\s*$")
_REMOTE_LINK = re.compile(r"<link[^>]*\bhref=[\"']https?://[^\"']*[\"'][^>]*>\s*", re.IGNORECASE)
#: what makes a browser fetch from elsewhere: src of script/img/iframe/media, stylesheet links, CSS imports and
#: url(), script imports; plain <a href> hyperlinks are fine
_FETCHES = re.compile(
    r"<(script|img|iframe|source|embed|video|audio|object)\b[^>]*\b(src|data)\s*=\s*[\"']?(https?:)?//"
    r"|<link\b[^>]*\bhref\s*=\s*[\"']?(https?:)?//"
    r"|@import\s+(url\()?[\"']?(https?:)?//|url\(\s*[\"']?(https?:)?//"
    r"|\bimport\s*\(\s*[\"'](https?:)?//|<script\b",
    re.IGNORECASE,
)
#: a notice on stderr (the sandbox banner, warnings) is not an error: amber instead of the template's red
_PAGE_CSS = (
    "[data-mime-type='application/vnd.jupyter.stderr']{background:#fff8e5!important;color:#4d3800}"
    ".toolkit-nav{max-width:1100px;margin:12px auto 0;padding:0 16px;font:14px system-ui,sans-serif}"
    ".toolkit-nav a{color:#0a4fa3;text-decoration:none}"
)

# Runs as the last cell of every executed notebook (and is removed again): what the kernel sent.
_STATS_CELL = f"""\
def _toolkit_run_stats():
    import gc, json
    from toolkit.client.transport import Transport
    out = {{"requests": sum(t.requests for t in gc.get_objects() if isinstance(t, Transport))}}
    try:
        import httpx
        from toolkit import workspace as _ws
        sandboxes = [sb for sb in _ws._sandboxes.values() if sb.port is not None]
        if sandboxes:
            requests, created = {{}}, 0
            for sb in sandboxes:
                snap = httpx.get(sb.url + "/__sandbox__/stats", timeout=10).json()
                for provider, p in snap["providers"].items():
                    for tenant in p["tenants"].values():
                        created += tenant["jobs"]["created"]
                        for route, codes in tenant["requests"].items():
                            key = provider + " " + route
                            requests[key] = requests.get(key, 0) + sum(codes.values())
            out["sandbox"] = {{"requests": requests, "jobs_created_total": created}}
    except Exception as e:  # the figures are a report, never a reason to fail the run
        out["sandbox_error"] = repr(e)
    print("{STATS_MARK}" + json.dumps(out))
_toolkit_run_stats()
del _toolkit_run_stats
"""


@dataclass
class Run:
    """What one notebook run did: where its page is, how long it took and what it sent."""

    notebook: str
    title: str
    summary: str
    html: str
    seconds: float
    ok: bool
    error: str | None = None
    requests: int | None = None  # HTTP requests the toolkit's clients sent in this run
    jobs_submitted: int | None = None  # ledger jobs first sent to a provider during this run
    sandbox: dict[str, Any] | None = field(default=None)  # the embedded sandbox's counters, if it ran


def kernel_manager(**kwargs: Any) -> Any:
    """A kernel manager for a Python kernel of *this* interpreter (the project's virtualenv), whatever
    kernelspecs are installed on the machine. It talks to the kernel over local IPC sockets in a private
    temporary folder (no TCP port, nothing left in the notebooks' folder)."""
    import ipykernel.kernelspec
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    class _Here(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> Any:
            return self.kernel_spec_class(
                resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
            )

    kwargs.setdefault("transport", "ipc")
    if "ip" not in kwargs:
        kwargs["ip"] = os.path.join(tempfile.mkdtemp(prefix="toolkit-kernel-"), "kernel")
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_Here(), **kwargs)


def inject_parameters(nb: Any, parameters: dict[str, Any]) -> Any:
    """Papermill-style: a cell tagged ``injected-parameters`` right after the cell tagged ``parameters``
    (or first), assigning each value as a Python literal. Returns ``nb`` (changed in place)."""
    import nbformat

    if not parameters:
        return nb
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    source = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    at = next((i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells.insert(at, cell)
    return nb


def execute(
    path: Path,
    out: Path | None = None,
    *,
    cwd: Path,
    timeout: int = 900,
    env: dict[str, str | None] | None = None,
    parameters: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any], str | None]:
    """Run every cell of ``path`` in a fresh kernel (working directory ``cwd``; ``env`` is added to this
    process's environment, a None value removes that variable).

    Returns ``(notebook, stats, error)``: the executed notebook (widget state stored, so the monitors' final
    state survives), what the kernel sent (see ``Run``) and the error that stopped it (None when every cell
    ran). The notebook is written to ``out`` when given, also after an error.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = inject_parameters(nbformat.read(path, as_version=4), parameters or {})
    nb.cells.append(nbformat.v4.new_code_cell(_STATS_CELL))
    error = None
    with tempfile.TemporaryDirectory(prefix="toolkit-kernel-") as sockets:
        client = NotebookClient(
            nb,
            timeout=timeout,
            km=kernel_manager(ip=os.path.join(sockets, "kernel")),
            resources={"metadata": {"path": str(cwd)}},
            store_widget_state=True,
            record_timing=False,
        )
        try:
            client.execute(cleanup_kc=True, env=kernel_env(env))  # cleanup_kc: our km, so shut its kernel down
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
            error = _first_line(str(e), path.name)
    stats_cell = nb.cells.pop()
    stats: dict[str, Any] = {}
    for o in stats_cell.get("outputs", []):
        for line in str(o.get("text", "")).splitlines():
            if line.startswith(STATS_MARK):
                stats = json.loads(line[len(STATS_MARK) :])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
    return nb, stats, error


def to_html(nb: Any, out: Path, *, back: str | None = None) -> Path:
    """Self-contained HTML: images inline, no script at all, nothing fetched from the network.

    Live widget views cannot render without their JavaScript, so each output keeps its static HTML
    representation (for the monitor: its final state) instead. Cells tagged ``remove-input`` show only
    their output, ``remove-cell`` nothing; nbval markers are dropped from the code shown. ``back`` adds a
    link to that page (the index) at the top.
    """
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = "\n".join(ln for ln in cell.source.splitlines() if not _NBVAL.match(ln))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and ("text/html" in data or "text/plain" in data):
                del data[WIDGET_VIEW]
    nb.metadata.pop("widgets", None)
    nb.metadata["title"] = describe(nb, out.stem)[0]
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    c.TagRemovePreprocessor.remove_cell_tags = {"remove-cell"}
    exporter = HTMLExporter(config=c, template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    # The page needs no JavaScript (widgets are static HTML here); the template's scripts would only load
    # MathJax / mermaid from a CDN.
    body = _SCRIPT.sub("", _REMOTE_LINK.sub("", body))
    body = body.replace("</head>", f"<style>{_PAGE_CSS}</style>\n</head>", 1)
    if back:
        body = re.sub(
            r"(<body[^>]*>)",
            lambda m: m.group(1) + f'<nav class="toolkit-nav"><a href="{html.escape(back)}">← all notebooks</a></nav>',
            body,
            count=1,
        )
    problems = offline_problems(body)
    if problems:
        raise ValueError(f"{out.name} would fetch from the network: {problems[:3]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def offline_problems(page: str) -> list[str]:
    """Every place in an HTML page that makes a browser fetch from another host (plain hyperlinks are fine)."""
    return [page[max(0, m.start() - 20) : m.end() + 60] for m in _FETCHES.finditer(page)]


def kernel_env(env: dict[str, str | None] | None) -> dict[str, str]:
    """This process's environment with ``env`` applied (None values remove the variable)."""
    out = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def build(
    notebooks: Iterable[Path],
    reports: Path,
    *,
    cwd: Path,
    env: dict[str, str | None] | None = None,
    workspace: Path | None = None,
    parameters: dict[str, dict[str, Any]] | None = None,
    timeout: int = 900,
) -> list[Run]:
    """Execute each notebook and write ``reports/<name>.ipynb`` + ``.html``, ``index.html`` and ``runs.json``.

    ``workspace`` (default ``$TOOLKIT_WORKSPACE`` in ``env``, else ``cwd/.toolkit``) is the ledger the
    notebooks use: it is passed on as ``TOOLKIT_WORKSPACE`` and read to count the jobs each run submitted.
    ``parameters`` maps a notebook's file name to the values injected after its ``parameters`` cell.
    A notebook that fails still gets its page (up to the failing cell) and is marked in the index.
    """
    env = dict(env or {})
    ws_path = Path(workspace or env.get("TOOLKIT_WORKSPACE") or os.environ.get("TOOLKIT_WORKSPACE") or cwd / ".toolkit")
    if not ws_path.is_absolute():
        ws_path = (cwd / ws_path).resolve()
    env["TOOLKIT_WORKSPACE"] = str(ws_path)
    reports.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    for nb_path in [Path(p) for p in notebooks]:
        print(f"  running {nb_path.name} ...", flush=True, file=sys.stderr)
        t0 = time.time()
        nb, stats, error = execute(
            nb_path,
            reports / nb_path.name,
            cwd=cwd,
            env=env,
            timeout=timeout,
            parameters=(parameters or {}).get(nb_path.name),
        )
        page = to_html(nb, reports / nb_path.with_suffix(".html").name, back="index.html")
        title, summary = describe(nb, nb_path.stem)
        run = Run(
            nb_path.name,
            title,
            summary,
            page.name,
            round(time.time() - t0, 2),
            error is None,
            error,
            stats.get("requests"),
            _submitted_since(ws_path, t0),
            stats.get("sandbox"),
        )
        runs.append(run)
        cost = f"{run.jobs_submitted} jobs submitted, {run.requests} HTTP requests" if error is None else error
        print(f"  {nb_path.name}: {run.seconds:.1f} s ({cost})", flush=True, file=sys.stderr)
    from .provenance import environment

    ran_with = environment()
    write_index(runs, reports, ws_path, live=_any_key(kernel_env(env)), ran_with=ran_with, project=cwd)
    (reports / "runs.json").write_text(json.dumps([asdict(r) for r in runs], indent=1))
    (reports / "environment.json").write_text(json.dumps(ran_with, indent=1))
    return runs


def describe(nb: Any, default: str) -> tuple[str, str]:
    """(title, first sentence of the introduction) from the notebook's first markdown cell."""
    for c in nb.cells:
        if c.cell_type != "markdown":
            continue
        lines = [ln.strip() for ln in c.source.splitlines()]
        title = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("#")), default)
        prose = " ".join(ln for ln in lines if ln and not ln.startswith("#"))
        prose = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", prose).replace("**", "").replace("`", "")
        sentence = re.split(r"(?<=[.!?])\s", prose, maxsplit=1)[0]
        return title, sentence
    return default, ""


def write_index(
    runs: list[Run],
    reports: Path,
    workspace: Path,
    live: bool = False,
    ran_with: dict[str, Any] | None = None,
    project: Path | None = None,
) -> Path:
    """``index.html``: one entry per notebook with its summary, time, jobs and requests, and in the footer what
    it ran with (``toolkit.provenance``: version, Python, the lock's digest); no external assets.

    The footer names ``workspace`` relative to ``project`` (the page is mailed: no machine paths), or by its
    folder name when it lies outside."""
    from .provenance import environment, summary

    rows = []
    for r in runs:
        state = "" if r.ok else f' <span class="bad">failed: {html.escape(r.error or "")}</span>'
        cost = (
            (
                f"{r.seconds:.0f} s · {r.jobs_submitted} new job{'s' * (r.jobs_submitted != 1)} · "
                f"{r.requests} HTTP request{'s' * (r.requests != 1)}"
            )
            if r.requests is not None
            else f"{r.seconds:.0f} s"
        )
        rows.append(
            f'<li><a href="{html.escape(r.html)}">{html.escape(r.title)}</a>{state}'
            f'<br><span class="sum">{html.escape(r.summary)}</span><br><small>{cost}</small></li>'
        )
    total = sum(r.seconds for r in runs)
    submitted = sum(r.jobs_submitted or 0 for r in runs)
    against = "the configured services" if live else "the embedded sandbox (simulated results)"
    again = (
        "Nothing was submitted: every result came from the workspace's ledger and cache."
        if submitted == 0
        else f"{submitted} jobs were submitted; building again sends none of them again."
    )
    shown = workspace.name
    if project is not None and workspace.resolve().is_relative_to(project.resolve()):
        shown = workspace.resolve().relative_to(project.resolve()).as_posix()
    index = reports / "index.html"
    index.write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>toolkit: executed notebooks</title>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<style>body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:52em;margin:3em auto;"
        "padding:0 1em;line-height:1.5;color:#1f2328}li{margin:0 0 1.1em}a{font-weight:600}"
        ".sum{color:#444}small{color:#6e7781}.bad{color:#a40e26;font-weight:600}"
        "footer{margin-top:2em;color:#6e7781;font-size:.9em}</style></head><body>"
        "<h1>toolkit: executed notebooks</h1>"
        f"<p>Built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} against {against}, in {total:.0f} s. "
        f"{again}</p><ol>{''.join(rows)}</ol>"
        f"<footer>Workspace (ledger and result cache): <code>{html.escape(shown)}</code>. "
        "Each page is self-contained: open it offline, mail it, archive it.<br>"
        f"Ran with {html.escape(summary(ran_with or environment()))} (details: environment.json)."
        "</footer></body></html>",
        encoding="utf-8",
    )
    return index


def _submitted_since(workspace: Path, t0: float) -> int | None:
    """Jobs of the ledger at ``workspace`` first sent to a provider at or after ``t0``."""
    if not (workspace / "ledger.sqlite3").exists():
        return 0
    from .client.ledger import Ledger

    ledger = Ledger(workspace)
    try:
        return sum(1 for j in ledger.jobs() if j.submitted_at is not None and j.submitted_at >= t0)
    finally:
        ledger.close()


def _first_line(message: str, name: str) -> str:
    """The exception line of an nbclient error (its message holds the whole traceback)."""
    lines = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", message).splitlines() if ln.strip()]
    err = next((ln for ln in reversed(lines) if re.match(r"^\w+(Error|Exception|Interrupt)\b", ln)), None)
    return f"{name}: {err or (lines[-1] if lines else 'error')}"[:300]


def _any_key(environ: dict[str, str] | None = None) -> bool:
    """Whether any provider's API key is set (then that provider runs against the real service)."""
    from .workspace import ENV

    environ = os.environ if environ is None else environ
    return any(environ.get(key_var) for key_var, _, _ in ENV.values())


def main(argv: list[str] | None = None) -> int:
    """``python -m toolkit.report build NOTEBOOK... [--out reports] [-p notebook:name=value]``."""
    parser = argparse.ArgumentParser(prog="python -m toolkit.report", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports"), help="build: where the pages go")
    parser.add_argument("--workspace", type=Path, help="build: the ledger the notebooks use")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        help="build: NOTEBOOK:NAME=VALUE (VALUE is a Python literal or a string)",
    )
    args = parser.parse_args(argv)
    params: dict[str, dict[str, Any]] = {}
    for p in args.param:
        target, _, assignment = p.partition(":")
        name, _, value = assignment.partition("=")
        params.setdefault(Path(target).name, {})[name] = _literal(value)
    cwd = args.notebooks[0].parent.resolve()
    runs = build(args.notebooks, args.out.resolve(), cwd=cwd, workspace=args.workspace, parameters=params)
    print(f"report: {(args.out / 'index.html').resolve()}")
    return 0 if all(r.ok for r in runs) else 1


def _literal(text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


if __name__ == "__main__":
    raise SystemExit(main())
