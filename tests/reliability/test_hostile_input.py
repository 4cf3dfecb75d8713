"""Hostile and broken input across providers (issue #8): every bad input is refused before anything is sent,
with an error naming the input and the reason, and the rest of the batch goes on.

One table drives the cases. Each case submits one good input next to the bad one against a fresh sandbox whose
ASGI app is wrapped by a recorder, then proves at the server that nothing of the bad input arrived: the
sandbox's stats show exactly one job (the good input's digest), and no recorded request (path, headers or body)
mentions the bad input's file name or marker.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import default as email_policy
from pathlib import Path
from typing import Any, Callable

import pytest
from PIL import Image

from tests.helpers import scene_image, stats
from toolkit.client.model import PreflightError, Status
from toolkit.client.providers.claid import InvalidRequest
from toolkit.workspace import Workspace

DATA = Path(__file__).resolve().parents[2] / "data"
FACE = DATA / "faces" / "images" / "emp_0001.jpg"  # a sample roster face the sandbox enrolls
VIDEO = DATA / "media" / "rocket_pan.mp4"
MB = 1024 * 1024
CLAID_OPS = {"restorations": {"polish": True}}
GOOD_AOI = "POLYGON ((14.50 35.88, 14.53 35.88, 14.53 35.90, 14.50 35.90, 14.50 35.88))"  # ~7.5 km², Malta
MARK = "7171"  # appears in every bad AOI's coordinates, never in a good request body


# -- a sandbox that records what reaches it -----------------------------------------------------------------
@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return f"{self.method} {self.path} {self.headers} ".lower() + self.body.decode("latin-1").lower()

    def parts(self) -> list[tuple[str | None, str | None, str]]:
        """(field name, file name, content type) of each part of a multipart body."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        msg = BytesParser(policy=email_policy).parsebytes(head + self.body)
        return [
            (p.get_param("name", header="content-disposition"), p.get_filename(), p.get_content_type())
            for p in msg.iter_parts()
        ]


class Recorder:
    """ASGI wrapper: keeps every HTTP request (method, path, headers, body) the sandbox receives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[Seen] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(Seen(scope["method"], scope["path"], headers, body))
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@pytest.fixture
def recorded(make_sandbox, monkeypatch):
    """A started sandbox and the recorder of everything it received."""
    import toolkit.sandbox.server as server

    holder: dict[str, Recorder] = {}
    original = server.create_app

    def create_app(config):
        app, ctx = original(config)
        holder["rec"] = Recorder(app)
        return holder["rec"], ctx

    monkeypatch.setattr(server, "create_app", create_app)
    sb = make_sandbox()
    return sb, holder["rec"]


def tenant(sb, provider: str) -> dict:
    return stats(sb)["providers"][provider]["tenants"][sb.tenant(provider).id]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- how each provider is given a good input and a bad one --------------------------------------------------
@dataclass
class Planned:
    batch: Any
    good_digest: str | None  # what the sandbox records as the good job's input digest


def padded_jpeg(mb: float) -> bytes:
    """A valid, decodable JPEG made over-size by bytes after its end marker."""
    return scene_image(3, size=(320, 240)) + bytes(int(mb * MB))


def write_roster(folder: Path, extra: list[tuple[str, str]]) -> Path:
    """roster.csv with one good row (good-1) and ``extra`` (external id, image) rows, images under img/."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    shutil.copy(FACE, folder / "img" / "good-1.jpg")
    rows = [("good-1", "img/good-1.jpg"), *extra]
    csv = folder / "roster.csv"
    csv.write_text("external_id,image\n" + "".join(f"{i},{p}\n" for i, p in rows))
    return csv


def submit_files(ws: Workspace, provider: str, tmp: Path, bad: Path) -> Planned:
    good = tmp / "good-1.jpg"
    good.write_bytes(scene_image(1, size=(320, 240)))
    if provider == "animaldetect":
        batch = ws.animaldetect.detect([good, bad])
    elif provider == "authenta":
        batch = ws.authenta.run("ai-image-detection", [good, bad])
    else:
        batch = ws.claid.edit([good, bad], CLAID_OPS)
    return Planned(batch, sha(good.read_bytes()))


def submit_faces(ws: Workspace, tmp: Path, extra: list[tuple[str, str]]) -> Planned:
    batch = ws.faces.enroll(write_roster(tmp / "staff", extra))
    one = hashlib.sha256(hashlib.sha256(FACE.read_bytes()).digest()).hexdigest()
    return Planned(batch, "sha256:" + one)


# -- the table -----------------------------------------------------------------------------------------------
# A file case: (file name, bytes or a maker) written under tmp/bad/, then submitted next to a good image.
FILE_PROVIDERS = ("animaldetect", "authenta", "claid")
IMAGE_SUFFIXES = {
    "animaldetect": ".jpeg/.jpg/.png/.webp",
    "authenta": ".jpeg/.jpg/.png",
    "claid": ".avif/.bmp/.gif/.jpeg/.jpg/.png/.tif/.tiff/.webp",
}
ACCEPTS = {
    "animaldetect": "; this operation accepts image/jpeg, image/png, image/webp",
    "authenta": " (a video); ai-image-detection (task 1) accepts images (image/jpeg, image/png)",
    "claid": "; this operation accepts image/avif, image/bmp, image/gif, image/jpeg, image/png, image/tiff, image/webp",
}


@dataclass
class FileCase:
    kind: str
    name: str
    make: Callable[[Path], None]  # writes the bad input at the given path
    reason: Callable[[str], str]  # provider -> the exact reason (or a prefix ending in "…")


HUGE_10, HUGE_25 = padded_jpeg(10.5), padded_jpeg(25.5)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _empty_dir(p: Path) -> None:
    p.mkdir()
    (p / "readme.txt").write_text("no pictures here")


FILE_CASES = [
    FileCase("empty file", "bad-empty.jpg", _write(b""), lambda _p: "the file is empty"),
    FileCase(
        "truncated JPEG",
        "bad-cut.jpg",
        _write(scene_image(5, size=(320, 240))[:3000]),
        lambda _p: "the image cannot be decoded (OSError: image file is truncated…",
    ),
    FileCase(
        "text named .jpg",
        "bad-text.jpg",
        _write(b"these are field notes, not a picture\n" * 4),
        lambda _p: "the content is not a recognised media file (magic bytes)",
    ),
    FileCase(
        "video for an image task",
        "bad-clip.mp4",
        lambda p: shutil.copy(VIDEO, p),
        lambda p: "the content is video/mp4" + ACCEPTS[p],
    ),
    FileCase("path that does not exist", "bad-missing.jpg", lambda p: None, lambda _p: "no such file or folder"),
    FileCase(
        "directory with no images",
        "bad-folder",
        _empty_dir,
        lambda p: f"no images ({IMAGE_SUFFIXES[p]}) in folder (1 file skipped: readme.txt)",
    ),
    FileCase(
        "over-size image (animaldetect 10 MB)",
        "bad-huge.jpg",
        _write(HUGE_10),
        lambda _p: f"the file is {len(HUGE_10) / 1e6:.1f} MB; animaldetect accepts at most 10 MB",
    ),
    FileCase(
        "over-size image (claid 25 MB)",
        "bad-huge.jpg",
        _write(HUGE_25),
        lambda _p: f"the file is {len(HUGE_25) / 1e6:.1f} MB; claid accepts at most 26 MB",
    ),  # 25 MiB
]
# Authenta documents no size cap, so an over-size case applies to Animal Detect, Claid and the face service only.
SIZE_CAP = {"over-size image (animaldetect 10 MB)": "animaldetect", "over-size image (claid 25 MB)": "claid"}
FILE_PARAMS = [
    pytest.param(p, c, id=f"{p}-{c.kind}") for c in FILE_CASES for p in FILE_PROVIDERS if SIZE_CAP.get(c.kind, p) == p
]


def check_rejected(batch: Any, provider: str, name: str, reason: str) -> PreflightError:
    (err,) = batch.rejected
    assert isinstance(err, PreflightError) and err.provider == provider
    assert err.input == name, err.input
    if reason.endswith("…"):
        assert err.message.startswith(reason[:-1]), err.message
    else:
        assert err.message == reason, err.message
    assert str(err) == f"{name}: {err.message} (not sent to {provider})"
    return err


def check_only_good_reached(sb: Any, rec: Recorder, planned: Planned, provider: str, *tokens: str) -> None:
    batch = planned.batch.wait(timeout=60)
    assert [j.status for j in batch.jobs] == [Status.SUCCEEDED], batch.to_frame().to_dict("records")
    t = tenant(sb, provider)
    assert t["jobs"]["created"] == 1
    if planned.good_digest:
        assert t["jobs_per_input_digest"] == {planned.good_digest: 1}
    assert any("good-1" in s.text() for s in rec.seen), (
        "the good input's name never reached the sandbox: the checks below would prove nothing"
    )
    for token in tokens:
        # a name is a token not glued to hex digits before it (a job id such as "d5939bad-..." is no file name)
        pattern = re.compile(r"(?<![0-9a-f])" + re.escape(token.lower()))
        hits = [f"{s.method} {s.path}" for s in rec.seen if pattern.search(s.text())]
        assert not hits, f"{token!r} reached the sandbox in {hits}"


@pytest.mark.parametrize("provider, case", FILE_PARAMS)
def test_bad_file_is_refused_by_name_and_the_batch_goes_on(recorded, tmp_path, provider, case):
    sb, rec = recorded
    bad = tmp_path / "bad" / case.name
    bad.parent.mkdir()
    case.make(bad)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    planned = submit_files(ws, provider, tmp_path, bad)
    check_rejected(planned.batch, provider, str(bad), case.reason(provider))
    check_only_good_reached(sb, rec, planned, provider, "bad-", "field notes")


# The face service: the same broken files as roster rows, and the roster's own failure modes.
def _face_jpeg(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.open(FACE).resize(size).save(buf, "JPEG")
    return buf.getvalue()


FACE_ROWS = {  # kind -> (files to write under img/, extra rows, (row label, reason))
    "empty file": (
        {"bad-empty.jpg": b""},
        [("bad-a", "img/bad-empty.jpg")],
        ("roster.csv row 3 (bad-a)", "the image file img/bad-empty.jpg is empty"),
    ),
    "truncated JPEG": (
        {"bad-cut.jpg": FACE.read_bytes()[:1500]},
        [("bad-a", "img/bad-cut.jpg")],
        (
            "roster.csv row 3 (bad-a)",
            "the image img/bad-cut.jpg cannot be decoded: it is truncated (no JPEG end-of-image marker)",
        ),
    ),
    "text named .jpg": (
        {"bad-text.jpg": b"these are field notes, not a picture\n"},
        [("bad-a", "img/bad-text.jpg")],
        (
            "roster.csv row 3 (bad-a)",
            "the file img/bad-text.jpg is not an image (by its content); only JPEG or PNG images are accepted",
        ),
    ),
    "over-size image": (
        {"bad-huge.jpg": HUGE_10},
        [("bad-a", "img/bad-huge.jpg")],
        (
            "roster.csv row 3 (bad-a)",
            f"the image file img/bad-huge.jpg is {len(HUGE_10) / 1e6:.1f} MB; at most 10 MB is accepted",
        ),
    ),
    "image below the face minimum": (
        {"bad-tiny.jpg": _face_jpeg((80, 96))},
        [("bad-a", "img/bad-tiny.jpg")],
        ("roster.csv row 3 (bad-a)", "the image img/bad-tiny.jpg is 80x96 px; at least 100x100 px is needed"),
    ),
    "video for an image task": (
        {"bad-clip.mp4": VIDEO.read_bytes()},
        [("bad-a", "img/bad-clip.mp4")],
        ("roster.csv row 3 (bad-a)", "the file img/bad-clip.mp4 is video/mp4; only JPEG or PNG images are accepted"),
    ),
    "path that does not exist": (
        {},
        [("bad-a", "img/bad-missing.jpg")],
        ("roster.csv row 3 (bad-a)", "the image file img/bad-missing.jpg does not exist"),
    ),
    "missing id": (
        {"bad-noid.jpg": _face_jpeg((160, 160))},
        [("", "img/bad-noid.jpg")],
        ("roster.csv row 3", "the external id is missing"),
    ),
}


@pytest.mark.parametrize("kind", list(FACE_ROWS))
def test_bad_roster_row_is_refused_by_row_and_the_rest_enrolls(recorded, tmp_path, kind):
    sb, rec = recorded
    files, extra, (label, reason) = FACE_ROWS[kind]
    (tmp_path / "staff" / "img").mkdir(parents=True)
    for name, data in files.items():
        (tmp_path / "staff" / "img" / name).write_bytes(data)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    planned = submit_faces(ws, tmp_path, extra)
    check_rejected(planned.batch, "faces", label, reason)
    check_only_good_reached(sb, rec, planned, "faces", "bad-")
    assert planned.batch.jobs[0].input == "roster.csv row 2"  # the one good row; the bad one was refused


def test_duplicated_ids_refuse_both_rows_and_the_rest_enrolls(recorded, tmp_path):
    sb, rec = recorded
    (tmp_path / "staff" / "img").mkdir(parents=True)
    for i in (1, 2):
        (tmp_path / "staff" / "img" / f"twin-{i}.jpg").write_bytes(_face_jpeg((150 + i, 150)))
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    planned = submit_faces(ws, tmp_path, [("bad-dup", "img/twin-1.jpg"), ("bad-dup", "img/twin-2.jpg")])
    reason = "the external id 'bad-dup' is duplicated (rows 3, 4); ids must be unique"
    assert [(e.input, e.message) for e in planned.batch.rejected] == [
        ("roster.csv row 3 (bad-dup)", reason),
        ("roster.csv row 4 (bad-dup)", reason),
    ]
    check_only_good_reached(sb, rec, planned, "faces", "bad-", "twin-")


def test_roster_that_cannot_be_read_whole_raises_and_sends_nothing(recorded, tmp_path):
    sb, rec = recorded
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    (tmp_path / "no-faces").mkdir()
    (tmp_path / "no-faces" / "readme.txt").write_text("nothing")
    cases = {
        tmp_path / "missing.csv": "the roster file or folder does not exist",
        tmp_path / "no-faces": "the folder holds no image files",
    }
    for roster, reason in cases.items():
        with pytest.raises(PreflightError) as e:
            ws.faces.enroll(roster)
        assert (e.value.input, e.value.message) == (str(roster), reason)
    assert ws.faces.transport.requests == 0 and not rec.seen and "faces" not in stats(sb)["providers"]


def test_more_than_100_faces_are_split_into_jobs_of_at_most_100(recorded, tmp_path):
    sb, rec = recorded
    images = sorted((DATA / "faces" / "images").glob("*.jpg"))[:40]
    extra = [(f"p-{i:03d}", str(images[i % len(images)])) for i in range(1, 150)]
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = submit_faces(ws, tmp_path, extra).batch.wait(timeout=60)
    assert not batch.rejected and [j.input for j in batch.jobs] == ["roster.csv rows 2-101", "roster.csv rows 102-151"]
    assert [j.status for j in batch.jobs] == [Status.SUCCEEDED] * 2
    assert tenant(sb, "faces")["jobs"]["created"] == 2
    posts = [s for s in rec.seen if s.method == "POST" and s.path.endswith("/faces/batch-async")]
    per_job = [sum(1 for name, _f, _t in s.parts() if name == "images") for s in posts]
    assert sorted(per_job) == [50, 100]  # sent concurrently
    assert sorted(r["external_id"] for r in batch.results().to_dict("records")) == sorted(
        ["good-1", *(i for i, _ in extra)]
    )


# SateAIs: AOIs and date ranges. Each case: (operation, bad AOI, dates, expected input label, reason).
BOWTIE = "POLYGON ((14.57171 35.8, 14.6 35.83, 14.6 35.8, 14.57171 35.83, 14.57171 35.8))"
OPEN = {"type": "Polygon", "coordinates": [[[14.57171, 35.8], [14.6, 35.8], [14.6, 35.83], [14.57171, 35.83]]]}
RANGE = {"date_start": "2024-01-01", "date_end": "2024-03-01"}
SATEAIS = {
    "self-intersecting AOI": (
        "newbuilding",
        BOWTIE,
        RANGE,
        "bad",
        "the polygon is self-intersecting (Self-intersection[14.585855 35.815]); fix the vertex "
        "order or use shapely.make_valid",
    ),
    # (lat, lon) is only recognisable where the longitude exceeds 90 (here Tokyo Bay); at Malta both orders are valid
    "lat/lon swapped": (
        "ship",
        (35.57171, 139.7, 35.6, 139.75),
        {"date": "2026-06-15"},
        "bad",
        "the bbox (35.57171, 139.7, 35.6, 139.75) looks like lat/lon swapped: latitude 139.7 is beyond ±90; a bbox is "
        "(min_lon, min_lat, max_lon, max_lat) in degrees (EPSG:4326); did you mean (139.7, 35.57171, 139.75, 35.6)?",
    ),
    "open ring (GeoJSON)": (
        "ship",
        OPEN,
        {"date": "2026-06-15"},
        "bad",
        "open ring: the first point [14.57171, 35.8] and the last point [14.57171, 35.83] differ "
        "(GeoJSON rings must be closed)",
    ),
    "open ring (WKT)": (
        "ship",
        "POLYGON ((14.57171 35.8, 14.6 35.8, 14.6 35.83))",
        {"date": "2026-06-15"},
        "bad",
        "open ring: the first and last points of a polygon ring differ (WKT rings must be closed)",
    ),
    "AOI over the area cap": ("timeseries", (14.07171, 35.8, 14.2, 35.9), RANGE, "bad", "the area is …"),
}


@pytest.mark.parametrize("kind", list(SATEAIS))
def test_bad_aoi_is_refused_by_name_and_the_good_aoi_goes_on(recorded, tmp_path, kind):
    sb, rec = recorded
    operation, aoi, dates, label, reason = SATEAIS[kind]
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = getattr(ws.sateais, operation)({"good": GOOD_AOI, "bad": aoi}, **dates)
    err = check_rejected(batch, "sateais", label, reason)
    if kind == "AOI over the area cap":
        assert "over the 50 km² limit for timeseries" in err.message
    _sateais_only_good(sb, rec, batch)


def test_date_range_over_the_cap_is_refused_and_the_good_range_goes_on(recorded, tmp_path):
    sb, rec = recorded
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = ws.sateais.timeseries({"good": GOOD_AOI}, ["2024-01-01", "2020-01-01"], ["2024-03-01", "2023-01-02"])
    check_rejected(
        batch, "sateais", "2020-01-01..2023-01-02", "the range is 1097 days, over the 3-year limit for timeseries"
    )
    _sateais_only_good(sb, rec, batch, "2023-01-02")


def test_aoi_file_that_does_not_exist_is_refused_by_path(recorded, tmp_path):
    sb, rec = recorded
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    missing = tmp_path / "bad-harbour.geojson"
    batch = ws.sateais.ship([GOOD_AOI, missing], "2026-06-15")
    check_rejected(batch, "sateais", str(missing), "the AOI file does not exist")
    _sateais_only_good(sb, rec, batch, "bad-harbour")


def _sateais_only_good(sb: Any, rec: Recorder, batch: Any, token: str = MARK) -> None:
    batch.wait(timeout=60)
    assert [j.status for j in batch.jobs] == [Status.SUCCEEDED]
    assert tenant(sb, "sateais")["jobs"]["created"] == 1
    bodies = [s.body.decode() for s in rec.seen if s.method == "POST"]
    assert len(bodies) == 1 and "14.5 35.88" in bodies[0]  # the good AOI went out, as WKT
    assert token not in bodies[0]


def test_unknown_claid_operations_raise_naming_the_key_and_send_nothing(recorded, tmp_path):
    sb, rec = recorded
    (tmp_path / "a.jpg").write_bytes(scene_image(1, size=(160, 120)))
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    cases = {
        "operations.resize": (
            {"resize": {"width": 10}},
            "unknown operation 'resize' in operations; did you mean "
            "'resizing'? (valid: adjustments, background, generative, padding, privacy, "
            "resizing, restorations)",
        ),
        "operations.restorations.sharpen": (
            {"restorations": {"sharpen": True}},
            "unknown key 'sharpen' in operations.restorations (valid: decompress, polish, upscale)",
        ),
    }
    for where, (ops, reason) in cases.items():
        with pytest.raises(InvalidRequest) as e:
            ws.claid.edit(tmp_path / "a.jpg", ops)
        assert (e.value.input, e.value.message) == (where, reason)
        assert str(e.value) == f"{where}: {reason} (not sent to claid)"
    assert ws.claid.transport.requests == 0 and not rec.seen and "claid" not in stats(sb)["providers"]


def test_only_bad_inputs_send_not_one_request(recorded, tmp_path):
    sb, rec = recorded
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "notes.jpg").write_text("text")
    (bad / "clip.mp4").write_bytes(VIDEO.read_bytes())
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    calls = [
        lambda: ws.animaldetect.detect([bad / "empty.jpg", bad / "notes.jpg", bad / "clip.mp4"]),
        lambda: ws.authenta.run("ai-image-detection", sorted(bad.iterdir())),
        lambda: ws.claid.edit(sorted(bad.iterdir()), CLAID_OPS),
        lambda: ws.sateais.ship({"x": BOWTIE, "y": OPEN}, "2026-06-15"),
    ]
    refused = []
    for call in calls:  # every input refused: the call raises, nothing is recorded
        with pytest.raises(PreflightError) as raised:
            call()
        refused.append(len(raised.value.rejected))
    assert refused == [3, 3, 3, 2] and ws.jobs().empty
    for provider in ("animaldetect", "authenta", "claid", "sateais"):
        assert ws.client(provider).transport.requests == 0
    assert not rec.seen and stats(sb)["providers"] == {}


# A valid image whose extension lies is not an error: it is sent as what its bytes say.
@pytest.mark.parametrize("provider", ["animaldetect", "authenta", "claid", "faces"])
def test_png_named_jpg_is_sent_as_png(recorded, tmp_path, provider):
    sb, rec = recorded
    buf = io.BytesIO()
    Image.open(FACE).save(buf, "PNG")
    liar = tmp_path / "staff" / "img" / "really-a-png.jpg"
    liar.parent.mkdir(parents=True)
    liar.write_bytes(buf.getvalue())
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    if provider == "faces":
        csv = tmp_path / "staff" / "roster.csv"
        csv.write_text(f"external_id,image\nliar,{liar}\n")
        batch = ws.faces.enroll(csv)
    else:
        batch = {
            "animaldetect": lambda: ws.animaldetect.detect(liar),
            "authenta": lambda: ws.authenta.run("ai-image-detection", liar),
            "claid": lambda: ws.claid.edit(liar, CLAID_OPS),
        }[provider]()
    assert not batch.rejected
    assert [j.status for j in batch.wait(timeout=60).jobs] == [Status.SUCCEEDED]
    declared: list[str] = []
    for s in rec.seen:
        if s.headers.get("content-type", "").startswith("multipart/"):
            declared += [ctype for _n, fname, ctype in s.parts() if fname == liar.name]
        elif s.method == "PUT":
            declared.append(s.headers["content-type"])  # the signed upload
        elif s.method == "POST" and b"really-a-png" in s.body:
            declared += re.findall(r'"content_?type"\s*:\s*"([^"]+)"', s.body.decode(), flags=re.I)
    expected = {"animaldetect": 2, "authenta": 2, "claid": 1, "faces": 1}[provider]  # create + PUT, or multipart
    assert declared == ["image/png"] * expected, declared
