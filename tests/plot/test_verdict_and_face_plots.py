"""Authenta verdict and face enrollment plots over real sandbox output: points, lines, bar sizes and labels.
PNGs under test-output/plots/."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from tests.helpers import save_figure, scene_image
from tests.load.test_authenta_faces_load import PICTURES, poll_faces, run_authenta, submit_faces
from toolkit.load import faces, verdicts
from toolkit.plot import enrollment_summary, verdict_distribution
from toolkit.sandbox import Sandbox, SandboxConfig
from toolkit.sandbox.engines.faces import synthetic_faces


def mime(data: bytes) -> str:
    return "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("plots")
    faces_a = synthetic_faces(3, seed=7)
    auth_jobs = [(1, {"original": (scene_image(i), "image/jpeg")}) for i in range(5)]
    auth_jobs += [(1, {"original": (f, mime(f))}) for f in faces_a]
    auth_jobs += [(5, {"original": (scene_image(10 + i, objects=3), "image/jpeg")}) for i in range(4)]
    auth_jobs += [(7, {"original": (faces_a[0], mime(faces_a[0]))})]
    auth_jobs += [(1, {"original": (b"\xff\xd8\xff\xe0 broken" * 8, "image/jpeg")})]
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001)) as sb:
        details = [r["detail"] for r in run_authenta(sb, auth_jobs)]
        t = sb.tenant("faces")
        done = submit_faces(sb, t.collection, PICTURES, [f"emp-{i:03d}" for i in range(len(PICTURES))])
        bad = submit_faces(sb, "gone", PICTURES[:2], ["g-1", "g-2"])
        bodies = [poll_faces(sb, done["job_id"]), poll_faces(sb, bad["job_id"])]
    pending = {
        "job_id": "job-late",
        "input": "late",
        "status": "running",
        "result": None,
        "meta": {"rows": [{"index": 50 + i, "external_id": f"late-{i}", "file": "x"} for i in range(3)]},
    }
    return {"verdicts": verdicts(details), "faces": faces(bodies + [pending])}


def test_verdict_distribution_points_threshold_and_labels(frames):
    v = frames["verdicts"]
    ax = verdict_distribution(v)
    scored = v[v["fake_confidence"].notna()]
    tasks = list(dict.fromkeys(scored["task"].astype(str)))
    assert tasks == ["ai-image-detection", "image-forgery-detection"]  # liveness has no fake confidence
    for task in tasks:
        pts = [c for c in ax.collections if c.get_gid() == f"verdicts:{task}"][0].get_offsets()
        expected = scored.loc[scored["task"] == task, "fake_confidence"].to_numpy(float)
        np.testing.assert_allclose(np.asarray(pts)[:, 0], expected)
    line = [ln for ln in ax.lines if ln.get_gid() == "threshold"][0]
    assert list(line.get_xdata()) == [0.5, 0.5]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("ai-image-detection\n(n=8, 1 not succeeded)")
    assert labels[1] == "image-forgery-detection\n(n=4)"
    assert ax.get_xlim() == pytest.approx((-0.03, 1.03))
    assert f"{len(scored)} scored, {int(scored['is_fake'].sum())} judged fake" in ax.get_title()
    save_figure(ax, "verdict_distribution")
    fig, given = plt.subplots()
    assert verdict_distribution(v, ax=given) is given
    plt.close(fig)


def test_enrollment_summary_bars_equal_the_counts(frames):
    f = frames["faces"]
    ax = enrollment_summary(f)
    names = [t.get_text() for t in ax.get_yticklabels()]
    widths = [p.get_width() for p in ax.patches]
    failed = f[f["success"] == False]  # noqa: E712
    codes = failed["error_code"].astype(str).value_counts()
    assert names == ["enrolled", *codes.index, "not finished"]
    assert widths == [int((f["success"] == True).sum()), *codes.tolist(), int(f["success"].isna().sum())]  # noqa: E712
    assert widths == [4, 2, 1, 1, 1, 3]
    assert [t.get_text() for t in ax.texts] == [str(w) for w in widths]
    assert ax.get_title() == f"Face enrollment: {len(f)} rows, 4 enrolled, 5 failed, 3 not finished"
    save_figure(ax, "enrollment_summary")
    fig, given = plt.subplots()
    done_only = f[f["success"].notna()]
    assert enrollment_summary(done_only, ax=given) is given
    assert [t.get_text() for t in given.get_yticklabels()][-1] != "not finished"
    plt.close(fig)
