"""Claid before/after over real sandbox edits: inputs beside outputs, framed on a grey backdrop so that a white
canvas and the padding Claid added stay visible. PNGs under test-output/plots/."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from tests.helpers import api, save_figure
from tests.load.test_claid_jobs_load import claid_tasks
from toolkit import load, plot
from toolkit.plot._figure import BACKDROP, LABEL_SIZE
from toolkit.sandbox import Sandbox, SandboxConfig


def edit_over_http(sb: Sandbox, src: Path, operations: dict, fmt: str) -> dict:
    """One Claid edit over raw HTTP, stored as the client stores it: the poll JSON plus the downloaded output."""
    with api(sb, "claid") as c:
        up = c.post("/storage/upload", files={"file": (src.name, src.read_bytes(), "image/jpeg")}).json()["data"]
        task = c.post(
            "/image/edit/async", json={"input": up["input"], "operations": operations, "output": {"format": fmt}}
        )
        assert task.status_code == 200, task.text
        deadline = time.monotonic() + 20
        while (body := c.get(task.json()["data"]["result_url"]).json())["data"]["status"] not in ("DONE", "ERROR"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert body["data"]["status"] == "DONE", body
    out = src.with_name(src.stem + "-out." + fmt)
    out.write_bytes(httpx.get(body["data"]["result"]["output_object"]["tmp_url"]).content)
    body["toolkit"] = {"output_path": str(out)}
    return {"job_id": str(body["data"]["id"]), "input": str(src), "status": "succeeded", "result": body}


@pytest.fixture(scope="module")
def claid(tmp_path_factory):
    root = tmp_path_factory.mktemp("claid")
    with Sandbox(SandboxConfig(port=0, data_dir=root / "sb", time_scale=0.001)) as sb:
        (root / "tasks").mkdir()
        tasks = load.images(claid_tasks(sb, root / "tasks"))
        # a product shot on a white 1000x1000 canvas, fitted into 800x500: Claid pads it with white
        canvas = Image.new("RGB", (1000, 1000), "white")
        canvas.paste((200, 40, 40), (350, 300, 650, 700))
        buf = io.BytesIO()
        canvas.save(buf, "JPEG", quality=95)
        (root / "white.jpg").write_bytes(buf.getvalue())
        ops = {"background": {"color": "#ffffff"}, "resizing": {"width": 800, "height": 500, "fit": "canvas"}}
        padded = load.images([edit_over_http(sb, root / "white.jpg", ops, "jpeg")])
        yield {"tasks": tasks, "padded": padded}


def test_before_after_pairs_inputs_and_outputs(claid):
    df = claid["tasks"]
    fig = plot.before_after(df, n=4)
    assert isinstance(fig, plot.Figure)
    pictures = [ax for ax in fig.axes if ax.images]
    assert len(pictures) == 4  # two tasks with a downloaded output (the third failed), two panels each
    titles = [ax.get_title() for ax in pictures]
    assert titles[:2] == ["before: 160×120 PNG", "after: 400×300 PNG"] and titles[3] == "after: 64×64 JPEG"
    assert pictures[1].images[0].get_array().shape[:2] == (300, 400)
    rows = [pictures[0].get_ylabel(), pictures[2].get_ylabel()]
    assert rows == [f"task {j}\nresizing" for j in df["job_id"][:2]]
    assert fig._suptitle.get_text() == "Claid: before and after (2 of 3 tasks)"
    save_figure(fig, "before_after")


def test_a_white_canvas_and_its_padding_show_against_the_backdrop(claid):
    df = claid["padded"]
    assert df["status"].tolist() == ["succeeded"], df["error"].tolist()
    assert (df["output_width"].iloc[0], df["output_height"].iloc[0]) == (800, 500)
    fig = plot.before_after(df, n=1)
    before, after = fig.axes
    for ax in (before, after):
        assert ax.get_facecolor()[:3] == pytest.approx(to_rgb(BACKDROP))
        frame = [p for p in ax.patches if p.get_gid() == "frame"][0]
        h, w = ax.images[0].get_array().shape[:2]
        assert (frame.get_width(), frame.get_height()) == (w, h) and frame.get_edgecolor()[:3] != (1, 1, 1)
        assert ax.title.get_fontsize() >= LABEL_SIZE
    assert before.yaxis.label.get_fontsize() >= LABEL_SIZE and before.get_ylabel().startswith("task ")
    # rendered: the pixels beside the output's white edge are the backdrop, not white
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    h_px = pixels.shape[0]
    (x0, y0), (x1, y1) = after.transData.transform([(0, 0), (800, 500)])
    row = int(h_px - (y0 + y1) / 2)  # display y grows upwards, array rows downwards
    inside, outside = pixels[row, int(x0) + 4], pixels[row, int(x0) - 4]
    assert inside.min() > 240  # the white padding Claid added...
    assert np.abs(outside - np.array(to_rgb(BACKDROP)) * 255).max() < 8  # ...against grey
    save_figure(fig, "before_after_white_canvas")


def test_no_downloaded_output_says_so(claid):
    failed = claid["tasks"][claid["tasks"]["status"] == "failed"]
    fig = plot.before_after(failed)
    assert [t.get_text() for ax in fig.axes for t in ax.texts] == ["no task with a downloaded output"]
    plt.close(fig)
