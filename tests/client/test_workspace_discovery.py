"""``Workspace()`` with no path finds the project's ``.toolkit`` in the folder or a parent (as git finds ``.git``),
so the notebooks (run from ``notebooks/``) and the repository root share one ledger and nothing is paid twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import scene_image, stats
from toolkit.workspace import Workspace, find_workspace


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TOOLKIT_WORKSPACE", raising=False)
    root = tmp_path / "project"
    (root / "notebooks" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()  # the repository's root
    return root


def test_a_workspace_made_in_a_sub_folder_finds_the_parents(project, sandbox, monkeypatch):
    monkeypatch.chdir(project)
    folder = project / "data"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(scene_image(1, size=(320, 240)))
    at_root = Workspace(sandbox=sandbox, quiet=True)
    assert at_root.path.resolve() == (project / ".toolkit").resolve()
    at_root.animaldetect.detect("data").wait(timeout=120)

    monkeypatch.chdir(project / "notebooks" / "deep")
    ws = Workspace(sandbox=sandbox, quiet=True)
    assert ws.path.resolve() == (project / ".toolkit").resolve()
    assert str((project / ".toolkit").resolve()) in repr(ws)  # says where it is
    assert not (project / "notebooks" / "deep" / ".toolkit").exists()
    again = ws.animaldetect.detect("../../data").wait(timeout=60)  # the same photo, spelled from here
    tenant = stats(sandbox)["providers"]["animaldetect"]["tenants"][sandbox.tenant("animaldetect").id]
    assert tenant["jobs"]["created"] == 1 and ws.animaldetect.transport.requests == 0
    assert again.jobs[0].input == "../../data/a.jpg"  # the latest spelling: the file opens from here
    from toolkit.cli.parser import build_parser

    args = build_parser().parse_args(["jobs", "ls"])  # the command line finds it too
    assert Path(args.workspace).resolve() == (project / ".toolkit").resolve()


def test_the_environment_variable_still_wins(project, tmp_path, monkeypatch):
    Workspace(project / ".toolkit", quiet=True)
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.setenv("TOOLKIT_WORKSPACE", str(tmp_path / "elsewhere"))
    assert Workspace(quiet=True).path == tmp_path / "elsewhere"
    assert find_workspace() == tmp_path / "elsewhere"


def test_a_new_workspace_is_made_in_the_current_folder_when_none_is_found(project, monkeypatch):
    monkeypatch.chdir(project / "notebooks")
    ws = Workspace(quiet=True)
    assert ws.path.resolve() == (project / "notebooks" / ".toolkit").resolve()
    assert (project / "notebooks" / ".toolkit" / "ledger.sqlite3").is_file()


def test_discovery_stops_at_the_repository_root_and_ignores_other_trees(tmp_path, project, monkeypatch):
    Workspace(tmp_path / ".toolkit", quiet=True)  # a workspace above the repository: another project's
    other = tmp_path / "other"
    Workspace(other / ".toolkit", quiet=True)  # beside it: never on the way up
    monkeypatch.chdir(project / "notebooks")
    assert find_workspace() == Path(".toolkit")  # not found past the repository's root: made here
    (project / ".toolkit").mkdir()  # a folder that is not a workspace (no ledger) is not taken for one
    assert find_workspace() == Path(".toolkit")
    monkeypatch.chdir(tmp_path / "other")
    assert find_workspace().resolve() == (other / ".toolkit").resolve()
    (other / "sub").mkdir()
    monkeypatch.chdir(other / "sub")
    assert find_workspace().resolve() == (other / ".toolkit").resolve()  # no repository: up to the root
