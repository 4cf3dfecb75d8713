"""The detection browser: boxes redrawn locally by a score slider (no request, no job), next/previous in order,
a PNG where widgets do not render; and the form's plan that follows its fields."""

from __future__ import annotations

import asyncio
import base64
import io
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import toolkit as tk
from tests.widgets.test_form import created
from tests.widgets.test_monitor import write_images
from toolkit.workspace import Workspace

DATA = Path(__file__).resolve().parents[2] / "data" / "camera_traps"


@pytest.fixture
def ws(sandbox, tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)


@pytest.fixture
def season(ws):
    """The sample season analysed once at threshold 0.2 (every box down to it)."""
    batch = ws.animaldetect.detect(sorted(DATA.glob("*.jpg"))[:12], threshold=0.2)
    batch.wait(timeout=120)
    return batch


def rgb(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def edge_pixels(png: bytes, row) -> list[tuple[int, int, int]]:
    """The pixels a third and two thirds down the left edge of ``row``'s box in ``png``."""
    img = rgb(png)
    x = round(row.x * img.width)
    return [img.getpixel((x + 1, round((row.y + row.h * f) * img.height))) for f in (1 / 3, 2 / 3)]


def label_rgb(browser, label: str) -> tuple[int, int, int]:
    return tuple(round(c * 255) for c in browser.colors[str(label)][:3])


def close(a, b, tol: int = 40) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b))


def check_drawn(browser, frame: pd.DataFrame, everything: bytes, threshold: float) -> int:
    """At ``threshold`` the browser draws exactly the current image's boxes with score >= threshold: those are
    counted, their edges are in their label's colour, and the edges of the others (drawn in ``everything``, the
    PNG at 0) are the photo again. Returns how many boxes it hides."""
    browser.threshold = threshold
    mine = frame[frame["file"].astype(str) == browser.file]
    want = mine[mine["score"] >= threshold]
    assert len(browser.shown()) == len(want)
    assert sorted(browser.shown()["annotation_id"]) == sorted(want["annotation_id"])
    assert f"{len(want)} of {len(mine)} boxes" in browser.summary()
    for row in want.itertuples(index=False):
        assert all(close(p, label_rgb(browser, row.label)) for p in edge_pixels(browser.png(), row))
    hidden = mine[mine["score"] < threshold]
    for row in hidden.itertuples(index=False):
        color = label_rgb(browser, row.label)
        assert all(close(p, color) for p in edge_pixels(everything, row))
        assert not all(close(p, color, 10) for p in edge_pixels(browser.png(), row))
    return len(hidden)


def test_the_slider_draws_exactly_the_boxes_at_or_above_it(ws, season):
    frame = season.detections()
    browser = tk.widgets.detection_browser(season)
    # an image whose boxes differ in score, so a threshold between them hides one and keeps the other
    per = frame.groupby(frame["file"].astype(str))["score"]
    file, scores = next((f, sorted(set(s))) for f, s in per if len(set(s)) > 1)
    browser.show(browser.files.index(file))
    everything = browser.png()
    assert check_drawn(browser, frame, everything, 0.5) == sum(x < 0.5 for x in scores)
    assert check_drawn(browser, frame, everything, (scores[0] + scores[1]) / 2) == 1
    assert check_drawn(browser, frame, everything, 1.0) == len(browser.rows()) > 1
    assert browser.shown().empty


def test_next_and_previous_walk_the_images_in_order(ws, season):
    browser = season.browse(threshold=0.5)
    table = tk.load.images_table(season, read_files=False)
    assert browser.files == [str(f) for f in table["file"]]  # empty images too, in submission order
    assert len(browser.files) == 12
    seen = [browser.file]
    for _ in range(len(browser.files) - 1):
        browser.next_button.click()
        seen.append(browser.file)
    assert seen == browser.files
    browser.next()
    assert browser.index == 0  # wraps around
    browser.previous_button.click()
    assert browser.file == browser.files[-1]
    browser.previous()
    assert browser.file == browser.files[-2]


def test_a_frame_is_browsed_by_its_own_files_in_order():
    frame = pd.DataFrame(
        {
            "file": ["b.jpg", "b.jpg", "a.jpg"],
            "label": pd.Categorical(["deer", "fox", "deer"]),
            "score": [0.9, 0.3, 0.6],
            "x": [0.1, 0.5, 0.2],
            "y": [0.1, 0.5, 0.2],
            "w": [0.3, 0.3, 0.3],
            "h": [0.3, 0.3, 0.3],
        }
    )
    browser = tk.widgets.detection_browser(frame, threshold=0.5)
    assert browser.files == ["b.jpg", "a.jpg"] and list(browser.shown()["label"]) == ["deer"]
    assert "image not found" not in repr(browser) and rgb(browser.png()).size == (640, 480)  # a placeholder
    with pytest.raises(ValueError, match="missing columns: score"):
        tk.widgets.detection_browser(frame.drop(columns="score"))


def test_moving_the_slider_sends_nothing_and_creates_no_job(ws, season):
    browser = season.browse()
    sent, jobs, made = ws.animaldetect.transport.requests, len(ws.jobs()), created(ws.sandbox)
    for t in (0.3, 0.5, 0.8, 0.95, 0.1):
        browser.slider.value = t
        assert len(browser.shown()) == int((browser.rows()["score"] >= t).sum())
    browser.next()
    assert ws.animaldetect.transport.requests == sent
    assert len(ws.jobs()) == jobs and created(ws.sandbox) == made


def test_the_static_output_is_a_png_of_the_current_image(ws, season):
    browser = season.browse(threshold=0.5)
    data = browser._repr_mimebundle_()
    png = base64.b64decode(data["image/png"])
    assert png == browser.png() and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert rgb(png).size == (640, 480)
    assert browser.summary() in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" not in data  # no kernel here: nothing to break


def test_the_plan_follows_the_fields(ws, tmp_path):
    folder = write_images(tmp_path / "imgs", 3)
    ws.animaldetect.detect(folder, threshold=0.3).wait(timeout=120)
    form = ws.form("animaldetect", "detect")
    form.inputs["images"].value = str(folder)
    form.fields["threshold"].widget.value = 0.3
    out = io.StringIO()
    with redirect_stdout(out):  # outside a kernel an Output widget lets prints through
        form.plan()
    assert "3 finished already" in out.getvalue() and "paid again" not in out.getvalue()
    with redirect_stdout(out):
        form.fields["threshold"].widget.value = 0.5  # no click: the plan follows
    assert "3 paid again" in out.getvalue()
    assert "3 paid again" in form.planned.summary()
    assert created(ws.sandbox) == 3  # planning sent nothing


def test_the_live_plan_is_debounced_on_the_loop(ws, tmp_path):
    folder = write_images(tmp_path / "imgs", 2)
    form = ws.form("animaldetect", "detect")
    form.inputs["images"].value = str(folder)
    plans: list[float] = []
    real = form.plan

    def counted():
        plans.append(time.monotonic())
        return real()

    form.plan = counted  # type: ignore[method-assign]

    async def typing() -> None:
        with redirect_stdout(io.StringIO()):
            form.plan_button.click()
            for t in (0.25, 0.3, 0.35, 0.4):  # four changes in a burst
                form.fields["threshold"].widget.value = t
            deadline = time.monotonic() + 60
            while len(plans) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.8)

    asyncio.run(typing())
    assert len(plans) == 2  # the click, then one re-plan for the burst, not four
    assert plans[1] - plans[0] >= 0.45
    assert "threshold=0.4" in form.code and form.planned is not None


def test_tk_widgets_detection_browser_is_found_from_a_fresh_import():
    code = "import toolkit as tk; print(tk.widgets.detection_browser.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "detection_browser", done.stderr
