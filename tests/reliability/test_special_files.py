"""Special files among the inputs: FIFOs, sockets, devices, dangling links, link loops and unreadable entries.

None of them is opened (a FIFO would block ``detect()`` forever); each is rejected before sending, by name and
reason, and the other inputs still go. Every call that could block runs under a time guard, so a regression
fails here instead of hanging the suite.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import scene_image, stats
from toolkit.client.model import PreflightError, Status
from toolkit.client.roster import read_roster
from toolkit.sandbox import Sandbox
from toolkit.workspace import Workspace

GUARD = 30.0  # seconds; preflight of a handful of files takes milliseconds
FACE = Path(__file__).resolve().parents[2] / "data" / "faces" / "images" / "emp_0001.jpg"
FIFO = "is a named pipe (FIFO), not a file"
SOCKET = "is a socket, not a file"
CHAR_DEVICE = "is a character device, not a file"
LOOP = "is a symbolic link loop (too many levels of symbolic links)"
ROOT = os.geteuid() == 0


def _unblock(fifo: Path) -> None:
    """Open the write end and close it: a reader stuck in ``open`` of ``fifo`` then reads EOF and goes on."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader waiting


def promptly(call: Callable[[], Any], fifos: list[Path]) -> Any:
    """``call()``'s value, or a failure if it is still running after ``GUARD`` seconds (a FIFO was opened)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as e:  # re-raised in the test thread
            box["error"] = e

    worker = threading.Thread(target=run, name="special-files-guard", daemon=True)
    worker.start()
    worker.join(GUARD)
    if worker.is_alive():
        for f in fifos:
            _unblock(f)
        worker.join(5)
        pytest.fail(f"still running after {GUARD:.0f} s: a FIFO among the inputs was opened and blocked")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _socket_at(path: Path) -> socket.socket:
    """A Unix socket bound at ``path``; by a relative name when the path is too long for ``sun_path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if len(os.fsencode(path)) < 100:
        sock.bind(str(path))
        return sock
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        sock.bind(path.name)
    finally:
        os.chdir(here)
    return sock


@pytest.fixture
def special_folder(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder with one real image and, all with image names, a dangling link, a link loop, a FIFO, a socket,
    a link to a character device and an entry that cannot be read (how depends on root); -> (folder, reasons)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "cam-000.jpg").write_bytes(scene_image(0, size=(320, 240)))
    (folder / "dangling.jpg").symlink_to("gone.jpg")
    (folder / "loop.jpg").symlink_to("loop.jpg")
    os.mkfifo(folder / "pipe.jpg")
    sock = _socket_at(folder / "sock.jpg")
    (folder / "null.jpg").symlink_to(os.devnull)
    reasons = {
        "dangling.jpg": "is a dangling symbolic link (its target gone.jpg does not exist)",
        "loop.jpg": LOOP,
        "pipe.jpg": FIFO,
        "sock.jpg": SOCKET,
        "null.jpg": CHAR_DEVICE,
    }
    if not ROOT:  # permission bits bind only non-root users
        locked = folder / "locked.jpg"
        locked.write_bytes(scene_image(1, size=(320, 240)))
        locked.chmod(0)
        (folder / "closed").mkdir()
        (folder / "closed" / "inside.jpg").write_bytes(scene_image(2, size=(320, 240)))
        (folder / "closed").chmod(0)
        reasons |= {
            "locked.jpg": "cannot be read (Permission denied)",
            "closed": "the folder cannot be listed (Permission denied)",
        }
    elif Path("/proc/self/mem").exists():  # root reads anything; a read of this file fails for root too
        (folder / "mem.jpg").symlink_to("/proc/self/mem")
        reasons["mem.jpg"] = "cannot be read (Input/output error)"
    try:
        yield folder, reasons
    finally:
        sock.close()
        if not ROOT:
            (folder / "closed").chmod(0o755)


def test_fifo_given_directly_is_rejected_without_being_opened(sandbox: Sandbox, tmp_path: Path) -> None:
    fifo = tmp_path / "camera.jpg"
    os.mkfifo(fifo)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    with pytest.raises(PreflightError) as raised:  # its only input refused: raised, nothing recorded
        promptly(lambda: ws.animaldetect.detect(fifo), [fifo])
    batch = raised.value
    assert [(e.input, e.message) for e in batch.rejected] == [(str(fifo), FIFO)]
    assert str(batch.rejected[0]) == f"{fifo}: {FIFO} (not sent to animaldetect)"
    assert ws.animaldetect.transport.requests == 0 and ws.jobs().empty
    assert "animaldetect" not in stats(sandbox)["providers"]  # not one request, not one job


def test_fifo_next_to_an_image_only_the_image_is_sent(sandbox: Sandbox, tmp_path: Path) -> None:
    fifo, image = tmp_path / "pipe.jpg", tmp_path / "cam.jpg"
    os.mkfifo(fifo)
    image.write_bytes(scene_image(3, size=(320, 240)))
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    batch = promptly(lambda: ws.animaldetect.detect([fifo, image]), [fifo]).wait(timeout=60)
    assert [(e.input, e.message) for e in batch.rejected] == [(str(fifo), FIFO)]
    assert [(j.input, j.status) for j in batch.jobs] == [(str(image), Status.SUCCEEDED)]
    tenant = stats(sandbox)["providers"]["animaldetect"]["tenants"][sandbox.tenant("animaldetect").id]
    assert tenant["jobs"]["created"] == 1


def test_folder_lists_each_special_entry_with_its_reason_and_submits_the_image(sandbox, tmp_path, special_folder):
    folder, expected = special_folder
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    batch = promptly(lambda: ws.animaldetect.detect(folder), [folder / "pipe.jpg"]).wait(timeout=60)
    reasons = {Path(e.input).name: e.message for e in batch.rejected}
    assert reasons == expected
    assert all(str(e).endswith("(not sent to animaldetect)") for e in batch.rejected)
    assert [(Path(j.input).name, j.status) for j in batch.jobs] == [("cam-000.jpg", Status.SUCCEEDED)]
    tenant = stats(sandbox)["providers"]["animaldetect"]["tenants"][sandbox.tenant("animaldetect").id]
    assert tenant["jobs"]["created"] == 1 and len(tenant["jobs_per_input_digest"]) == 1


def test_glob_matches_are_checked_the_same_way(sandbox, tmp_path, special_folder):
    folder, expected = special_folder
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    batch = promptly(lambda: ws.animaldetect.detect(str(folder / "*.jpg")), [folder / "pipe.jpg"]).wait(timeout=60)
    # a glob does not descend into the unlistable folder: it names files, not folders
    assert {Path(e.input).name: e.message for e in batch.rejected} == {
        k: v for k, v in expected.items() if k != "closed"
    }
    assert [Path(j.input).name for j in batch.jobs] == ["cam-000.jpg"]


def test_face_roster_folder_rejects_special_entries_by_row(tmp_path: Path) -> None:
    folder = tmp_path / "staff"
    folder.mkdir()
    shutil.copy(FACE, folder / "ada.jpg")
    os.mkfifo(folder / "bob.jpg")
    (folder / "cy.jpg").symlink_to("nobody.jpg")
    (folder / "dee.png").symlink_to("dee.png")
    roster = promptly(lambda: read_roster(folder), [folder / "bob.jpg"])
    assert [r.external_id for r in roster.rows] == ["ada"]
    assert {e.input: e.message for e in roster.rejected} == {
        "staff/ row 1 (bob)": f"the image path bob.jpg {FIFO}",
        "staff/ row 2 (cy)": "the image path cy.jpg is a dangling symbolic link (its target nobody.jpg does not exist)",
        "staff/ row 3 (dee)": f"the image path dee.png {LOOP}",
    }


def test_fifo_as_the_roster_or_the_aoi_is_refused_without_being_opened(tmp_path: Path) -> None:
    from toolkit.client.aoi import _from_file
    from toolkit.client.model import PreflightError

    roster, aoi = tmp_path / "roster.csv", tmp_path / "area.geojson"
    os.mkfifo(roster)
    os.mkfifo(aoi)

    def read() -> tuple[PreflightError, list[Any]]:
        with pytest.raises(PreflightError) as e:
            read_roster(roster)
        return e.value, list(_from_file("sateais", aoi))

    err, found = promptly(read, [roster, aoi])
    assert (err.input, err.message) == (str(roster), f"the roster {FIFO}")
    [(name, aoi_err)] = found
    assert name == "area" and isinstance(aoi_err, PreflightError) and aoi_err.message == f"the AOI file {FIFO}"


def test_cli_submit_with_a_fifo_returns_and_names_it(make_sandbox, tmp_path: Path) -> None:
    from toolkit.sandbox.config import Tenant

    key = "sk_special_files_cli"
    sb = make_sandbox(tenants=[Tenant("animaldetect", key)])
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "cam.jpg").write_bytes(scene_image(4, size=(320, 240)))
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    env = {
        **os.environ,
        "AD_API_KEY": key,
        "AD_API_BASE_URL": sb.base_url("animaldetect"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    try:  # run() kills the child when the timeout passes: a blocked open fails the test, not the suite
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "toolkit",
                "-w",
                str(tmp_path / "ws"),
                "submit",
                "animaldetect",
                "detect",
                str(fifo),
                str(folder),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        _unblock(fifo)
        pytest.fail("`toolkit submit` with a FIFO among the inputs did not return")
    assert done.returncode == 1, done.stderr  # one input was rejected
    assert f"rejected before sending: {fifo.name}: {FIFO}" in done.stderr
    tenant = stats(sb)["providers"]["animaldetect"]["tenants"][Tenant("animaldetect", key).id]
    assert tenant["jobs"]["created"] == 1
