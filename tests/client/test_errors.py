"""Every error the toolkit raises is a ToolkitError, exported at the top level, and still the builtin it was."""

from __future__ import annotations

import pytest

import toolkit as tk
from tests.helpers import scene_image


def test_the_public_errors_are_exported_and_share_one_base():
    for name in ("ConfigurationError", "JobError", "PreflightError", "WaitTimeout", "UnknownBatch", "LedgerError",
                 "DiskFullError"):
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
    with pytest.raises(tk.WaitTimeout, match="not finished after 0 s: .* the jobs keep running") as e:
        b.wait(timeout=0, progress=False)
    assert isinstance(e.value, TimeoutError)
    b.wait(timeout=60, progress=False)
    assert b.status_counts()["succeeded"] == 1
