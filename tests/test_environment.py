"""The locked environment and the committed notebooks: what a fresh clone installs and what its readers see."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from toolkit import provenance
from toolkit.recording import NEUTRAL_SANDBOX, NEUTRAL_WORKSPACE, machine_specific, scrub

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = ROOT / "requirements.lock"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: conda-forge names of PyPI packages whose names differ there
CONDA_NAMES = {"matplotlib-base": "matplotlib", "uvicorn-standard": "uvicorn"}


def _requirements(*groups: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    out = [Requirement(r) for r in project["dependencies"]]
    for extra in groups:
        out += [Requirement(r) for r in project["optional-dependencies"].get(extra, [])]
        out += [Requirement(r) for r in PYPROJECT.get("dependency-groups", {}).get(extra, [])]
    return out


def _conda() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
            continue
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", dep)
        specs[m.group(1)] = m.group(2).strip()
    return specs, pip


def test_every_dependency_is_locked_at_a_version_its_range_allows_with_hashes():
    locked = provenance.locked_versions(LOCK)
    for req in _requirements("dev", "setup"):
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is in pyproject.toml but not in the lock: run `make lock`"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"the lock pins {name}=={locked[name]}, outside pyproject.toml's {req.specifier}: run `make lock`"
        )
    text = LOCK.read_text()
    pins = re.findall(r"^[A-Za-z0-9][^\n]*==[^\n]*\\\n((?:    --hash=sha256:[0-9a-f]{64}[ \\]*\n)+)", text, re.M)
    assert len(pins) == len(re.findall(r"^[A-Za-z0-9][^\n]*==", text, re.M)) > 100, "a pin without hashes"


def test_this_environment_is_the_lock():
    info = provenance.environment()
    assert info["lock"] == "requirements.lock" and len(info["lock_sha256"]) == 64
    assert info["matches_lock"], f"installed packages differ from the lock: {info['differs_from_lock']}"


def test_a_package_that_differs_from_the_lock_is_named(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(re.sub(r"^httpx==\S+", "httpx==0.0.1", LOCK.read_text(), count=1, flags=re.M))
    info = provenance.environment(lock)
    assert info["matches_lock"] is False and len(info["differs_from_lock"]) == 1
    assert info["differs_from_lock"][0].startswith("httpx ") and info["differs_from_lock"][0].endswith("(lock: 0.0.1)")
    assert "1 package(s) differ: httpx" in provenance.summary(info)
    assert provenance.environment(tmp_path / "missing.lock")["matches_lock"] is None


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    specs, pip = _conda()
    runtime = {canonicalize_name(r.name): r for r in _requirements()}
    named = {canonicalize_name(CONDA_NAMES.get(n, n)): spec for n, spec in specs.items() if n not in ("python", "pip")}
    assert set(named) == set(runtime), (
        f"only in environment.yml: {sorted(set(named) - set(runtime))}; "
        f"only in pyproject.toml: {sorted(set(runtime) - set(named))}"
    )
    locked = provenance.locked_versions(LOCK)
    for name, spec in named.items():
        if spec.startswith("=") and not spec.startswith("=="):  # a release series pinned to the lock's
            series = spec.lstrip("=").rstrip("*").rstrip(".")
            assert locked[name].startswith(series + "."), f"{name}: environment.yml {spec}, lock {locked[name]}"
            assert runtime[name].specifier.contains(locked[name])
        else:
            assert spec.replace(" ", "") == str(runtime[name].specifier) or set(
                spec.replace(" ", "").split(",")
            ) == set(str(runtime[name].specifier).split(",")), (
                f"{name}: environment.yml says {spec!r}, pyproject.toml {runtime[name].specifier}"
            )
    assert specs["python"] == "=3.11" and "-e .[dev]" in pip
    for geo in ("geopandas", "pyogrio", "shapely", "pyproj"):
        assert specs[geo].startswith("="), f"{geo} should be pinned to the lock's series"


def test_the_project_metadata_builds_without_deprecation_warnings(tmp_path):
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "toolkit", tmp_path / "toolkit", ignore=shutil.ignore_patterns("__pycache__"))
    code = "import setuptools.build_meta as b, os; os.mkdir('meta'); print(b.prepare_metadata_for_build_wheel('meta'))"
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "Warning" not in run.stderr, run.stderr[-2000:]
    meta = (tmp_path / "meta" / run.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in meta


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_hold_no_machine_specific_output_and_no_test_machinery(path):
    nb = nbformat.read(path, as_version=4)
    assert machine_specific(nb) == [], f"re-record with `make notebooks`: {machine_specific(nb)}"
    for i, cell in enumerate(nb.cells):
        assert not re.search(r"^\s*#\s*NBVAL_", cell.source, re.M), f"cell {i}: an nbval comment; use a cell tag"
    checked = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    if path.name != "06_report.ipynb":  # the report's figures depend on the time it ran
        assert checked and all(c.outputs for c in checked), "checked cells must carry their recorded outputs"


def test_machine_specific_finds_paths_ports_and_kernel_files_and_scrub_neutralises_them(tmp_path):
    workspace = tmp_path / ".toolkit"
    text = (
        f"<Workspace {str(workspace)!r}> sandbox at http://127.0.0.1:43121 and http://localhost:8000/x; "
        "/home/alice/notes.txt /Users/bob/x /tmp/ipykernel_77/123.py"
    )
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", name="stdout", text=text)])]
    )
    found = " ".join(machine_specific(nb))
    for what in ("a local address with a port", "a temporary path", "a home folder", "a kernel's cell file"):
        assert what in found
    clean = scrub(text.replace("/home/alice/notes.txt /Users/bob/x /tmp/ipykernel_77/123.py", ""), workspace)
    assert f"<Workspace '{NEUTRAL_WORKSPACE}'>" in clean and clean.count(NEUTRAL_SANDBOX) == 2
    nb.cells[0].outputs[0]["text"] = clean
    assert machine_specific(nb) == []
    assert json.dumps(nb).count("43121") == 0
    warned = scrub("/tmp/ipykernel_28917/1454303240.py:1: RejectedInputs: faces enroll: 5 of 130 inputs rejected")
    assert warned == "<cell>: RejectedInputs: faces enroll: 5 of 130 inputs rejected"  # a warning at the user's line
