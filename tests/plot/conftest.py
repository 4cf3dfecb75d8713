"""A real camera-trap batch against the sandbox, shared by the detection and timeline plot tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from tests.helpers import scene_image  # noqa: E402
from toolkit import load  # noqa: E402
from toolkit.sandbox import Sandbox, SandboxConfig  # noqa: E402
from toolkit.workspace import Workspace  # noqa: E402

STAMPS = ["20260610_031522", "20260610_224501", "20260611_051000", "20260613_031500", "20260613_120000"]
STAMPS += ["20260614_231500"]


@pytest.fixture(scope="session")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Six 480x360 pictures from three cameras over five days through Animal Detect: the batch, its workspace and
    its detections frame."""
    root: Path = tmp_path_factory.mktemp("camera")
    imgs = root / "imgs"
    imgs.mkdir()
    for i, stamp in enumerate(STAMPS):
        (imgs / f"CAM0{i % 3 + 1}_{stamp}.jpg").write_bytes(scene_image(i, size=(480, 360), objects=2 + i % 3))
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001)) as sb:
        ws = Workspace(root / "ws", sandbox=sb, quiet=True)
        batch = ws.animaldetect.detect(imgs, threshold=0.05).wait(timeout=60)
        yield {"batch": batch, "det": load.detections(batch), "ws": ws}
