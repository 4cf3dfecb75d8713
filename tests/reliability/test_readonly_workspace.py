"""A finished workspace on a read-only disk (issue 21, item 9): it opens for reading (jobs, batches, loaders, a
re-run of the finished call, all from the cache), a submit says plainly that the folder is read-only, and a new
workspace there is a ``LedgerError`` naming the folder, never a raw ``PermissionError``.

Tests run as root, for whom ``chmod`` stops no write; so the folder is made truly read-only for one child process:
``unshare -m`` gives it a private mount namespace in which the folder is bind-mounted onto itself and remounted
``ro`` (writes fail with ``EROFS``, for root too), while the test process still sees the folder as it was."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.reliability.test_ledger_trust import client_ws, images

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from toolkit import load
    from toolkit.client.ledger import LedgerError
    from toolkit.client.model import ToolkitError
    from toolkit.workspace import Workspace
    ws_dir, base, key, batch_id, paths, new_image = sys.argv[2:8]
    paths = json.loads(paths)
    out = {}
    try:
        open(ws_dir + "/probe", "w")
    except OSError as e:
        out["probe"] = e.strerror
    ws = Workspace(ws_dir, keys={"animaldetect": key}, base_urls={"animaldetect": base}, quiet=True)
    cfg = ws._config("animaldetect")  # as client_ws made it (the sandbox as if it were the service)
    cfg.sandbox, cfg.time_scale, cfg.rate_limits = True, 0.001, []
    out["jobs"] = len(ws.jobs())
    out["loaded"] = len(load.detections(ws.batch(batch_id)))
    again = ws.animaldetect.detect(paths).wait(timeout=60, progress=False)
    out["again"] = again.status_counts().get("succeeded", 0)
    out["requests"] = ws.client("animaldetect").transport.requests
    try:
        ws.animaldetect.detect([new_image])
    except ToolkitError as e:
        out["submit"] = [type(e).__name__, str(e)]
    try:
        Workspace(ws_dir + "/new", quiet=True)
    except LedgerError as e:
        out["new"] = [type(e).__name__, str(e)]
    print("RESULT", json.dumps(out), flush=True)
""")


def read_only_run(folder: Path, *args: str) -> dict:
    """Run ``CHILD`` with ``folder`` mounted read-only in a mount namespace of its own."""
    f = str(folder)
    script = f'mount --bind "{f}" "{f}" && mount -o remount,ro,bind "{f}" "{f}" && exec "$0" "$@"'
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, sys.executable, "-c", CHILD, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))[7:])


def digests(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_finished_workspace_on_a_read_only_disk_loads_its_results_and_refuses_writes_plainly(tmp_path, sandbox):
    disk = tmp_path / "disk"
    paths = images(disk / "in", 4, seed=950)
    ws = client_ws(disk / "ws", sandbox, "animaldetect")
    b = ws.animaldetect.detect(paths).wait(timeout=120, progress=False)
    assert b.status_counts()["succeeded"] == 4
    ws.ledger.close()
    new_image = images(tmp_path / "elsewhere", 1, seed=990)[0]
    before = digests(disk)
    out = read_only_run(
        disk,
        str(ROOT),
        str(disk / "ws"),
        sandbox.base_url("animaldetect"),
        sandbox.key("animaldetect"),
        b.id,
        json.dumps([str(p) for p in paths]),
        str(new_image),
    )
    assert out.get("probe") == "Read-only file system"  # the child really could not write there
    assert out["jobs"] == 4 and out["loaded"] > 0
    assert out["again"] == 4 and out["requests"] == 0  # the re-run came from the cache
    kind, message = out["submit"]
    assert kind == "ReadOnlyWorkspace" and str(disk / "ws") in message and "read-only" in message
    assert "nothing can be submitted" in message
    kind, message = out["new"]
    assert str(disk / "ws" / "new") in message and "writable folder" in message
    assert digests(disk) == before  # nothing was written
