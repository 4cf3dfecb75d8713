"""Camtrap DP 1.0.1 and MegaDetector exports of a real sandbox run over data/camera_traps, checked with the
field's validators: frictionless (tables), geojson-validator (the package's spatial extent) and megadetector-utils'
``validate_batch_results``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geojson_validator
import pandas as pd
import pytest
import shapely
from megadetector.postprocessing.validate_batch_results import ValidateBatchResultsOptions, validate_batch_results
from PIL import ImageFile

import toolkit as tk
from tests.load.camtrap_official import errors
from toolkit.load.camtrap import DEPLOYMENT_COLUMNS, MEDIA_COLUMNS, OBSERVATION_COLUMNS, CamtrapDPError
from toolkit.sandbox import Sandbox, SandboxConfig

# megadetector-utils turns this on for the whole process when it is imported; the rest of the session must not
# inherit it (the toolkit refuses cut files either way: tests/client/test_inputs.py)
ImageFile.LOAD_TRUNCATED_IMAGES = False

REPO = Path(__file__).resolve().parents[2]
EXIF_GPS = {"CAM01": (48.87412, 13.50563), "CAM02": (48.87105, 13.51290), "CAM03": (48.86838, 13.49871)}


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory):
    """The 36 sample frames, submitted as a relative folder (the way notebook 01 does) to a real sandbox."""
    tmp = tmp_path_factory.mktemp("camtrap")
    with (
        pytest.MonkeyPatch.context() as mp,
        Sandbox(SandboxConfig(port=0, data_dir=tmp / "sb", time_scale=0.0005)) as sb,
    ):
        mp.chdir(REPO)
        ws = tk.Workspace(tmp / "ws", sandbox=sb, quiet=True)
        batch = ws.animaldetect.detect("data/camera_traps/*.jpg", threshold=0.2).wait(timeout=300)
        yield {"records": tk.load.records(batch), "boxes": batch.detections(), "tmp": tmp}


def tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        n: pd.read_csv(folder / f"{n}.csv", dtype=str, keep_default_na=False)
        for n in ("deployments", "media", "observations")
    }


def assert_valid_tables(folder: Path) -> None:
    """Valid by the official profile and table schemas (vendored), never by schemas inferred from the CSVs."""
    assert errors(folder) == []


def test_coordinates_from_exif_give_a_valid_package_with_a_real_extent(season, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    path = tk.load.to_camtrap_dp(season["records"], tmp_path / "dp", tz="Europe/Berlin", threshold=0.9)
    pkg, t = json.loads(path.read_text()), tables(path.parent)
    assert_valid_tables(path.parent)
    assert [list(t[n].columns) for n in t] == [DEPLOYMENT_COLUMNS, MEDIA_COLUMNS, OBSERVATION_COLUMNS]
    got = {r.deploymentID: (float(r.latitude), float(r.longitude)) for r in t["deployments"].itertuples()}
    assert got == EXIF_GPS
    for required, cols in (
        ("deployments", ["deploymentID", "latitude", "longitude", "deploymentStart", "deploymentEnd"]),
        ("media", ["mediaID", "deploymentID", "timestamp", "filePath", "filePublic", "fileMediatype"]),
        ("observations", ["observationID", "deploymentID", "eventStart", "eventEnd", "observationType"]),
    ):
        assert (t[required][cols] != "").all().all(), required
    assert pkg["profile"] == "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0.2/camtrap-dp-profile.json"
    assert {r["schema"].split("/")[-2] for r in pkg["resources"]} == {"1.0.2"}
    spatial = shapely.geometry.shape(pkg["spatial"])
    lats, lons = zip(*EXIF_GPS.values())
    assert spatial.geom_type == "Polygon" and spatial.exterior.is_ccw
    assert spatial.bounds == (min(lons), min(lats), max(lons), max(lats))  # the deployments' extent
    assert geojson_validator.validate_structure(pkg["spatial"], check_crs=True) == {}
    assert geojson_validator.validate_geometries(pkg["spatial"])["invalid"] == {}
    assert pkg["temporal"] == {"start": "2026-06-12", "end": "2026-06-16"}
    names = {x["scientificName"] for x in pkg["taxonomic"]}
    assert names == set(t["observations"]["scientificName"]) - {""}
    assert {"Vulpes vulpes", "Capreolus capreolus", "Sus scrofa", "Homo sapiens"} <= names
    assert all(x.get("taxonRank") in (None, "species") for x in pkg["taxonomic"])


def test_a_deployments_table_sets_coordinates_times_and_setup(season, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    table = pd.read_csv("data/camera_trap_deployments.csv").assign(latitude=[48.1, 48.2, 48.3])
    path = tk.load.to_camtrap_dp(season["records"], tmp_path / "dp", tz="Europe/Berlin", deployments=table)
    deps = tables(path.parent)["deployments"].set_index("deploymentID")
    assert_valid_tables(path.parent)
    assert list(deps["latitude"]) == ["48.1", "48.2", "48.3"]  # the table wins over EXIF
    assert deps.loc["CAM02", "deploymentStart"] == "2026-06-12T07:30:00+02:00"
    assert deps.loc["CAM03", "setupBy"] == "field team B" and deps.loc["CAM02", "featureType"] == "trailHiking"
    assert json.loads(path.read_text())["spatial"]["coordinates"][0][0] == [13.49871, 48.1]


def test_missing_coordinates_name_the_deployments_and_write_nothing(season, tmp_path):
    # the same results, read from elsewhere: no EXIF to read, no options with coordinates
    moved = [{**r, "input": f"/nowhere/{Path(r['input']).name}"} for r in season["records"]]
    old = tmp_path / "dp"
    old.mkdir()
    (old / "datapackage.json").write_text("{}")
    with pytest.raises(CamtrapDPError, match=r"none for CAM01, CAM02, CAM03: give deployments="):
        tk.load.to_camtrap_dp(moved, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dp"] and (old / "datapackage.json").read_text() == "{}"
    with pytest.raises(CamtrapDPError, match="none for CAM03"):
        tk.load.to_camtrap_dp(
            moved,
            tmp_path / "dp2",
            deployments=pd.DataFrame(
                {"deploymentID": ["CAM01", "CAM02"], "latitude": [48.0, 48.0], "longitude": [13.0, 13.0]}
            ),
        )
    with pytest.raises(CamtrapDPError, match="no column longitude"):
        tk.load.to_camtrap_dp(
            moved, tmp_path / "dp2", deployments=pd.DataFrame({"deploymentID": ["CAM01"], "latitude": [1]})
        )
    with pytest.raises(CamtrapDPError, match="latitude 95.0, longitude 13.0 out of range"):
        tk.load.to_camtrap_dp(moved, tmp_path / "dp2", latitude=95.0, longitude=13.0)
    assert not (tmp_path / "dp2").exists()
    path = tk.load.to_camtrap_dp(moved, tmp_path / "dp2", latitude=48.0, longitude=13.0)
    assert_valid_tables(path.parent)


def test_megadetector_export_passes_the_validator_and_round_trips(season, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    out = tmp_path / "md.json"
    md = tk.load.to_megadetector(season["records"], out)
    options = ValidateBatchResultsOptions()
    options.raise_errors, options.return_data = False, True
    report = validate_batch_results(str(out), options)
    assert report["validation_results"]["errors"] == [], report["validation_results"]
    assert md["info"]["toolkit"]["image_root"] == "data/camera_traps"
    assert {im["file"] for im in md["images"]} == {p.name for p in (REPO / "data/camera_traps").glob("*.jpg")}
    back = tk.load.from_megadetector(out)
    boxes = season["boxes"]
    assert set(back["file"].astype(str)) == set(boxes["file"].astype(str))  # as submitted: data/camera_traps/...
    assert all(f.startswith("data/camera_traps/CAM") for f in back["file"].astype(str))
    key = ["file", "x", "y"]
    cols = ["file", "label", "score", "x", "y", "w", "h", "taxonomy_id"]
    a = boxes[cols].astype(str).sort_values(key).reset_index(drop=True)
    b = back[cols].astype(str).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert set(back.loc[back["label"].astype(str) == "vehicle", "taxonomy_id"].astype(str)) == {"sandbox:vehicle"}


def test_megadetector_paths_outside_the_root_stay_as_given(season, tmp_path):
    shutil.copy(REPO / "data/camera_traps/CAM01_20260613_045233.jpg", tmp_path / "x.jpg")
    recs = [season["records"][0], {**season["records"][1], "input": str(tmp_path / "x.jpg")}]
    md = tk.load.to_megadetector(recs, root=REPO / "data/camera_traps")
    back = tk.load.from_megadetector(md)
    assert set(back["file"].astype(str)) <= {
        str(REPO / "data/camera_traps" / Path(recs[0]["input"]).name),
        str(tmp_path / "x.jpg"),
    }
