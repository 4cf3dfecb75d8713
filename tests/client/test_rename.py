"""A renamed photo is the same input (same bytes, same key): a re-run creates no job, and from then on the
results carry the name the file has now: detections, images table, gallery, exports, the ledger itself."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import toolkit as tk  # noqa: E402
from tests.helpers import scene_image, stats  # noqa: E402
from toolkit.load.animaldetect import detections, images_table  # noqa: E402
from toolkit.workspace import Workspace  # noqa: E402


def created(sb) -> int:
    return stats(sb)["providers"]["animaldetect"]["tenants"][sb.tenant("animaldetect").id]["jobs"]["created"]


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in (*ax.texts, ax.title)]


def test_a_renamed_photo_makes_no_job_and_results_carry_its_new_name(sandbox, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, name in enumerate(("CAM01_20260612_224107.jpg", "CAM01_20260613_045233.jpg", "CAM02_20260612_080512.jpg")):
        (folder / name).write_bytes(scene_image(i, size=(320, 240), objects=3))
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    first = ws.animaldetect.detect(folder, threshold=0.01).wait(timeout=120)
    assert first.status_counts()["succeeded"] == 3 and created(sandbox) == 3
    before = detections(first)
    assert "CAM01" in set(before["camera"].astype(str))  # the store now holds rows with the old name

    old = folder / "CAM01_20260612_224107.jpg"
    new = folder / "sub" / "CAM07_20260612_224107.jpg"  # another camera and another folder
    new.parent.mkdir()
    old.rename(new)

    again = ws.animaldetect.detect(folder, threshold=0.01).wait(timeout=60)
    assert created(sandbox) == 3  # server side: still one job per photo
    assert again.id == first.id and again.status_counts()["succeeded"] == 3

    # the ledger row itself follows (and the job's meta): a new Workspace on the folder sees the new name
    ledger_inputs = {j.input for j in Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True).ledger.jobs()}
    assert str(new) in ledger_inputs and str(old) not in ledger_inputs
    (renamed,) = [j for j in again.jobs if j.input == str(new)]
    assert renamed.meta["filename"] == new.name

    images = images_table(again)
    row = images[images["file"] == str(new)]
    assert len(row) == 1 and row["camera"].iloc[0] == "CAM07" and str(old) not in set(images["file"])
    assert row["width"].iloc[0] == 320  # read from the file where it is now

    for source in (again, ws):  # the batch and the whole workspace, both through the columnar store
        det = detections(source)
        files = set(det["file"].astype(str))
        assert str(new) in files and str(old) not in files
        assert set(det.loc[det["file"] == str(new), "camera"].astype(str)) == {"CAM07"}

    det = detections(again)
    fig = tk.plot.gallery(det[det["file"] == str(new)], n=2)
    try:
        assert "image not found" not in texts(fig)
        assert any(new.name in t for t in texts(fig))
    finally:
        plt.close(fig)

    md = tk.load.to_megadetector(again)
    md_files = {im["file"] for im in md["images"]}
    assert "sub/CAM07_20260612_224107.jpg" in md_files and old.name not in md_files


def test_a_copy_under_a_second_name_in_the_same_run_keeps_the_recorded_name(sandbox, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(scene_image(5, size=(320, 240)))
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    ws.animaldetect.detect(folder).wait(timeout=120)
    (folder / "0-copy.jpg").write_bytes((folder / "a.jpg").read_bytes())  # sorts first
    again = ws.animaldetect.detect(folder).wait(timeout=60)
    assert created(sandbox) == 1
    assert [Path(j.input).name for j in again.jobs] == ["a.jpg"]  # still there: no reason to move
