"""``make demo`` end to end, twice, on a temporary workspace: every notebook runs against the embedded sandbox,
the report is offline HTML, and the second build submits nothing (counted by the ledger, by the sandbox's own
request counters in each kernel, and by the jobs in the sandbox's database).

This is the slow test of the suite (two builds of six notebooks, about two minutes): it is the proof that a
re-run of the notebooks costs nothing, which no smaller test can give.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from toolkit import demo, report
from toolkit.sandbox import Sandbox, SandboxConfig

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = [
    "01_camera_traps",
    "02_ships_and_slicks",
    "03_deepfake_screening",
    "04_product_edits",
    "05_face_enrollment",
    "06_report",
]
#: the routes that create a job, per provider (sandbox route names as its stats report them)
CREATE_ROUTES = {
    "animaldetect POST /jobs",
    "sateais POST /analyze/{type}",
    "authenta POST /jobs",
    "claid POST /image/edit/async",
    "faces POST /collections/{collection_id}/faces/batch-async",
}
#: what a re-run may still send: the free SateAIs preview, Authenta's job list and the (idempotent) deletes
WARM_ROUTES = {"sateais POST /analyze/{type}/preview", "authenta GET /jobs", "authenta DELETE /jobs/{job_id}"}


def sandbox_jobs(data_dir: Path) -> dict[str, int]:
    """Jobs per provider in the sandbox's database (a sandbox started on the workspace's data dir)."""
    with Sandbox(SandboxConfig(port=0, data_dir=data_dir)) as sb:
        snap = httpx.get(sb.url + "/__sandbox__/stats", timeout=10).json()
    return {p: sum(t["jobs"]["created"] for t in v["tenants"].values()) for p, v in snap["providers"].items()}


@pytest.fixture(scope="module")
def demo_twice(tmp_path_factory) -> dict:
    """A copy of notebooks/ beside the real data/, built twice by ``toolkit demo`` into its own workspace."""
    root = tmp_path_factory.mktemp("demo")
    (root / "notebooks").mkdir()
    for name in NOTEBOOKS:
        shutil.copy(REPO / "notebooks" / f"{name}.ipynb", root / "notebooks")
    (root / "data").symlink_to(REPO / "data")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.delenv("TOOLKIT_WORKSPACE", raising=False)
    mp.delenv("TOOLKIT_SANDBOX_TIME_SCALE", raising=False)
    mp.setenv("TOOLKIT_REPORTS", str(root / "reports"))
    mp.setenv("AD_API_KEY", "must-be-ignored")  # the demo never calls a real service
    out: dict = {"root": root}
    try:
        for run in ("cold", "warm"):
            assert demo.main() == 0
            out[run] = {
                r["notebook"].removesuffix(".ipynb"): r
                for r in json.loads((root / "reports" / "runs.json").read_text())
            }
            out[f"{run}_db"] = sandbox_jobs(root / "notebooks" / ".toolkit" / "sandbox")
    finally:
        mp.undo()
    return out


@pytest.mark.timeout(1200)
def test_every_notebook_runs_and_the_first_build_submits_each_job_once(demo_twice):
    cold = demo_twice["cold"]
    assert list(cold) == NOTEBOOKS and all(r["ok"] for r in cold.values()), [r["error"] for r in cold.values()]
    submitted = {name: r["jobs_submitted"] for name, r in cold.items()}
    # deterministic counts: 36 images; 15 SateAIs analyses; 9 + 9 Claid edits; 2 roster slices + 1 retry
    assert submitted["01_camera_traps"] == 36 and submitted["02_ships_and_slicks"] == 15
    assert submitted["04_product_edits"] == 18 and submitted["05_face_enrollment"] == 3
    # 14 screened + 9 forgery + 9 face checks, and 0-2 of the cancelled mistake (timing)
    assert 32 <= submitted["03_deepfake_screening"] <= 34 and submitted["06_report"] == 0
    for name, r in cold.items():
        creates = sum(n for route, n in (r["sandbox"] or {}).get("requests", {}).items() if route in CREATE_ROUTES)
        assert creates >= submitted[name], name  # every job went through a create call of its own
    db = demo_twice["cold_db"]
    assert db["animaldetect"] == 36 and db["sateais"] == 15 and db["claid"] == 18 and db["faces"] == 3
    assert db.get("authenta", 0) == 0  # notebook 03 deletes its jobs at the end


@pytest.mark.timeout(1200)
def test_the_second_build_sends_no_job(demo_twice):
    cold, warm = demo_twice["cold"], demo_twice["warm"]
    assert all(r["ok"] for r in warm.values()), [r["error"] for r in warm.values()]
    assert {name: r["jobs_submitted"] for name, r in warm.items()} == dict.fromkeys(NOTEBOOKS, 0)
    sent = {route: n for r in warm.values() for route, n in ((r["sandbox"] or {}).get("requests") or {}).items()}
    assert set(sent) <= WARM_ROUTES, sent  # no create, no upload, no poll, no download
    assert sent.get("sateais POST /analyze/{type}/preview") == 2
    assert sum(r["requests"] for r in warm.values()) == sum(sent.values()) <= 40
    assert demo_twice["warm_db"] == demo_twice["cold_db"]  # the sandbox holds no new job
    # the warm build's requests are a small part of the cold one's (its time depends on the machine's load)
    assert sum(r["requests"] for r in warm.values()) * 5 < sum(r["requests"] for r in cold.values())


@pytest.mark.timeout(1200)
def test_the_report_is_offline_html_with_the_monitors_final_state(demo_twice):
    reports = demo_twice["root"] / "reports"
    index = (reports / "index.html").read_text()
    for name in NOTEBOOKS:
        assert f'href="{name}.html"' in index
        page = (reports / f"{name}.html").read_text()
        assert "<script" not in page and report.offline_problems(page) == [], name
        assert "data:image/png;base64," in page, name  # figures inline
        assert 'href="index.html"' in page
    assert "Nothing was submitted" in index  # the index of the second build says so
    # the monitors as static HTML, in their final state: coloured counts and "n/n done"
    cameras, faces = (reports / "01_camera_traps.html").read_text(), (reports / "05_face_enrollment.html").read_text()
    assert ">36 succeeded</span>" in cameras and ">36/36 done</div>" in cameras
    assert (
        ">2 succeeded</span>" in faces and ">5 rejected before sending</span>" in faces and ">2/2 done</div>" in faces
    )
    assert "jobs in the ledger" in (reports / "06_report.html").read_text()


@pytest.mark.timeout(1200)
def test_the_notebooks_write_their_exports(demo_twice):
    out = demo_twice["root"] / "notebooks" / "outputs"
    md = json.loads((out / "camera_traps" / "megadetector.json").read_text())
    assert md["info"]["format_version"] == "1.5" and len(md["images"]) == 36
    assert sum(len(im.get("detections") or []) for im in md["images"]) == 38
    package = json.loads((out / "camera_traps" / "camtrap-dp" / "datapackage.json").read_text())
    assert {r["name"] for r in package["resources"]} == {"deployments", "media", "observations"}
    to_fix = (out / "faces" / "to_fix.csv").read_text().splitlines()
    assert len(to_fix) == 1 + 6 and any("EMP-0130" in line for line in to_fix)
