"""Claid inputs go by reference (issue 21, item 9): a batch of a few hundred MB of images adds little to the
process, as for every other provider (the bytes are read again, and checked, when each is uploaded)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from tests.reliability.test_ledger_trust import client_ws, server

ROOT = Path(__file__).resolve().parents[2]
MB = 1_000_000

CHILD = textwrap.dedent("""
    import gc, json, sys
    sys.path.insert(0, sys.argv[1])
    from toolkit.workspace import Workspace

    def rss():
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) * 1024

    ws = Workspace(sys.argv[2], quiet=True)
    client = ws.claid  # the embedded sandbox starts here, before the measure
    gc.collect()
    before = rss()
    items = client._items(sys.argv[3])
    gc.collect()
    print("RESULT", json.dumps({"grew": rss() - before, "items": len(items),
                                "kinds": sorted({type(i.content).__name__ for i in items})}), flush=True)
""")


def noisy_jpegs(folder: Path, n: int, side: int = 1400) -> int:
    """``n`` distinct JPEGs of ~2-3 MB each (noise does not compress): one encode, then a numbered comment
    segment after SOI makes each file's bytes its own. Returns the total size."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95)
    jpeg = buf.getvalue()
    total = 0
    for i in range(n):
        comment = f"toolkit test image {i}".encode()
        data = jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]
        (folder / f"noise-{i:03d}.jpg").write_bytes(data)
        total += len(data)
    return total


def test_a_claid_batch_holds_its_images_by_reference_not_in_memory(tmp_path):
    total = noisy_jpegs(tmp_path / "in", 100)
    assert total > 200 * MB
    p = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(tmp_path / "ws"), str(tmp_path / "in")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    print(f"\n{total / MB:.0f} MB of Claid inputs: RSS +{out['grew'] / MB:.1f} MB")
    assert out["items"] == 100 and out["kinds"] == ["FileInput"]
    assert out["grew"] < 40 * MB, f"{total / MB:.0f} MB of inputs grew the process by {out['grew'] / MB:.0f} MB"


def test_claid_images_by_reference_are_uploaded_and_edited(tmp_path, sandbox):
    noisy_jpegs(tmp_path / "in", 3, side=200)
    ws = client_ws(tmp_path / "ws", sandbox, "claid")
    b = ws.claid.edit(tmp_path / "in", {"resizing": {"width": 50}}).wait(timeout=120, progress=False)
    assert b.status_counts()["succeeded"] == 3
    assert len(server(sandbox, "claid")) == 3
