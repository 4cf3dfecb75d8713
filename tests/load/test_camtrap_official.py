"""Camtrap DP packages judged by the official 1.0.1 / 1.0.2 profile and table schemas (vendored in
tests/data/camtrap-dp), never by schemas inferred from the CSVs: notebook 01's package, a package without a
deployments table, and the official example through the same code (so the method is proven to pass a good
package and to fail a broken one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import toolkit as tk
from tests.load.camtrap_official import OFFICIAL, errors
from tests.load.test_camtrap_exports import season  # noqa: F401  (the module-scoped fixture)
from toolkit.load.camtrap import CamtrapDPError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("version", ["1.0.1", "1.0.2"])
def test_the_official_example_passes_and_a_broken_copy_fails(version, tmp_path):
    assert errors(OFFICIAL / version / "example") == []
    broken = tmp_path / "example"
    shutil.copytree(OFFICIAL / version / "example", broken)
    media = (broken / "media.csv").read_text()
    (broken / "media.csv").write_text(media.replace(",https://multimedia", ",../multimedia", 1))
    found = errors(broken)
    assert len(found) == 1 and "filePath" in found[0] and "pattern" in found[0]


def test_notebook_01_package_is_valid_by_the_official_schemas(season, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.chdir(REPO / "notebooks")  # the notebook's own relative paths: ../data/camera_traps/...
    records = [{**r, "input": str(Path("..") / r["input"])} for r in season["records"]]
    deployments = REPO / "data" / "camera_trap_deployments.csv"
    path = tk.load.to_camtrap_dp(records, tmp_path / "dp", deployments=deployments, tz="Europe/Berlin", threshold=0.2)
    assert json.loads(path.read_text())["profile"].split("/")[-2] == "1.0.2"  # the current release by default
    assert errors(path.parent) == []
    media = pd.read_csv(path.parent / "media.csv", dtype=str)
    assert media["filePath"].str.startswith("CAM0").all()  # relative to the images' common folder
    assert (media["fileName"] == media["filePath"]).all()
    old = tk.load.to_camtrap_dp(records, tmp_path / "old", deployments=deployments, version="1.0.1")
    assert json.loads(old.read_text())["profile"].split("/")[-2] == "1.0.1" and errors(old.parent) == []
    root = tk.load.to_camtrap_dp(records, tmp_path / "root", deployments=deployments, media_root=REPO / "data")
    paths = pd.read_csv(root.parent / "media.csv", dtype=str)["filePath"]
    assert paths.str.startswith("camera_traps/CAM0").all() and errors(root.parent) == []


def test_a_package_without_a_deployments_table_is_valid(season, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.chdir(REPO)
    path = tk.load.to_camtrap_dp(season["records"], tmp_path / "dp", tz="Europe/Berlin")  # EXIF GPS
    assert errors(path.parent) == []
    moved = [{**r, "input": f"/nowhere/{Path(r['input']).name}"} for r in season["records"]]  # absolute paths
    path = tk.load.to_camtrap_dp(moved, tmp_path / "abs", latitude=48.0, longitude=13.0)
    assert errors(path.parent) == []


def test_the_deployments_table_is_checked_before_anything_is_written(season, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.chdir(REPO)
    table = pd.DataFrame(
        {
            "deploymentID": ["CAM01", "CAM02", "CAM03"],
            "latitude": [48.1, 48.2, 48.3],
            "longitude": [13.1, 13.2, 13.3],
            "baitUse": ["none", "yes", "False"],
            "featureType": [None, "roadPaved", None],
        }
    )
    path = tk.load.to_camtrap_dp(season["records"], tmp_path / "ok", deployments=table)
    deps = pd.read_csv(path.parent / "deployments.csv", dtype=str, keep_default_na=False).set_index("deploymentID")
    assert list(deps["baitUse"]) == ["false", "true", "false"] and deps.loc["CAM02", "featureType"] == "roadPaved"
    assert errors(path.parent) == []
    for column, value, message in (
        ("featureType", "trail hiking", r"deployment CAM02: featureType 'trail hiking' .*did you mean 'trailHiking'"),
        ("featureType", "none", r"featureType 'none' is not one of .* \(leave it empty when none applies\)"),
        ("featureType", "river", r"deployment CAM02: featureType 'river' is not one of roadPaved, roadDirt"),
        ("baitUse", "maybe", r"deployment CAM02: baitUse 'maybe' is not a boolean \(true or false"),
        ("cameraTilt", "95", r"deployment CAM02: cameraTilt '95' .*-90 to 90"),
        ("coordinateUncertainty", "2.5", r"deployment CAM02: coordinateUncertainty '2.5' is not an integer"),
    ):
        bad = table.drop(columns=["featureType"]).assign(**{column: [None, value, None]})
        with pytest.raises(CamtrapDPError, match=message):
            tk.load.to_camtrap_dp(season["records"], tmp_path / "bad", deployments=bad)
        assert not (tmp_path / "bad").exists()


def test_the_toolkit_checks_deployments_against_the_official_schema():
    from toolkit.load._camtrap_check import SCHEMA_DIR

    shipped = json.loads((SCHEMA_DIR / "deployments-table-schema.json").read_text())
    for version in ("1.0.1", "1.0.2"):
        official = json.loads((OFFICIAL / version / "deployments-table-schema.json").read_text())
        assert shipped["fields"] == official["fields"]
