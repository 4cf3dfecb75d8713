"""The unofficial ``claidai`` SDK (PyPI ``claidai`` 1.0.0) against the sandbox: its every call goes to Claid's
upload API (``POST {BASE_URL}/image/edit/upload``, multipart ``file`` + JSON ``data``) and reads the sync
answer ``data.input`` / ``data.output.tmp_url``. Its base URL is the module constant ``claidai.client.BASE_URL``.
Two calls are known drift of the SDK from Claid's API reference (docs/contracts.md §4) and are refused."""

from __future__ import annotations

from pathlib import Path

import claidai
import claidai.client
import httpx
import pytest
from PIL import Image, ImageDraw

from toolkit.sandbox import Sandbox

FAST = {"api": [(6000, 60.0), (500, 1.0)]}


@pytest.fixture
def sdk(make_sandbox, monkeypatch) -> tuple[claidai.Claid, Sandbox]:
    sb = make_sandbox(credits={"claid": 12})
    sb.config.rate_limits["claid"] = FAST
    monkeypatch.setattr(claidai.client, "BASE_URL", sb.base_url("claid"))
    return claidai.Claid(sb.key("claid")), sb


def product(path: Path, size: tuple[int, int] = (160, 120)) -> Path:
    img = Image.new("RGB", size, (240, 240, 240))
    ImageDraw.Draw(img).ellipse((40, 30, 120, 90), fill=(160, 40, 30))
    img.save(path)
    return path


def claid_stats(sb: Sandbox) -> dict:
    snap = httpx.get(sb.url + "/__sandbox__/stats").json()["providers"]["claid"]
    return {**snap["tenants"][sb.tenant("claid").id], "auth_on_signed_urls": snap["auth_on_signed_urls"]}


def test_documented_calls_edit_and_save(sdk, tmp_path):
    c, sb = sdk
    photo = product(tmp_path / "mug.jpg")
    cut = c.remove_bg(photo)  # png, transparent, category products
    assert (cut.input_meta.width, cut.input_meta.height, cut.input_meta.format) == (160, 120, "JPEG")
    assert (cut.output_meta.format, cut.output_meta.mime) == ("PNG", "image/png")
    saved = cut.save(tmp_path / "out" / "mug.png")  # downloads tmp_url without the key
    with Image.open(saved) as img:
        assert img.mode == "RGBA" and img.getchannel("A").getextrema() == (0, 255)
    assert c.resize(photo, width=80, output_format="webp").output_meta.width == 80
    assert c.resize(photo, width=50, height=50, smart=True).output_meta.height == 50
    up = c.upscale(photo, scale="200%", method="photo")
    assert (up.output_meta.width, up.output_meta.height) == (320, 240)
    assert c.enhance(photo, exposure=30, sharpness=20).output_meta.format == "JPEG"
    assert c.blur_bg(photo, level="high").output_meta.width == 160
    assert c.polish(photo).output_meta.width == 160
    assert c.convert(photo, output_format="avif", quality=60).output_meta.mime == "image/avif"
    s = claid_stats(sb)
    assert s["requests"]["POST /image/edit/upload"] == {"200": 8} and s["jobs"]["created"] == 8
    assert s["credits_left"] == 4 and s["auth_on_signed_urls"] == 0


def test_process_folder_batches_through_the_upload_api(sdk, tmp_path):
    c, sb = sdk
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        product(src / f"p{i}.png", (100 + 10 * i, 80))
    result = claidai.process_folder(c, src, tmp_path / "out", c.resize, {"width": 50}, output_format="png")
    assert (result.success_count, result.fail_count) == (3, 0)
    sizes = sorted(Image.open(p).size for p in (tmp_path / "out").glob("*.png"))
    assert sizes == [(50, 33), (50, 36), (50, 40)]


def test_errors_map_to_the_sdk_exceptions(sdk, tmp_path, monkeypatch):
    c, sb = sdk
    photo = product(tmp_path / "a.jpg")
    with pytest.raises(claidai.ClaidAuthError):
        claidai.Claid("not-a-key").resize(photo, width=10)
    with pytest.raises(claidai.ClaidValidationError, match="exposure"):
        c.enhance(photo, exposure=500)  # 422 9000: its error_message names the field
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(claidai.ClaidError, match="HTTP 400: Unsupported input file"):
        c.resize(tmp_path / "notes.jpg", width=10)
    httpx.put(sb.url + "/__sandbox__/credits", json={"provider": "claid", "credits": 0}).raise_for_status()
    with pytest.raises(claidai.ClaidNoCreditsError, match="No API calls left"):
        c.resize(photo, width=10)
    assert claid_stats(sb)["jobs"]["created"] == 0  # refused requests never became jobs


@pytest.mark.parametrize(
    "call,field",
    [
        # the SDK sends fit {"type": "outpaint", "feathering": ...}; the reference documents fit "outpaint"
        (lambda c, p: c.outpaint(p), "operations.resizing.fit"),
        # the SDK offers tiff; the reference's output.format.type is jpeg|png|webp|avif
        (lambda c, p: c.convert(p, output_format="tiff"), "output.format"),
    ],
)
def test_known_sdk_drift_is_refused_as_the_reference_says(sdk, tmp_path, call, field):
    c, _ = sdk
    with pytest.raises(claidai.ClaidValidationError, match=field.replace(".", r"\.")):
        call(c, product(tmp_path / "a.png"))
