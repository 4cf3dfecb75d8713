"""Raw results of images that are not on this machine (issue 25, item 3): their file facts come from the path
alone, at one failed look-up per folder, not one failed ``stat`` (and exception) per image."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from toolkit import load


def test_images_not_on_disk_cost_one_lookup_per_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = tmp_path / "elsewhere"
    results = [
        {
            "job_id": f"job-{i}",
            "input": str(gone / f"CAM0{i % 2}" / f"IMG_20240601_1200{i:02d}.jpg"),
            "result": {
                "annotations": [{"id": 0, "bbox": [0.1, 0.1, 0.2, 0.2], "score": 0.5, "label": "fox"}],
                "info": {"model_id": "m"},
            },
        }
        for i in range(40)
    ]
    calls: list[str] = []
    real_stat, real_listdir = os.stat, os.listdir

    def stat(path: Any, *a: Any, **kw: Any) -> Any:
        calls.append(f"stat {path}")
        return real_stat(path, *a, **kw)

    def listdir(path: Any = ".") -> Any:
        calls.append(f"listdir {path}")
        return real_listdir(path)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "listdir", listdir)
    df = load.detections(results)
    monkeypatch.undo()
    mine = [c for c in calls if str(gone) in c]
    assert len(mine) <= 2, mine  # one per folder (CAM00, CAM01)
    assert len(df) == 40 and set(df["camera"]) == {"CAM00", "CAM01"}
    assert df["captured_at"].notna().all()  # the time written in the file name
