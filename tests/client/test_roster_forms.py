"""Rosters as people write them: ';'-separated (Excel in much of Europe), Windows paths, relative paths whose
folder the error names. Checked by ``read_roster`` alone: nothing is sent."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from toolkit.client.roster import read_roster


def face(path: Path, shade: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (120, 140), (shade, 90, 60)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue())
    return path


def test_a_semicolon_roster_with_windows_paths_is_read(tmp_path: Path) -> None:
    for i in (1, 2):
        face(tmp_path / "hr" / "images" / f"emp_000{i}.jpg", 40 * i)
    roster = tmp_path / "hr" / "roster.csv"
    roster.write_text("employee_id;photo;name\nE-001;images\\emp_0001.jpg;Ana\nE-002;images\\emp_0002.jpg;Bo\n")
    parsed = read_roster(roster)
    assert parsed.rejected == [] and [r.external_id for r in parsed.rows] == ["E-001", "E-002"]
    assert parsed.rows[0].file == (tmp_path / "hr" / "images" / "emp_0001.jpg").resolve()
    named = read_roster(roster, sep=";")
    assert [r.sha256 for r in named.rows] == [r.sha256 for r in parsed.rows]


def test_relative_paths_of_a_dataframe_say_where_they_were_looked_for(tmp_path: Path, monkeypatch) -> None:
    face(tmp_path / "hr" / "images" / "emp_0001.jpg", 50)
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"external_id": ["E-001"], "image": ["images/emp_0001.jpg"]})
    lost = read_roster(frame)
    (reason,) = [e.message for e in lost.rejected]
    assert "resolved against the working folder" in reason and "base_dir=" in reason and str(tmp_path) in reason
    found = read_roster(frame, base_dir=tmp_path / "hr")
    assert found.rejected == [] and len(found.rows) == 1


@pytest.mark.parametrize("text", ["external_id,image\nE-9,nowhere.jpg\n", "external_id;image\nE-9;nowhere.jpg\n"])
def test_a_missing_file_of_a_csv_is_looked_for_beside_it(tmp_path: Path, text: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    (reason,) = [e.message for e in read_roster(roster).rejected]
    assert reason == "the image file nowhere.jpg does not exist"
    face(tmp_path / "nowhere.jpg", 10)
    assert len(read_roster(roster).rows) == 1
