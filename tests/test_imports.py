"""No import cycles inside ``toolkit``: module-level, lazy (inside functions) or type-only alike.

Every module under ``toolkit/`` is parsed with ``ast``; every ``import`` / ``from ... import`` anywhere in it
(a function body, an ``if TYPE_CHECKING:`` block) that names a ``toolkit`` module is an edge, relative forms
resolved against the importing module's package (``from . import x`` -> ``pkg.x`` when that is a module,
else ``pkg``). A cycle in that graph fails the test, listed with the lines that make it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "toolkit"
#: imports under ``if TYPE_CHECKING:`` are edges too: a type-only import back is how a runtime cycle hides
#: (e.g. behind ``importlib.import_module``), and it still couples the two modules
TYPE_ONLY_COUNTS = True


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the package (``pkg/__init__.py`` -> ``pkg``)."""
    out: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The toolkit module an absolute dotted name refers to: itself, or its longest prefix that is a module."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` bodies."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def imports_of(
    module: str, path: Path, modules: dict[str, Path], root_package: str = PACKAGE, type_only: bool = True
) -> list[tuple[str, int]]:
    """(imported toolkit module, line) for every import statement anywhere in the module (``type_only``:
    those under ``if TYPE_CHECKING:`` too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(module, path)
    skip = set() if type_only else _type_only(tree)
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (t := _target(alias.name, modules)) is not None:
                    out.append((t, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != root_package and not base.startswith(root_package + "."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                t = sub if sub in modules else _target(base, modules)
                if t is not None:
                    out.append((t, node.lineno))
    return out


def import_graph(
    root: Path = ROOT, package: str = PACKAGE, type_only: bool = TYPE_ONLY_COUNTS
) -> dict[str, dict[str, int]]:
    """module -> {imported module: first line importing it} (self-imports dropped)."""
    modules = module_files(root, package)
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for m, path in modules.items():
        for t, line in imports_of(m, path, modules, package, type_only):
            if t != m:
                graph[m].setdefault(t, line)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    sccs: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:  # iterative: no recursion limit on a large tree
        nonlocal counter
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(sccs)


def shortest_cycle(graph: dict[str, dict[str, int]], comp: list[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component (BFS inside it)."""
    members = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    frontier, found = [start], None
    while frontier and found is None:
        nxt = []
        for node in frontier:
            for w in sorted(graph[node]):
                if w not in members:
                    continue
                if w == start:
                    found = node
                    break
                if w not in prev:
                    prev[w] = node
                    nxt.append(w)
            if found is not None:
                break
        frontier = nxt
    path = [found]
    while path[-1] != start:
        path.append(prev[path[-1]])
    return [*reversed(path), start]


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One shortest cycle per strongly connected component."""
    return [shortest_cycle(graph, comp) for comp in strongly_connected(graph)]


def describe(comp: list[str], graph: dict[str, dict[str, int]]) -> str:
    """A component's shortest cycle with the importing lines, then every module caught in it."""
    cycle = shortest_cycle(graph, comp)
    text = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"
    return text + (f"\n    (one of the cycles among: {', '.join(comp)})" if len(comp) > len(cycle) - 1 else "")


# -- the checker itself ---------------------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, dict[str, int]]:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return import_graph(tmp_path, "pkg")


def test_the_checker_resolves_relative_lazy_and_type_only_imports(tmp_path: Path) -> None:
    g = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "from . import a\n",
            "pkg/a.py": "def f():\n    from .sub import b\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import f\n",
            "pkg/sub/c.py": "from .. import a\nimport pkg.sub.b\nfrom pkg.sub import b as bb\nimport os\n",
        },
    )
    assert g["pkg"] == {"pkg.a": 1}
    assert g["pkg.a"] == {"pkg.sub.b": 2}
    assert g["pkg.sub.b"] == {"pkg.a": 3}
    assert set(g["pkg.sub.c"]) == {"pkg.a", "pkg.sub.b"}
    assert cycles(g) == [["pkg.a", "pkg.sub.b", "pkg.a"]]
    assert import_graph(tmp_path, "pkg", type_only=False)["pkg.sub.b"] == {}


def test_the_checker_finds_longer_cycles_and_passes_a_tree_without_any(tmp_path: Path) -> None:
    g = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from . import b\n",
            "pkg/b.py": "from .c import x\n",
            "pkg/c.py": "def g():\n    import pkg.a\n",
            "pkg/d.py": "from . import a, b, c\n",
        },
    )
    assert cycles(g) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    (tmp_path / "pkg/c.py").write_text("x = 1\n")
    assert cycles(import_graph(tmp_path, "pkg")) == []


# -- the tree -------------------------------------------------------------------------------------------


def test_toolkit_has_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 40  # the walk found the package
    found = strongly_connected(graph)
    assert not found, "import cycles in toolkit/:\n" + "\n".join(describe(c, graph) for c in found)


def test_widgets_do_not_import_the_batch_machinery() -> None:
    """The monitor asks the batch what it can do (``can_cancel``/``can_retry``); it never imports it."""
    graph = import_graph()
    for m in graph:
        if m.startswith("toolkit.widgets"):
            bad = {t for t in graph[m] if t in ("toolkit.client.batch", "toolkit.client.driver")}
            assert not bad, f"{m} imports {sorted(bad)}"
