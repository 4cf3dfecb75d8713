"""Claid.ai async image edit over real HTTP: upload, create, poll result_url, download tmp_url, and the errors."""

from __future__ import annotations

import io
import json
import time

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers import api
from toolkit.sandbox import Tenant

FAST = {"api": [(6000, 60.0), (500, 1.0)]}  # the documented 4 req/s would throttle tight polling loops


@pytest.fixture
def sb(make_sandbox):
    sandbox = make_sandbox()
    sandbox.config.rate_limits["claid"] = FAST
    return sandbox


def picture(size: tuple[int, int] = (160, 120), fmt: str = "PNG", bg=(235, 235, 235), fg=(150, 40, 30)) -> bytes:
    """A flat background with a filled disc in the middle and a soft colour gradient on the disc."""
    w, h = size
    img = Image.new("RGB", size, bg)
    ImageDraw.Draw(img).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=fg)
    arr = np.asarray(img).astype(np.int16)
    arr[..., 1] += np.linspace(0, 40, w, dtype=np.int16)[None, :] * (arr[..., 0] < 200)
    buf = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


def upload(c: httpx.Client, data: bytes, name: str = "photo.png") -> dict:
    r = c.post("/storage/upload", files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def wait(c: httpx.Client, result_url: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(result_url)
        assert r.status_code == 200, r.text
        task = r.json()["data"]
        if task["status"] in ("DONE", "ERROR"):
            return task
        assert task["status"] in ("ACCEPTED", "PROCESSING")
        time.sleep(0.02)
    raise AssertionError("task did not finish")


def edit(c: httpx.Client, image: bytes, operations: dict, output: dict | None = None) -> tuple[dict, Image.Image]:
    """Upload, create, poll until DONE and download the output (no auth on tmp_url)."""
    body = {"input": upload(c, image)["input"], "operations": operations, **({"output": output} if output else {})}
    r = c.post("/image/edit/async", json=body)
    assert r.status_code == 200, r.text
    task = wait(c, r.json()["data"]["result_url"])
    assert task["status"] == "DONE", task
    out = task["result"]["output_object"]
    got = httpx.get(out["tmp_url"])
    assert got.status_code == 200 and got.headers["content-type"] == out["mime"]
    return task, Image.open(io.BytesIO(got.content))


def test_documented_flow_upload_then_storage_input(sb):
    with api(sb, "claid") as c:
        stored = upload(c, picture((128, 128), "JPEG"), "in.jpg")
        assert stored["input"].startswith("storage://sandbox/")
        body = {
            "input": stored["input"],
            "operations": {"resizing": {"width": 1000, "height": 1000, "fit": "crop"}},
            "output": {"format": "jpeg"},
        }
        r = c.post("/image/edit/async", json=body)
        assert r.status_code == 200 and r.headers["RateLimit-Limit"].startswith("500, 6000;w=60, 500;w=1")
        assert int(r.headers["RateLimit-Remaining"]) >= 0 and "RateLimit-Reset" in r.headers
        created = r.json()["data"]
        assert created["status"] == "ACCEPTED" and created["request"] == body
        assert created["result_url"] == f"{sb.base_url('claid')}/image/edit/async/{created['id']}"
        assert created["created_at"].endswith("+00:00")
        task = wait(c, created["result_url"])
    assert task["id"] == created["id"] and task["status"] == "DONE" and task["errors"] == []
    assert task["result"]["input_object"] == {
        "ext": "jpeg",
        "mps": 0.016384,
        "mime": "image/jpeg",
        "format": "JPEG",
        "width": 128,
        "height": 128,
    }
    out = task["result"]["output_object"]
    assert {k: out[k] for k in ("ext", "mps", "mime", "format", "width", "height")} == {
        "ext": "jpeg",
        "mps": 1.0,
        "mime": "image/jpeg",
        "format": "JPEG",
        "width": 1000,
        "height": 1000,
    }
    assert out["sandbox"] is True and out["tmp_url"].startswith(sb.storage_url + "/storage/claid/")
    img = Image.open(io.BytesIO(httpx.get(out["tmp_url"]).content))
    assert img.format == "JPEG" and img.size == (1000, 1000)


def test_v1_beta1_prefix_and_uploaded_url_as_input(sb):
    beta = sb.url + "/claid/v1-beta1"
    with httpx.Client(base_url=beta, headers={"Authorization": f"Bearer {sb.key('claid')}"}) as c:
        stored = upload(c, picture())
        assert httpx.get(stored["url"]).status_code == 200  # the object URL needs no auth
        r = c.post("/image/edit/async", json={"input": stored["url"], "operations": {"resizing": {"width": "50%"}}})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["result_url"].startswith(beta + "/image/edit/async/")
        task = wait(c, r.json()["data"]["result_url"])
    assert (task["result"]["output_object"]["width"], task["result"]["output_object"]["height"]) == (80, 60)


@pytest.mark.parametrize(
    "fmt,pil,mode",
    [
        ("png", "PNG", "RGB"),
        ("WEBP", "WEBP", "RGB"),
        ({"type": "JPEG", "quality": 40, "progressive": True}, "JPEG", "RGB"),
    ],
)
def test_format_conversion(sb, fmt, pil, mode):
    with api(sb, "claid") as c:
        task, img = edit(c, picture(fmt="JPEG"), {}, {"format": fmt})
    out = task["result"]["output_object"]
    assert img.format == pil == out["format"] and img.mode == mode and img.size == (160, 120)
    assert out["ext"] == pil.lower() and out["mime"] == f"image/{pil.lower()}"


@pytest.mark.parametrize(
    "resizing,size",
    [
        ({"width": 100, "height": 100, "fit": "bounds"}, (100, 75)),
        ({"width": 100, "height": 100, "fit": "cover"}, (133, 100)),
        ({"width": 100, "height": 100, "fit": "canvas"}, (100, 100)),
        ({"width": 100, "height": 100, "fit": "OUTPAINT"}, (100, 100)),
        ({"width": 90, "height": 40, "fit": {"crop": "smart"}}, (90, 40)),
        ({"height": "200%"}, (320, 240)),
    ],
)
def test_resizing_fits(sb, resizing, size):
    with api(sb, "claid") as c:
        _, img = edit(c, picture(), {"resizing": resizing}, {"format": "png"})
    assert img.size == size


def test_background_remove_gives_transparent_border_and_colour_fill(sb):
    with api(sb, "claid") as c:
        _, cut = edit(c, picture(), {"background": {"remove": True}}, {"format": "png"})
        _, filled = edit(c, picture(), {"background": {"remove": True, "color": "#00FF00"}}, {"format": "png"})
    alpha = np.asarray(cut.getchannel("A"))
    assert cut.mode == "RGBA"
    assert alpha[:5].max() == 0 and alpha[:, :5].max() == 0 and alpha[-5:].max() == 0  # border removed
    assert alpha[55:65, 75:85].min() == 255  # the disc stays opaque
    rgb = np.asarray(filled.convert("RGB"))
    assert tuple(rgb[2, 2]) == (0, 255, 0) and rgb[60, 80, 1] < 200


def test_adjustments_move_pixel_statistics_the_right_way(sb):
    with api(sb, "claid") as c:
        _, base = edit(c, picture(), {}, {"format": "png"})
        _, bright = edit(c, picture(), {"adjustments": {"exposure": 60}}, {"format": "png"})
        _, grey = edit(c, picture(), {"adjustments": {"saturation": -100}}, {"format": "png"})
        _, punchy = edit(c, picture(), {"adjustments": {"contrast": 80}}, {"format": "png"})
    b, lum = np.asarray(base, float), lambda im: np.asarray(im.convert("L"), float)
    assert np.asarray(bright, float).mean() > b.mean() + 5
    assert np.asarray(grey, float).std(axis=-1).mean() < 2 < b.std(axis=-1).mean()
    assert lum(punchy).std() > lum(base).std() * 1.3


def test_padding_keeps_size_and_fills_the_border(sb):
    with api(sb, "claid") as c:
        _, img = edit(
            c, picture(fg=(20, 20, 200)), {"padding": "25%", "background": {"color": "#ff0000"}}, {"format": "png"}
        )
    arr = np.asarray(img.convert("RGB"))
    assert img.size == (160, 120) and tuple(arr[3, 3]) == (255, 0, 0) and tuple(arr[-3, -3]) == (255, 0, 0)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/photo.jpg",
        "file:///etc/passwd",
        "ftp://127.0.0.1/photo.jpg",
        "http://127.0.0.1:1/storage/claid/objects/x/y.png",
        "storage://my-bucket/photo.jpg",
        "storage://sandbox/uploads/missing.png",
        "storage://sandbox/../../etc/passwd",
    ],
)
def test_inputs_outside_the_sandbox_storage_are_400(sb, url):
    with api(sb, "claid") as c:
        r = c.post("/image/edit/async", json={"input": url, "operations": {}})
    assert r.status_code == 400
    err = r.json()
    assert err["error_message"].startswith("input:") and set(err) == {
        "error_code",
        "error_type",
        "error_message",
        "error_details",
    }


def test_own_host_url_without_valid_signature_is_400(sb):
    with api(sb, "claid") as c:
        stored = upload(c, picture())
        forged = stored["url"].replace("sig=", "sig=0")
        r = c.post("/image/edit/async", json={"input": forged, "operations": {}})
    assert r.status_code == 400 and "not issued by this sandbox" in r.json()["error_message"]


@pytest.mark.parametrize(
    "operations,field",
    [
        ({"upscale_everything": True}, "operations.upscale_everything"),
        ({"resizing": {"width": 100, "fit": "zoom"}}, "operations.resizing.fit"),
        ({"adjustments": {"exposure": 250}}, "operations.adjustments.exposure"),
        ({"padding": "80%"}, "operations.padding"),
        ({"padding": True}, "operations.padding"),  # typed as the document says (issue #23)
        ({"padding": -4}, "operations.padding"),
        ({"resizing": {"width": "0%"}}, "operations.resizing.width"),
        ({"background": {"color": ""}}, "operations.background.color"),
    ],
)
def test_unknown_operation_or_bad_value_is_422_9000(sb, operations, field):
    with api(sb, "claid") as c:
        r = c.post("/image/edit/async", json={"input": "storage://sandbox/x.png", "operations": operations})
    assert r.status_code == 422
    err = r.json()
    assert err["error_code"] == "9000" and err["error_type"] == "validation"
    assert field in err["error_details"] and all(isinstance(m, str) for m in err["error_details"][field])


def test_bad_json_is_400_and_unknown_top_level_key_is_422(sb):
    with api(sb, "claid") as c:
        r = c.post("/image/edit/async", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error_code"] == "9000"
        r = c.post("/image/edit/async", json={"input": "storage://sandbox/x", "operations": {}, "webhook": "x"})
        assert r.status_code == 422 and "webhook" in r.json()["error_details"]


def test_missing_or_wrong_key_is_401(sb):
    with httpx.Client(base_url=sb.base_url("claid")) as anon:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            for r in (
                anon.post("/image/edit/async", json={"input": "x", "operations": {}}, headers=headers),
                anon.get("/image/edit/async/1", headers=headers),
                anon.post("/storage/upload", files={"file": ("a.png", b"x")}, headers=headers),
            ):
                assert r.status_code == 401
                assert (r.json()["error_code"], r.json()["error_type"]) == ("111", "auth")


def test_tenant_isolation(make_sandbox):
    sandbox = make_sandbox(tenants=[Tenant("claid", "key_a"), Tenant("claid", "key_b")])
    sandbox.config.rate_limits["claid"] = FAST
    with api(sandbox, "claid", key="key_a") as a, api(sandbox, "claid", key="key_b") as b:
        stored = upload(a, picture())
        r = a.post("/image/edit/async", json={"input": stored["input"], "operations": {}})
        url = r.json()["data"]["result_url"]
        assert wait(a, url)["status"] == "DONE"
        other = b.get(url)
        assert other.status_code == 404 and other.json()["error_code"] == "1004"
        r = b.post("/image/edit/async", json={"input": stored["input"], "operations": {}})
        assert r.status_code == 400 and "not found" in r.json()["error_message"]


def test_undecodable_upload_ends_in_error(sb):
    with api(sb, "claid") as c:
        stored = upload(c, b"\x89PNG\r\n\x1a\n this is not really a png", "broken.png")
        r = c.post("/image/edit/async", json={"input": stored["input"], "operations": {}})
        assert r.status_code == 200
        task = wait(c, r.json()["data"]["result_url"])
    assert task["status"] == "ERROR" and task["result"] == {}
    [err] = task["errors"]
    assert set(err) == {"error", "created_at", "input_object"} and err["input_object"] is None
    assert isinstance(err["created_at"], int) and abs(err["created_at"] - time.time()) < 60
    assert "not a decodable image" in err["error"]


def test_rate_limit_429_nested_envelope(make_sandbox):
    sandbox = make_sandbox()
    # 3 per 30 s: no token can refill while the four requests run, however loaded the machine is
    sandbox.config.rate_limits["claid"] = {"api": [(120, 60.0), (3, 30.0)]}
    with api(sandbox, "claid") as c:
        rs = [c.get("/image/edit/async/1") for _ in range(4)]
    assert [r.status_code for r in rs] == [404, 404, 404, 429]
    assert rs[0].headers["RateLimit-Limit"] == "3, 120;w=60, 3;w=30"
    last = rs[-1]
    assert last.json() == {
        "detail": {
            "error_code": "2001",
            "error_type": "general",
            "error_message": "Too Many Requests. Rate limit exceeded.",
        }
    }
    assert int(last.headers["RateLimit-Reset"]) >= 1 and int(last.headers["Retry-After"]) >= 1
    assert last.headers["RateLimit-Remaining"] == "0"


def test_tmp_url_tamper_403_and_everything_404_after_24h(sb):
    with api(sb, "claid") as c:
        task, _ = edit(c, picture(), {})
        url = task["result"]["output_object"]["tmp_url"]
        assert httpx.get(url.replace("sig=", "sig=0")).status_code == 403
        assert httpx.get(url.split("?")[0]).status_code == 403
        other = url.replace(f"/tmp/{task['id']}/", f"/tmp/{task['id'] + 1}/")
        assert httpx.get(other).status_code == 403
        result_url = f"/image/edit/async/{task['id']}"
        sb.ctx.store.update(str(task["id"]), completed_at=time.time() - 90)  # 24 h scaled by 0.001 = 86.4 s
        assert httpx.get(url).status_code == 404
        r = c.get(result_url)
        assert r.status_code == 404 and r.json()["error_code"] == "1004"


def test_destination_and_tmp_url_chain_into_new_edits(sb):
    with api(sb, "claid") as c:
        out = {"format": "png", "destination": "storage://sandbox/out/a.png"}
        task, _ = edit(c, picture(), {"resizing": {"width": 80}}, out)
        assert task["result"]["output_object"]["claid_storage_uri"] == "storage://sandbox/out/a.png"
        for source in ("storage://sandbox/out/a.png", task["result"]["output_object"]["tmp_url"]):
            r = c.post("/image/edit/async", json={"input": source, "operations": {}})
            assert r.status_code == 200, r.text
            again = wait(c, r.json()["data"]["result_url"])
            assert again["result"]["input_object"]["format"] == "PNG"
            assert again["result"]["input_object"]["width"] == 80
        r = c.post(
            "/image/edit/async",
            json={
                "input": "storage://sandbox/out/a.png",
                "operations": {},
                "output": {"destination": "s3://bucket/x.png"},
            },
        )
        assert r.status_code == 400 and "destination" in r.json()["error_message"]


def test_injected_failure_reports_the_input_object(make_sandbox):
    sandbox = make_sandbox(faults={"claid": {"fail": 1.0}})
    sandbox.config.rate_limits["claid"] = FAST
    with api(sandbox, "claid") as c:
        r = c.post("/image/edit/async", json={"input": upload(c, picture())["input"], "operations": {}})
        task = wait(c, r.json()["data"]["result_url"])
    assert task["status"] == "ERROR" and task["result"] == {}
    assert task["errors"][0]["input_object"] == {
        "ext": "png",
        "mps": 0.0192,
        "mime": "image/png",
        "format": "PNG",
        "width": 160,
        "height": 120,
    }


# -- the upload API: POST /image/edit/upload (multipart file + JSON data), synchronous ---------------------------
def edit_upload(c: httpx.Client, image: bytes, data: object, name: str = "photo", typed: bool = True) -> httpx.Response:
    """The documented request: ``file`` plus ``data`` (a JSON part; ``typed=False``: a plain form field)."""
    text = data if isinstance(data, str) else json.dumps(data)
    files: dict = {"file": (name, image, "application/octet-stream")}
    if typed:
        files["data"] = (None, text, "application/json")
        return c.post("/image/edit/upload", files=files)
    return c.post("/image/edit/upload", files=files, data={"data": text})


def stats_of(sb) -> dict:
    return httpx.get(sb.url + "/__sandbox__/stats").json()["providers"]["claid"]["tenants"][sb.tenant("claid").id]


@pytest.mark.parametrize("prefix", ["/claid/v1", "/claid/v1-beta1"])
def test_upload_api_answers_the_edited_image_at_once(sb, prefix):
    with httpx.Client(base_url=sb.url + prefix, headers={"Authorization": f"Bearer {sb.key('claid')}"}) as c:
        ops = {"operations": {"resizing": {"width": 80}}, "output": {"format": "png"}}
        answers = [edit_upload(c, picture(fmt="JPEG"), ops), edit_upload(c, picture(fmt="WEBP"), ops, typed=False)]
    for r in answers:
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Limit"].startswith("500, 6000;w=60, 500;w=1")
        data = r.json()["data"]
        assert set(data) == {"input", "output"}  # the sync edit's shape: no task id, no status
        assert {k: data["input"][k] for k in ("width", "height")} == {"width": 160, "height": 120}
        out = data["output"]
        assert (out["format"], out["mime"], out["width"], out["height"]) == ("PNG", "image/png", 80, 60)
        got = httpx.get(out["tmp_url"])  # signed, on the storage origin, no auth
        assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).size == (80, 60)
    assert [r.json()["data"]["input"]["format"] for r in answers] == ["JPEG", "WEBP"]
    tenant = stats_of(sb)
    assert tenant["requests"]["POST /image/edit/upload"] == {"200": 2}
    assert tenant["jobs"] == {"created": 2, "by_state": {"succeeded": 2}}  # one job (and credit) per edit


def test_upload_api_needs_the_key(sb):
    with httpx.Client(base_url=sb.base_url("claid")) as anon:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            anon.headers.clear()
            anon.headers.update(headers)
            r = edit_upload(anon, picture(), {"operations": {}})
            assert r.status_code == 401 and (r.json()["error_code"], r.json()["error_type"]) == ("111", "auth")


def test_upload_api_bad_data_is_refused_in_claid_envelope(sb):
    image = picture()
    with api(sb, "claid") as c:
        r = edit_upload(c, image, "{not json")
        assert r.status_code == 400
        body = r.json()
        assert (body["error_code"], body["error_type"]) == ("9000", "validation") and "data" in body["error_details"]
        assert "not valid JSON" in body["error_message"]
        r = edit_upload(c, image, {"input": "https://example.com/a.jpg", "operations": {}})  # no input here
        assert r.status_code == 422 and list(r.json()["error_details"]) == ["input"]
        r = edit_upload(c, image, {"operations": {"resize": {"width": 10}}})
        assert r.status_code == 422 and "operations.resize" in r.json()["error_details"]
        r = edit_upload(c, image, [1, 2])
        assert r.status_code == 422 and r.json()["error_details"] == {"data": ["must be a JSON object"]}
        r = c.post("/image/edit/upload", files={"file": ("a", image, "image/png")})
        assert r.status_code == 422 and r.json()["error_details"] == {"data": ["Field required"]}
        r = c.post("/image/edit/upload", data={"data": '{"operations": {}}'})
        assert r.status_code == 422 and r.json()["error_details"] == {"file": ["Field required"]}
    assert stats_of(sb)["jobs"]["created"] == 0  # nothing refused became a job (or cost a credit)


def test_upload_api_too_large_and_unsupported_formats(sb):
    ico = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(ico, "ICO")  # decodable, but not a documented input type
    with api(sb, "claid") as c:
        for data, found in ((b"%PDF-1.4 not an image", "not an image"), (ico.getvalue(), "ICO")):
            r = edit_upload(c, data, {"operations": {}})
            assert r.status_code == 400, r.text
            body = r.json()
            assert (body["error_code"], body["error_type"]) == ("4000", "input") and found in body["error_message"]
        big = picture() + b"\0" * (25 * 1024 * 1024)
        r = edit_upload(c, big, {"operations": {}})
        assert r.status_code == 413 and r.json()["error_code"] == "9000"
    assert stats_of(sb)["jobs"]["created"] == 0
