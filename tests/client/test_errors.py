"""Every error the toolkit raises is a ToolkitError, exported at the top level, and still the builtin it was."""

from __future__ import annotations

import pytest

import toolkit as tk
from tests.helpers import scene_image


def test_the_public_errors_are_exported_and_share_one_base():
    for name in (
        "ConfigurationError",
        "JobError",
        "PreflightError",
        "BatchTimeout",
        "UnknownBatch",
        "LedgerError",
        "DiskFullError",
    ):
        assert issubclass(getattr(tk, name), tk.ToolkitError), name


def test_an_unknown_batch_is_a_toolkit_error_and_a_key_error(tmp_path):
    ws = tk.Workspace(tmp_path / "ws", quiet=True)
    with pytest.raises(tk.UnknownBatch, match=r"no batch 'b-missing' in .*ws\.batches\(\)") as e:
        ws.batch("b-missing")
    assert isinstance(e.value, KeyError)


def test_a_wait_that_runs_out_is_a_toolkit_error_and_a_timeout_error(tmp_path, sandbox):
    (tmp_path / "a.jpg").write_bytes(scene_image(1, size=(96, 72)))
    ws = tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    b = ws.animaldetect.detect(tmp_path / "a.jpg")
    with pytest.raises(tk.BatchTimeout, match="not finished after 0 s: .* the jobs keep running") as e:
        b.wait(timeout=0, progress=False)
    assert isinstance(e.value, TimeoutError)
    b.wait(timeout=60, progress=False)
    assert b.status_counts()["succeeded"] == 1


@pytest.mark.parametrize(
    "call, wrong, meant",
    [
        (lambda ws, p: ws.animaldetect.detect(p, threshhold=0.3), "threshhold", "threshold"),
        (lambda ws, p: ws.sateais.ship((14.5, 35.88, 14.53, 35.9), date="2026-06-15", scene=1), "scene", "scene_id"),
        (lambda ws, p: ws.authenta.run("ai-image-detection", p, referance=p), "referance", "reference"),
        (lambda ws, p: ws.claid.edit(p, {"resizing": {"width": 10}}, "png", forse=True), "forse", "force"),
        (lambda ws, p: ws.faces.enroll(p, colection="x"), "colection", "collection"),
    ],
)
def test_a_mistyped_option_names_the_option_meant_and_sends_nothing(tmp_path, sandbox, call, wrong, meant):
    from tests.helpers import stats

    (tmp_path / "a.jpg").write_bytes(scene_image(1, size=(96, 72)))
    ws = tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    with pytest.raises(
        tk.InvalidOption, match=rf"has no option '{wrong}'; did you mean '{meant}'\? \(its options: "
    ) as e:
        call(ws, tmp_path / "a.jpg")
    assert isinstance(e.value, ValueError)
    assert all(
        not p["tenants"] or all(not t["requests"] for t in p["tenants"].values())
        for p in stats(sandbox)["providers"].values()
    )


def test_the_cli_answers_a_mistyped_option_in_one_line_without_a_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "a.jpg").write_bytes(scene_image(1, size=(96, 72)))
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit",
            "-w",
            str(tmp_path / "ws"),
            "submit",
            "animaldetect",
            "detect",
            str(tmp_path / "a.jpg"),
            "-o",
            "threshhold=0.3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 2
    assert "has no option 'threshhold'; did you mean 'threshold'?" in run.stderr and "Traceback" not in run.stderr
