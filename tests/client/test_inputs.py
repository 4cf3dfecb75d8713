"""Inputs by reference (issue #17): preflight keeps a digest, not the bytes; a file changed after preflight is
never sent; memory stays bounded by the files in flight; folders name what they skip (issue #16)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from tests.helpers import scene_image, stats
from toolkit.client.filedata import FileInput, InputChanged
from toolkit.client.inputs import IMAGE_SUFFIXES, media_items
from toolkit.client.ledger import idempotency_key
from toolkit.client.model import PreflightError, Status
from toolkit.client.providers.animaldetect import ACCEPTED, MAX_BYTES
from toolkit.sandbox import Sandbox
from toolkit.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


def images(folder: Path, n: int, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        p = folder / f"cam-{i:03d}.jpg"
        p.write_bytes(scene_image(i, size=(320, 240)))
        out.append(p)
    return out


def preflight(paths: object) -> list:
    return media_items("animaldetect", paths, IMAGE_SUFFIXES, ACCEPTED, MAX_BYTES)


def tenant(sb: Sandbox) -> dict:
    return stats(sb)["providers"].get("animaldetect", {}).get("tenants", {}).get(sb.tenant("animaldetect").id, {})


def test_streamed_digest_and_key_equal_the_in_memory_ones(tmp_path: Path) -> None:
    paths = images(tmp_path / "imgs", 6)
    items = preflight(tmp_path / "imgs")
    assert [it.input for it in items] == [str(p) for p in paths]
    for it, p in zip(items, paths):
        data = p.read_bytes()
        assert isinstance(it.content, FileInput) and len(it.content) == len(data) == it.meta["size"]
        assert it.content.digest == hashlib.sha256(data).hexdigest()
        opts = {"threshold": 0.2}
        assert idempotency_key("animaldetect", "detect@sandbox", opts, it.content) == idempotency_key(
            "animaldetect", "detect@sandbox", opts, data
        )
        assert it.content.read() == data


def test_a_file_changed_after_preflight_fails_clearly_and_is_never_sent(sandbox: Sandbox, tmp_path: Path) -> None:
    paths = images(tmp_path / "imgs", 3)
    items = preflight(tmp_path / "imgs")
    changed = paths[1]
    new_bytes = scene_image(99, size=(320, 240))
    changed.write_bytes(new_bytes)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    batch = ws.animaldetect.submit("detect", items, options={"threshold": 0.2}).wait(timeout=60)
    by_input = {j.input: j for j in batch.jobs}
    bad = by_input[str(changed)]
    assert bad.status == Status.FAILED and bad.error_code == "INPUT_CHANGED" and bad.job_id is None
    assert str(changed) in (bad.error_message or "") and "changed after preflight" in (bad.error_message or "")
    assert [by_input[str(p)].status for p in (paths[0], paths[2])] == [Status.SUCCEEDED] * 2
    t = tenant(sandbox)
    assert t["jobs"]["created"] == 2  # nothing at all was created or uploaded for the changed file
    sent = set(t["jobs_per_input_digest"])
    assert sent == {"sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() for p in (paths[0], paths[2])}


def test_a_stream_stops_before_its_last_byte_when_the_file_changes_meanwhile(tmp_path: Path) -> None:
    from tests.benchmarks.bench_inputs import write_photos

    write_photos(tmp_path / "big", 1, megabytes=1.0)  # several chunks
    path = tmp_path / "big" / "photo-00000.jpg"
    (item,) = preflight(path)
    content = item.content
    chunks = content.chunks()
    first = next(chunks)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # same size, other bytes, changed while the upload streams
    path.write_bytes(bytes(data))
    got = [first]
    with pytest.raises(InputChanged, match="its content differs"):
        got += list(chunks)
    assert sum(map(len, got)) < len(content)  # the body never completed: the server cannot have taken it
    with pytest.raises(InputChanged, match=str(path)):
        content.verify()


MEMORY_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from toolkit.client.inputs import IMAGE_SUFFIXES, media_items
    from toolkit.client.ledger import Ledger
    from toolkit.client.providers.animaldetect import ACCEPTED, MAX_BYTES, AnimalDetectClient
    from toolkit.client.transport import ProviderConfig, Transport

    client = AnimalDetectClient(Ledger(Path(sys.argv[3])), Transport(ProviderConfig("animaldetect", "http://127.0.0.1:9", "k")))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    items = media_items("animaldetect", Path(sys.argv[1]), IMAGE_SUFFIXES, ACCEPTED, MAX_BYTES)
    batch = client.submit("detect", items, start=False)  # keys streamed from disk, rows recorded
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"jobs": len(batch), "growth_mb": (peak - before) / 1024}))
    """
)


def test_memory_stays_bounded_whatever_the_number_of_inputs(tmp_path: Path) -> None:
    from tests.benchmarks.bench_inputs import write_photos

    folder = tmp_path / "photos"
    sizes = write_photos(folder, 200, megabytes=3.0)
    total_mb = sum(sizes) / 1e6
    p = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(folder), str(ROOT), str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["jobs"] == 200 and total_mb > 550
    assert out["growth_mb"] < 100, (out, total_mb)  # held in memory, they would add ~600 MB


def test_a_missing_path_and_a_folder_of_other_files_are_named(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("a.txt", "b.txt", "c.csv", "d.md"):
        (notes / name).write_text("not an image")
    (notes / ".DS_Store").write_bytes(b"\0")  # hidden files are not counted
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "data" / "camera_trap"
    out = preflight([missing, notes, empty])
    assert all(isinstance(e, PreflightError) for e in out)
    assert [(e.input, e.message) for e in out] == [
        (str(missing), "no such file or folder"),
        (str(notes), "no images (.jpeg/.jpg/.png/.webp) in folder (4 files skipped: a.txt, b.txt, c.csv, …)"),
        (str(empty), "no images (.jpeg/.jpg/.png/.webp) in folder (it is empty)"),
    ]
    assert str(out[0]) == f"{missing}: no such file or folder (not sent to animaldetect)"


def test_files_skipped_in_a_folder_are_listed_and_the_images_go(sandbox: Sandbox, tmp_path: Path) -> None:
    folder = tmp_path / "season"
    paths = images(folder, 2)
    (folder / "labels.csv").write_text("file,label\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "readme.txt").write_text("notes")
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # skipped files are counted (a notice), never a warning
        batch = ws.animaldetect.detect(folder).wait(timeout=60)
    assert batch.rejected == []
    assert batch.skipped == [str(folder / "labels.csv"), str(folder / "sub" / "readme.txt")]
    assert [(j.input, j.status) for j in batch.jobs] == [(str(p), Status.SUCCEEDED) for p in paths]


def test_bytes_in_memory_still_submit(sandbox: Sandbox, tmp_path: Path) -> None:
    from toolkit.client.providers.base import Item

    data = scene_image(5, size=(320, 240))
    item = Item("in-memory", content=data, meta={"filename": "x.jpg", "content_type": "image/jpeg", "size": len(data)})
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    batch = ws.animaldetect.submit("detect", [item], options={"threshold": 0.2}).wait(timeout=60)
    assert [j.status for j in batch.jobs] == [Status.SUCCEEDED]
    assert list(tenant(sandbox)["jobs_per_input_digest"]) == ["sha256:" + hashlib.sha256(data).hexdigest()]


def test_cut_files_are_refused_even_when_pillow_is_told_to_load_truncated_images(monkeypatch):
    """megadetector-utils sets ImageFile.LOAD_TRUNCATED_IMAGES on import; a cut file must still be refused."""
    from PIL import ImageFile

    from toolkit.client.inputs import _check_image
    from toolkit.client.roster import image_size

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for fmt, mime in (("JPEG", "image/jpeg"), ("PNG", "image/png")):
        data = scene_image(3, fmt=fmt)
        cut = data[: len(data) // 2]
        with pytest.raises(PreflightError, match="cannot be decoded"):
            _check_image("animaldetect", Path(f"cut.{fmt.lower()}"), cut, mime)
        with pytest.raises(ValueError, match="truncated"):
            image_size(cut, f"cut.{fmt.lower()}")
        assert image_size(data) == (640, 480)
