"""Issue 24, first hour: what Tab shows, names the README uses, and wrong names answered with the valid ones
("did you mean"), as ToolkitErrors that stay the ValueError/KeyError/AttributeError they are. Nothing is sent."""

from __future__ import annotations

import subprocess
import sys
import warnings
from datetime import date, timedelta
from pathlib import Path

import pytest
import shapely

from tests.helpers import scene_image, stats
from toolkit.client.model import InvalidOption, PreflightError, RejectedInputs, ToolkitError
from toolkit.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(sandbox, tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)


def photos(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"cam-{i:02d}.jpg").write_bytes(scene_image(i, size=(160, 120)))
    return folder


# -- Finding things ----------------------------------------------------------------------------------------
def test_tab_on_the_package_offers_the_public_surface_only() -> None:
    code = "import toolkit as tk; print(' '.join(dir(tk)))"
    names = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert {"Workspace", "load", "plot", "Batch", "ToolkitError", "provenance", "__version__"} <= set(names)
    assert not {"annotations", "Any", "importlib", "_LAZY"} & set(names)


def test_provenance_works_after_import_toolkit_as_the_readme_writes_it() -> None:
    code = "import toolkit; print(sorted(toolkit.provenance.environment()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "'python'" in out.stdout and "'toolkit'" in out.stdout


def test_tab_on_a_client_shows_its_operations_not_the_machinery(ws: Workspace) -> None:
    assert dir(ws.animaldetect) == ["attach", "detect", "name", "submit"]
    assert {"run", "screen", "list_jobs"} <= set(dir(ws.authenta))
    for client in (ws.animaldetect, ws.authenta, ws.sateais, ws.claid, ws.faces):
        assert not {"adapter", "transport", "ledger", "slots", "item_for", "items", "try_again"} & set(dir(client))
    assert {"animaldetect", "jobs", "batches", "explore"} <= set(dir(ws)) and not any(
        n.startswith("_") for n in dir(ws)
    )


def test_tab_on_a_batch_and_a_wrong_loader_says_which_fits(ws: Workspace, tmp_path: Path) -> None:
    b = ws.authenta.run("ai-image-detection", photos(tmp_path / "p", 1), start=False)
    assert "verdicts" in dir(b) and "wait" in dir(b) and "retry_salt" not in dir(b)
    assert not any(n.startswith("_") for n in dir(b))
    with pytest.raises(AttributeError) as err:
        b.detections()
    assert isinstance(err.value, ToolkitError)
    assert "animaldetect" in str(err.value) and "batch.verdicts()" in str(err.value)
    with pytest.raises(AttributeError) as plain:
        b.no_such_thing  # noqa: B018
    assert not isinstance(plain.value, ToolkitError)


# -- Errors that name the value and the valid ones ---------------------------------------------------------
def test_an_authenta_task_typo_suggests_the_task(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as err:
        ws.authenta.run("ai-image-detect", photos(tmp_path / "p", 1))
    assert isinstance(err.value, ToolkitError) and "did you mean 'ai-image-detection'?" in str(err.value)


def test_a_typo_inside_authenta_parameters_is_refused_with_the_key_meant(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match=r"no key 'isLivenesCheck'; did you mean 'isLivenessCheck'\?"):
        ws.authenta.run("face-intelligence", photos(tmp_path / "p", 1), parameters={"isLivenesCheck": True})
    assert ws.authenta.transport.requests == 0


def test_jobs_with_a_wrong_status_or_provider_names_the_valid_ones(ws: Workspace) -> None:
    with pytest.raises(ValueError) as err:
        ws.jobs(status="done")
    assert isinstance(err.value, ToolkitError) and "succeeded" in str(err.value) and "'done'" in str(err.value)
    with pytest.raises(ToolkitError, match=r"did you mean 'animaldetect'\?.*sateais"):
        ws.jobs(provider="animaldetetc")
    assert ws.jobs(status="succeeded", provider="animaldetect").empty


def test_claid_with_no_operation_is_refused_before_sending(ws: Workspace, sandbox, tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match=r"operations={} and no output: nothing to do"):
        ws.claid.edit(photos(tmp_path / "p", 1), operations={})
    assert ws.claid.transport.requests == 0 and "claid" not in stats(sandbox)["providers"]


def test_sateais_ship_with_a_start_end_tuple_is_refused_with_the_fix(ws: Workspace) -> None:
    aoi = shapely.box(139.6, 35.4, 139.65, 35.45)
    with pytest.raises(InvalidOption, match=r"not a \(start, end\) range.*date=\['2024-01-01', '2024-02-01'\]"):
        ws.sateais.ship(aoi, date=("2024-01-01", "2024-02-01"))
    assert ws.sateais.transport.requests == 0


@pytest.mark.parametrize(
    "when, why",
    [("2013-06-01", "before Sentinel-1's first scenes (2014-04-03)"), ("future", "is in the future")],
)
def test_sateais_dates_no_scene_can_have_are_refused_in_preflight(ws: Workspace, when: str, why: str) -> None:
    when = (date.today() + timedelta(days=30)).isoformat() if when == "future" else when
    aoi = shapely.box(139.6, 35.4, 139.65, 35.45)
    with pytest.raises(PreflightError) as err:
        ws.sateais.ship(aoi, date=when)
    assert why in str(err.value) and ws.sateais.transport.requests == 0
    with pytest.raises(PreflightError, match="date_end"):
        ws.sateais.newbuilding(aoi, date_start="2024-01-01", date_end=when)


# -- Skipped is not rejected -------------------------------------------------------------------------------
def test_non_media_in_a_folder_are_skipped_and_counted_not_warned(ws: Workspace, tmp_path: Path, caplog) -> None:
    folder = photos(tmp_path / "season", 3)
    (folder / "labels.csv").write_text("file,label\n")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a picture")
    caplog.set_level("INFO", logger="toolkit.notice")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        b = ws.animaldetect.detect(folder)
    assert b.skipped == [str(folder / "labels.csv")]
    assert [Path(e.input or "").name for e in b.rejected] == ["broken.jpg"]  # media that fail a check: warned
    assert [w.category for w in caught] == [RejectedInputs] and "labels.csv" not in str(caught[0].message)
    assert "animaldetect detect: 3 images, 1 other file skipped (labels.csv)" in caplog.text
    b.wait(timeout=60)


def test_a_url_input_is_named_as_a_url(ws: Workspace) -> None:
    with pytest.raises(PreflightError) as err:
        ws.animaldetect.detect("https://example.com/cam-01.jpg")
    assert "https://example.com/cam-01.jpg: is a URL" in str(err.value) and "download it first" in str(err.value)
    assert "no such file" not in str(err.value) and ws.animaldetect.transport.requests == 0
