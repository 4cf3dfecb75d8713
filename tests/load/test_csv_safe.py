"""CSV exports meant for people are safe to open in a spreadsheet (OWASP CSV injection): a text cell that begins
with ``=``, ``+``, ``-``, ``@``, tab or carriage return is written with a leading ``'``; numbers stay numbers; no
library warning leaks into an export."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import shapely

import toolkit as tk
from tests.helpers import scene_image
from toolkit.sandbox.engines.faces import synthetic_faces
from toolkit.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
HOSTILE = ["=1+2", "@SUM(1+1)", "+cmd", "-2+3", '=HYPERLINK("http://x.invalid","y")']


def cells(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def evaluated(rows: list[dict[str, str]]) -> list[str]:
    """The cells a spreadsheet would evaluate as a formula (plain numbers are harmless)."""
    return [v for r in rows for v in r.values() if v and v.startswith(TRIGGERS) and not NUMBER.fullmatch(v)]


def test_text_cells_are_neutralised_and_numbers_untouched(tmp_path):
    frame = pd.DataFrame(
        {
            "name": ["=1+2", "@SUM(A1)", "+x", "-x", "\tx", "\rx", "plain", "-12.5"],
            "label": pd.Categorical(["=c", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
            "text": pd.array(["-1", "@a", None, "b", "c", "d", "e", "f"], dtype="string"),
            "count": [-1, 2, 3, -4, 5, 6, 7, 8],
            "score": [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -7.25],
        }
    )
    rows = cells(tk.load.export.to_csv(frame, tmp_path / "x.csv"))
    assert [r["name"] for r in rows] == ["'=1+2", "'@SUM(A1)", "'+x", "'-x", "'\tx", "'\rx", "plain", "-12.5"]
    assert rows[0]["label"] == "'=c" and [r["text"] for r in rows[:3]] == ["-1", "'@a", ""]
    assert [r["count"] for r in rows] == ["-1", "2", "3", "-4", "5", "6", "7", "8"]
    assert rows[0]["score"] == "-0.5" and rows[-1]["score"] == "-7.25"
    assert evaluated(rows) == []
    assert frame["name"].iloc[0] == "=1+2"  # the caller's frame keeps its true values
    raw = cells(tk.load.export.to_csv(frame, tmp_path / "raw.csv", spreadsheet_safe=False))
    assert raw[0]["name"] == "=1+2"


def test_geometry_to_wkt_leaks_no_warning(tmp_path):
    import geopandas as gpd

    frame = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = cells(tk.load.export.to_csv(frame, tmp_path / "g.csv"))
    assert rows[0]["geometry"].startswith("POLYGON")


def test_hostile_names_reach_every_people_csv_as_text(sandbox, tmp_path, monkeypatch):
    """File names and roster ids beginning with ``=`` or ``@``: the CLI's detections CSV, the jobs table and
    the faces results, all through the toolkit's CSV writer, hold no cell a spreadsheet would evaluate."""
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i, name in enumerate(HOSTILE[:4]):
        (imgs / f"{name}.jpg").write_bytes(scene_image(i, size=(320, 240)))
    monkeypatch.chdir(imgs)  # relative inputs: the names themselves reach the tables
    detect = ws.animaldetect.detect([f"{n}.jpg" for n in HOSTILE[:4]]).wait(timeout=120, progress=False)
    faces = tmp_path / "faces"
    faces.mkdir()
    for i, (name, data) in enumerate(zip(HOSTILE[:2], synthetic_faces(2, seed=3))):
        (faces / f"{name}.png").write_bytes(data)
    roster = pd.DataFrame({"external_id": HOSTILE[:2], "image": [str(faces / f"{n}.png") for n in HOSTILE[:2]]})
    enrolled = ws.faces.enroll(roster, collection=sandbox.tenant("faces").collection).wait(timeout=120)

    jobs = ws.jobs()
    assert any(str(v).startswith("=") for v in jobs["input"])  # the case that broke
    rows = cells(tk.load.export.to_csv(jobs, tmp_path / "jobs.csv"))
    assert evaluated(rows) == [] and {"'=1+2.jpg", "'@SUM(1+1).jpg"} <= {r["input"] for r in rows}
    rows = cells(tk.load.export.to_csv(enrolled.results(), tmp_path / "faces.csv"))
    assert evaluated(rows) == [] and [r["external_id"] for r in rows] == ["'=1+2", "'@SUM(1+1)"]

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "detections.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit",
            "-w",
            str(tmp_path / "ws"),
            "results",
            "export",
            detect.id,
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr
    rows = cells(out)
    assert rows and evaluated(rows) == []
    assert any(v.startswith("'=1+2") for r in rows for v in r.values())
