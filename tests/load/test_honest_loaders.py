"""Honest loaders: given a batch that has not settled they warn once with how many jobs are unfinished and return
what is there; ``wait=True`` (or ``toolkit.load.WAIT``) waits first; a batch with jobs of which none succeeded
never gives an empty frame silently. Against the real sandbox."""

from __future__ import annotations

import warnings
from pathlib import Path

import toolkit as tk
from tests.helpers import scene_image


def images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"img{i}.jpg").write_bytes(scene_image(i, size=(160, 120)))
    return folder


def caught(fn):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = fn()
    return out, [w for w in seen if issubclass(w.category, (tk.UnsettledBatch, tk.NoResults))]


def test_a_loader_right_after_submitting_warns_with_the_unfinished_count(sandbox, tmp_path):
    ws = tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.animaldetect.detect(images(tmp_path / "imgs", 3))
    df, seen = caught(b.detections)
    (w,) = seen
    assert w.category is tk.UnsettledBatch and w.filename == __file__
    unfinished = int(str(w.message).split("detections(): ")[1].split(" of 3 jobs")[0])
    assert 1 <= unfinished <= 3 and f"jobs of batch {b.id} are not finished" in str(w.message)
    assert "wait=True" in str(w.message) and len(df) <= 3 * 10  # what is there, not an error
    b.wait(timeout=60, progress=False)
    settled, seen = caught(b.detections)
    assert not seen and len(settled) >= len(df)


def test_wait_true_waits_first_and_says_nothing(sandbox, tmp_path):
    ws = tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.animaldetect.detect(images(tmp_path / "imgs", 2))
    df, seen = caught(lambda: b.detections(wait=True))
    assert not seen and b.done and df["file"].nunique() >= 1
    assert df.equals(tk.load.detections(b))


def test_the_module_default_waits_too(sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(tk.load, "WAIT", True)
    ws = tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.animaldetect.detect(images(tmp_path / "imgs", 2))
    table, seen = caught(lambda: tk.load.images_table(b))
    assert not seen and b.done and list(table["status"].astype(str)) == ["succeeded", "succeeded"]


def test_nested_loaders_warn_once(sandbox, tmp_path):
    ws = tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.animaldetect.detect(images(tmp_path / "imgs", 2))
    for load in (b.results, lambda: tk.load.results(b)):
        _, seen = caught(load)
        if b.done:  # it finished in between: nothing left to warn about
            break
        assert len(seen) == 1 and seen[0].category is tk.UnsettledBatch
    b.wait(timeout=60, progress=False)
    _, seen = caught(lambda: b.results(wait=True))
    assert not seen


def test_an_unfinished_batch_of_each_kind_warns(sandbox, tmp_path):
    ws = tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.sateais.ship((14.5, 35.88, 14.53, 35.9), "2026-06-15")
    frame, seen = caught(b.features)
    assert [w.category for w in seen] == [tk.UnsettledBatch] and len(frame) == 0
    assert "1 of 1 jobs" in str(seen[0].message)
    _, seen = caught(lambda: b.features(wait=True))
    assert not seen and b.done and b.status_counts()["succeeded"] == 1


def test_a_batch_where_no_job_succeeded_never_returns_an_empty_frame_silently(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"animaldetect": {"fail": 1.0}}, seed=3)
    ws = tk.Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    b = ws.animaldetect.detect(images(tmp_path / "imgs", 2)).wait(timeout=60, progress=False)
    assert b.status_counts()["failed"] == 2
    df, seen = caught(b.detections)
    assert df.empty and [w.category for w in seen] == [tk.NoResults]
    assert "none of the 2 jobs" in str(seen[0].message) and "2 failed" in str(seen[0].message)


def test_raw_results_and_frames_pass_through_without_checks(sandbox, tmp_path):
    ws = tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.animaldetect.detect(images(tmp_path / "imgs", 1)).wait(timeout=60, progress=False)
    df, seen = caught(lambda: tk.load.detections(b.raw()))
    assert not seen and len(df) == len(tk.load.detections(b))
