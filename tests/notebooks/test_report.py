"""toolkit.report on small notebooks: parameters, a real kernel of this interpreter, errors, offline HTML, index."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from toolkit import report

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def notebook(path: Path, *cells: str | tuple[str, list[str]], markdown: str | None = None) -> Path:
    """Write a notebook of code cells (``(source, tags)`` for tagged ones), optionally led by markdown."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    for c in cells:
        source, tags = c if isinstance(c, tuple) else (c, [])
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def texts(nb) -> list[str]:
    """Every stream text and text/plain result, cell by cell (one string per cell)."""
    out = []
    for c in nb.cells:
        if c.cell_type == "code":
            out.append("".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in c.outputs))
    return out


def test_inject_parameters_goes_after_the_tagged_cell_and_replaces_an_earlier_injection():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# t"),
            nbformat.v4.new_code_cell("a = 1\nb = None", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("print(a, b)"),
        ]
    )
    report.inject_parameters(nb, {"b": ["x", 2], "c": "it's"})
    report.inject_parameters(nb, {"b": 3})  # a second injection replaces the first
    assert [c.metadata.get("tags", []) for c in nb.cells] == [[], ["parameters"], ["injected-parameters"], []]
    assert nb.cells[2].source == "# Parameters\nb = 3\n"
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    report.inject_parameters(plain, {"x": {"k": 1.5}})
    assert plain.cells[0].source == "# Parameters\nx = {'k': 1.5}\n"  # no parameters cell: first
    assert report.inject_parameters(plain, {}) is plain and len(plain.cells) == 2


def test_execute_runs_this_interpreter_with_parameters_env_and_cwd(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_TEST_DROPPED", "present")
    path = notebook(
        tmp_path / "nb" / "p.ipynb",
        ("workspace = None\nproviders = None", ["parameters"]),
        "import os, sys\nfrom pathlib import Path\n"
        "print(sys.executable)\nprint(Path.cwd())\nprint(workspace, providers)\n"
        "print(os.environ.get('TOOLKIT_TEST_VAR'), os.environ.get('TOOLKIT_TEST_DROPPED'))",
    )
    out = tmp_path / "out" / "p.ipynb"
    nb, stats, error = report.execute(
        path,
        out,
        cwd=tmp_path / "nb",
        parameters={"providers": ["claid"]},
        env={"TOOLKIT_TEST_VAR": "set", "TOOLKIT_TEST_DROPPED": None},
    )
    assert error is None
    lines = texts(nb)[-1].splitlines()
    assert Path(lines[0]).resolve() == Path(sys.executable).resolve()  # not whatever "python3" kernelspec
    assert Path(lines[1]) == (tmp_path / "nb").resolve()
    assert lines[2:] == ["None ['claid']", "set None"]
    assert stats == {"requests": 0}  # no toolkit client was used, no sandbox started
    saved = nbformat.read(out, as_version=4)
    assert "_toolkit_run_stats" not in "".join(c.source for c in saved.cells)  # the stats cell is removed
    assert [c.metadata.get("tags") for c in saved.cells][:2] == [["parameters"], ["injected-parameters"]]


def test_execute_counts_what_a_notebook_sends_to_the_embedded_sandbox(tmp_path):
    from tests.widgets.test_monitor import write_images

    write_images(tmp_path / "imgs", 3)
    path = notebook(
        tmp_path / "s.ipynb",
        "import toolkit as tk\nws = tk.Workspace(quiet=True)\nb = ws.animaldetect.detect('imgs')\nb",
        "b.wait(timeout=60)\nprint(b.status_counts()['succeeded'])",
    )
    env = {"TOOLKIT_WORKSPACE": str(tmp_path / "ws"), "TOOLKIT_SANDBOX_TIME_SCALE": "0.002", "AD_API_KEY": None}
    nb, stats, error = report.execute(path, cwd=tmp_path, env=env)
    assert error is None and texts(nb)[1].strip() == "3"
    routes = stats["sandbox"]["requests"]
    assert routes["animaldetect POST /jobs"] == 3 and stats["sandbox"]["jobs_created_total"] == 3
    assert stats["requests"] == sum(routes.values()) >= 9  # create + upload + submit + polls, all counted
    # the monitor's final state is in the saved output (rewritten through its display id), widget state stored
    monitor = nb.cells[0].outputs[-1]["data"]
    assert "3/3 done (3 succeeded)" in monitor["text/plain"] and WIDGET_VIEW in monitor
    assert nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    # a second run re-attaches from the ledger: nothing is sent
    nb, stats, error = report.execute(path, cwd=tmp_path, env=env)
    assert error is None and texts(nb)[1].strip() == "3"
    assert stats["requests"] == 0 and stats["sandbox"]["requests"] == {}


def test_a_failing_cell_stops_the_run_and_is_reported(tmp_path):
    path = notebook(
        tmp_path / "bad.ipynb", "print('before')", "raise ValueError('the data is wrong')", "print('after')"
    )
    nb, stats, error = report.execute(path, tmp_path / "out.ipynb", cwd=tmp_path)
    assert error == "bad.ipynb: ValueError: the data is wrong"
    assert texts(nb)[0] == "before\n" and nb.cells[2].outputs == []  # the rest did not run
    assert stats == {}  # the stats cell did not run either
    saved = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert saved.cells[1].outputs[0]["output_type"] == "error"


def test_to_html_is_offline_and_shows_the_static_fallback_of_widgets(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# The title\n\nFirst sentence here. Second one. See [docs](https://example.org)."
        ),
        nbformat.v4.new_code_cell(
            "# NBVAL_CHECK_OUTPUT\nshown_code = 1",
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        WIDGET_VIEW: {"model_id": "abc", "version_major": 2},
                        "text/html": "<b>7/7 done (7 succeeded)</b>",
                        "text/plain": "7/7 done",
                    },
                ),
                nbformat.v4.new_output("stream", name="stderr", text="toolkit: using the embedded sandbox\n"),
            ],
        ),
        nbformat.v4.new_code_cell(
            "hidden_code = 2",
            metadata={"tags": ["remove-input"]},
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="visible result\n")],
        ),
        nbformat.v4.new_code_cell("gone = 3", metadata={"tags": ["remove-cell"]}),
    ]
    page = report.to_html(nb, tmp_path / "p.html", back="index.html").read_text()
    assert "<b>7/7 done (7 succeeded)</b>" in page  # the monitor's final state as static HTML
    assert "<script" not in page and report.offline_problems(page) == []
    assert "NBVAL" not in page and "shown_code" in page
    assert "hidden_code" not in page and "visible result" in page and "gone" not in page
    assert "<title>The title</title>" in page and 'href="index.html"' in page
    assert "#fff8e5" in page  # stderr notices styled as notices
    assert report.describe(nb, "x") == ("The title", "First sentence here.")


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="https://cdn.example.org/x.js"></script>',
        "<script>const m = await import('https://cdn.example.org/m.mjs')</script>",
        '<img src="http://example.org/a.png">',
        "<link rel=stylesheet href='//fonts.example.org/f.css'>",
        "<style>@import url('https://example.org/x.css');</style>",
        '<div style="background:url(https://example.org/bg.png)"></div>',
        '<iframe src="https://example.org"></iframe>',
    ],
)
def test_offline_problems_finds_every_kind_of_remote_fetch(snippet):
    assert report.offline_problems(f"<html><body>{snippet}</body></html>")


def test_offline_problems_allows_plain_links_and_inline_images():
    page = (
        '<a href="https://docs.example.org/page">docs</a> <img src="data:image/png;base64,AAAA"> '
        "<p>see https://example.org in text</p>"
    )
    assert report.offline_problems(page) == []


def test_build_writes_pages_index_and_runs_and_marks_failures(tmp_path):
    good = notebook(
        tmp_path / "nbs" / "01_good.ipynb",
        "print(6 * 7)",
        markdown="# A good notebook\n\nIt prints the answer. Then stops.",
    )
    bad = notebook(tmp_path / "nbs" / "02_bad.ipynb", "1 / 0", markdown="# A broken one\n\nIt divides by zero.")
    runs = report.build(
        [good, bad], tmp_path / "reports", cwd=tmp_path / "nbs", env={"TOOLKIT_WORKSPACE": str(tmp_path / "ws")}
    )
    assert [(r.notebook, r.ok, r.jobs_submitted, r.requests) for r in runs] == [
        ("01_good.ipynb", True, 0, 0),
        ("02_bad.ipynb", False, 0, None),
    ]
    assert runs[1].error == "02_bad.ipynb: ZeroDivisionError: division by zero"
    index = (tmp_path / "reports" / "index.html").read_text()
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', index) == [
        ("01_good.html", "A good notebook"),
        ("02_bad.html", "A broken one"),
    ]
    assert "It prints the answer." in index and "failed: 02_bad.ipynb: ZeroDivisionError" in index
    assert "<script" not in index and report.offline_problems(index) == []
    assert "42" in (tmp_path / "reports" / "01_good.html").read_text()
    assert "ZeroDivisionError" in (tmp_path / "reports" / "02_bad.html").read_text()  # a page up to the error
    saved = json.loads((tmp_path / "reports" / "runs.json").read_text())
    assert [r["notebook"] for r in saved] == ["01_good.ipynb", "02_bad.ipynb"] and saved[0]["seconds"] > 0


def test_main_parses_parameters_and_exits_non_zero_on_failure(tmp_path, capsys):
    path = notebook(
        tmp_path / "nbs" / "r.ipynb",
        ("since = None\nproviders = None", ["parameters"]),
        "print(repr(since), providers)",
    )
    code = report.main(
        [
            "build",
            str(path),
            "--out",
            str(tmp_path / "rep"),
            "--workspace",
            str(tmp_path / "ws"),
            "-p",
            "r.ipynb:since=2026-06-01",
            "-p",
            "r.ipynb:providers=['faces']",
        ]
    )
    assert code == 0 and f"report: {tmp_path / 'rep' / 'index.html'}" in capsys.readouterr().out
    executed = nbformat.read(tmp_path / "rep" / "r.ipynb", as_version=4)
    assert texts(executed)[-1] == "'2026-06-01' ['faces']\n"
    bad = notebook(tmp_path / "nbs" / "x.ipynb", "1 / 0")
    assert report.main(["build", str(bad), "--out", str(tmp_path / "rep2")]) == 1


def test_index_footer_names_the_workspace_relative_to_the_project_not_the_machine(tmp_path):
    project = tmp_path / "home" / "someone" / "shop"
    (tmp_path / "r1").mkdir(), (tmp_path / "r2").mkdir()
    inside = report.write_index([], tmp_path / "r1", project / ".toolkit", project=project).read_text()
    outside = report.write_index([], tmp_path / "r2", tmp_path / "scratch" / "ws", project=project).read_text()
    footer = re.search(r"<footer>.*</footer>", inside, re.S).group(0)
    assert "<code>.toolkit</code>" in footer and str(tmp_path) not in inside
    assert "<code>ws</code>" in outside and str(tmp_path) not in outside
