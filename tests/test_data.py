"""The sample data in data/ is what the notebooks need: sizes, counts, metadata, bad rows, engine behaviour,
documentation, and byte-identical regeneration by data/generate.py."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import wave
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from toolkit.media import sniff

DATA = Path(__file__).resolve().parent.parent / "data"
README = (DATA / "README.md").read_text()


def files(sub: str, pattern: str = "*") -> list[Path]:
    return sorted(p for p in (DATA / sub).glob(pattern) if p.is_file())


def data_files() -> list[Path]:
    return sorted(p for p in DATA.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_total_size_and_counts() -> None:
    total = sum(p.stat().st_size for p in data_files())
    assert total < 6_000_000, f"data/ is {total / 1e6:.2f} MB"
    assert len(files("camera_traps", "*.jpg")) == 36
    assert [p.name for p in files("aoi")] == ["coastline.geojson", "harbour.geojson", "town.geojson"]
    assert len(files("products")) >= 8
    assert len(files("faces/images")) == 129
    assert max(p.stat().st_size for p in files("camera_traps", "*.jpg")) < 100_000


# -- camera traps ----------------------------------------------------------------------------------------
NAME = re.compile(r"^(CAM\d\d)_(\d{8}_\d{6})\.jpg$")


def test_camera_traps_exif_matches_file_names() -> None:
    serials: dict[str, set[str]] = {}
    times = []
    for path in files("camera_traps", "*.jpg"):
        m = NAME.match(path.name)
        assert m, path.name
        with Image.open(path) as im:
            assert im.format == "JPEG" and im.size == (640, 480)
            exif = im.getexif()
            sub = exif.get_ifd(0x8769)
            gps = exif.get_ifd(0x8825)
        assert exif[0x010F] and exif[0x0110], f"{path.name}: Make/Model missing"
        taken = datetime.strptime(sub[0x9003], "%Y:%m:%d %H:%M:%S")
        assert taken == datetime.strptime(m.group(2), "%Y%m%d_%H%M%S"), path.name
        assert sub[0x9011] == "+02:00" and sub[0xA430] == m.group(1)
        assert gps[1] == "N" and gps[3] == "E" and len(gps[2]) == 3
        serials.setdefault(m.group(1), set()).add(sub[0xA431])
        times.append(taken)
    assert sorted(serials) == ["CAM01", "CAM02", "CAM03"]
    assert all(len(s) == 1 for s in serials.values()) and len(set().union(*serials.values())) == 3
    assert (max(times) - min(times)).days >= 3
    nights = sum(t.hour >= 21 or t.hour < 5 for t in times)
    assert 8 <= nights <= 28, nights  # both night and day frames
    assert Counter(NAME.match(p.name).group(1) for p in files("camera_traps", "*.jpg")) == {
        "CAM01": 12,
        "CAM02": 12,
        "CAM03": 12,
    }


def test_camera_traps_give_labels_and_empties_in_the_sandbox_detector() -> None:
    from toolkit.sandbox.engines.detect import detect_result

    truth = {r["file"]: r for r in csv.DictReader((DATA / "camera_traps" / "labels.csv").open())}
    assert set(truth) == {p.name for p in files("camera_traps", "*.jpg")}
    labels: Counter[str] = Counter()
    empty = 0
    for path in files("camera_traps", "*.jpg"):
        anns = detect_result(path.read_bytes(), {"threshold": 0.2})["annotations"]
        assert len(anns) == int(truth[path.name]["count"]), (path.name, truth[path.name]["drawn"], anns)
        empty += not anns
        labels.update(a["label"] for a in anns)
        if truth[path.name]["night"] == "False":  # by day, the labels match what was drawn
            drawn = (
                Counter({k: int(v) for k, v in (x.split(":") for x in truth[path.name]["drawn"].split(";"))})
                if anns
                else Counter()
            )
            assert Counter(a["label"] for a in anns) == drawn, path.name
    assert 6 <= empty <= 12
    assert {"red fox", "roe deer", "wild boar", "bird", "human", "vehicle", "mammal"} <= set(labels)


# -- areas of interest -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["harbour", "coastline", "town"])
def test_aoi_is_a_valid_closed_polygon_within_the_caps(name: str) -> None:
    import shapely
    from shapely.geometry import shape

    from toolkit.sandbox.providers.sateais import parse_polygon

    fc = json.loads((DATA / "aoi" / f"{name}.geojson").read_text())
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 1
    feature = fc["features"][0]
    assert feature["properties"]["name"]
    ring = feature["geometry"]["coordinates"][0]
    assert feature["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) >= 4
    geom = shape(feature["geometry"])
    assert geom.is_valid and geom.exterior.is_ccw
    assert all(14.0 < x < 15.0 and 35.7 < y < 36.1 for x, y in ring), "lon-lat order, Malta"
    for kind in ("timeseries", "newbuilding"):  # the sandbox's own validation: both caps hold
        _, area = parse_polygon(shapely.to_wkt(geom), kind)
        assert 1.0 < area <= 50.0


def test_aois_show_ships_slicks_and_buildings_in_the_sar_engine() -> None:
    from datetime import date

    import shapely
    from shapely.geometry import shape

    from toolkit.sandbox.engines import sar
    from toolkit.sandbox.providers.sateais import parse_polygon

    def wkt(name: str) -> str:
        geom = shape(json.loads((DATA / "aoi" / f"{name}.geojson").read_text())["features"][0]["geometry"])
        return parse_polygon(shapely.to_wkt(geom), "ship")[0]

    scene = [sar.find_scene(date(2026, 6, 15)).as_dict()]
    assert len(sar.analyze("ship", wkt("harbour"), scene)["features"]) >= 3
    assert len(sar.analyze("oilslick", wkt("coastline"), scene)["features"]) >= 1
    scenes = [s.as_dict() for s in sar.scenes_between(date(2020, 6, 1), date(2026, 6, 1))]
    assert len(sar.analyze("newbuilding", wkt("town"), scenes)["features"]) >= 3


# -- media -----------------------------------------------------------------------------------------------
MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".webp": "image/webp",
}


def test_media_types_by_magic_bytes() -> None:
    media = files("media")
    for path in media + files("products"):
        assert sniff(path.read_bytes()) == MEDIA_TYPES[path.suffix], path.name
    kinds = Counter(sniff(p.read_bytes()) for p in media)
    assert kinds["video/mp4"] >= 1 and kinds["video/webm"] >= 1 and kinds["audio/wav"] >= 1
    assert kinds["image/jpeg"] >= 3 and kinds["image/png"] >= 1
    assert (DATA / "media" / "face_reference.jpg").is_file()
    for path in files("media", "*.wav"):
        with wave.open(str(path)) as w:
            assert 1.0 <= w.getnframes() / w.getframerate() <= 10.0


def test_edited_media_score_differently_from_originals() -> None:
    from toolkit.sandbox.engines import authenticity as A

    def fake(name: str) -> float:
        data = (DATA / "media" / name).read_bytes()
        return max(A.ai_image(data)["fakeConfidencePercent"], A.image_forgery(data)["fakeConfidencePercent"])

    for original in ("astronaut.jpg", "rocket.jpg", "chelsea.png", "portrait.jpg"):
        assert fake(original) < 50, original
    for edited in (
        "astronaut_cloned.jpg",
        "rocket_spliced.jpg",
        "chelsea_retouched.png",
        "rocket_recompressed.jpg",
        "astronaut_clean_render.png",
    ):
        assert fake(edited) > 90, edited
    clean = (DATA / "media" / "astronaut_clean_render.png").read_bytes()
    assert A.image_forgery(clean)["isFake"] is False and A.ai_image(clean)["isFake"] is True
    audio = {
        n: A.ai_audio((DATA / "media" / n).read_bytes(), "audio/wav")["isFake"]
        for n in ("voice_note.wav", "chime_synthetic.wav")
    }
    assert audio == {"voice_note.wav": False, "chime_synthetic.wav": True}
    ref = A.embedding((DATA / "media" / "face_reference.jpg").read_bytes())
    sims = {
        p.name: A.similarity(A.embedding(p.read_bytes()), ref)
        for p in files("media")
        if p.suffix in (".jpg", ".png") and p.name != "face_reference.jpg"
    }
    assert [n for n, s in sims.items() if s >= 70] == ["portrait.jpg"], sims


# -- products --------------------------------------------------------------------------------------------
def test_products_differ_in_size_and_format_incl_alpha_and_webp() -> None:
    sizes, formats, alpha = set(), Counter(), []
    for path in files("products"):
        with Image.open(path) as im:
            sizes.add(im.size)
            formats[im.format] += 1
            if im.mode == "RGBA" and im.getchannel("A").getextrema()[0] < 255:
                alpha.append(path.name)
    assert len(sizes) >= 6 and formats["WEBP"] >= 1 and formats["PNG"] >= 1 and formats["JPEG"] >= 3
    assert alpha == ["ball.png"]


# -- faces -----------------------------------------------------------------------------------------------
def test_roster_spans_two_jobs_with_the_documented_bad_rows() -> None:
    from toolkit.sandbox.engines.faces import ItemError, enroll_item

    with (DATA / "faces" / "roster.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["external_id", "image", "name"]
        rows = list(reader)
    assert 100 < len(rows) <= 200
    ids = Counter(r["external_id"] for r in rows)
    assert [i for i, n in ids.items() if n > 1] == ["EMP-0004"] and ids["EMP-0004"] == 2
    outcome: dict[str, str] = {}
    for k, r in enumerate(rows):
        path = DATA / "faces" / r["image"]
        if not path.exists():
            outcome[r["external_id"]] = "missing"
            continue
        data = path.read_bytes()
        if sniff(data) is None:
            outcome[r["external_id"]] = "not an image"
            continue
        if k % 5 and r["external_id"] not in ("EMP-0128", "EMP-0130"):
            continue  # the cascade on every fifth good row is enough (speed); the bad ones always
        try:
            enroll_item("test-data", data)
            outcome[r["external_id"]] = "ok"
        except ItemError as e:
            outcome[r["external_id"]] = e.code
    bad = {i: o for i, o in outcome.items() if o != "ok"}
    assert bad == {
        "EMP-0127": "missing",
        "EMP-0128": "FACE_QUALITY_TOO_LOW",
        "EMP-0129": "not an image",
        "EMP-0130": "FACE_NOT_DETECTED",
    }
    assert sum(o == "ok" for o in outcome.values()) >= 25
    with Image.open(DATA / "faces" / "images" / "emp_0001.jpg") as im:
        assert im.format == "JPEG" and im.size == (128, 128)
    bad_positions = [
        k for k, r in enumerate(rows) if r["external_id"] in ("EMP-0127", "EMP-0128", "EMP-0129", "EMP-0130")
    ]
    assert any(k < 100 for k in bad_positions) and any(k >= 100 for k in bad_positions)


def test_the_two_rows_sharing_an_id_are_two_different_people() -> None:
    """EMP-0004's second row shows the cameraman (scikit-image's camera()), not another crop of the astronaut."""
    import numpy as np
    from skimage import data

    def gray(img: Image.Image) -> np.ndarray:
        a = np.asarray(img.convert("L").resize((64, 64), Image.Resampling.BILINEAR), dtype=float)
        return (a - a.mean()) / (a.std() + 1e-9)

    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        return float((a * b).mean())  # normalised cross-correlation: 1 = the same picture

    with (DATA / "faces" / "roster.csv").open(newline="") as f:
        shared = [r["image"] for r in csv.DictReader(f) if r["external_id"] == "EMP-0004"]
    first, second = (gray(Image.open(DATA / "faces" / image)) for image in shared)
    side, cx, cy = 196, 221, 135  # data/samplegen/faces.py OTHER_PERSON
    cameraman = gray(
        Image.fromarray(data.camera()).crop((cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2))
    )
    assert similarity(second, cameraman) > 0.95
    assert similarity(first, cameraman) < 0.5 and similarity(first, second) < 0.5


# -- documentation and regeneration ----------------------------------------------------------------------
def test_readme_mentions_every_file_and_folder() -> None:
    good_face = re.compile(r"^faces/images/emp_(\d{4})\.jpg$")  # EMP-0001..0125: documented as a pattern
    missing = []
    for path in data_files():
        rel = path.relative_to(DATA).as_posix()
        m = good_face.match(rel)
        if rel == "README.md" or (m and int(m.group(1)) <= 125):
            continue
        if path.name not in README:
            missing.append(rel)
    folders = {
        p.relative_to(DATA).as_posix() + "/" for p in DATA.rglob("*") if p.is_dir() and "__pycache__" not in p.parts
    }
    missing += [f for f in folders if f.split("/")[-2] + "/" not in README]
    assert not missing, f"not in data/README.md: {missing}"
    assert "images/emp_NNNN.jpg" in README and "generate.py" in README
    for word in ("licence", "CC0", "public domain", "provenance"):
        assert word.lower() in README.lower()


def test_generate_rewrites_identical_bytes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("data_generate", DATA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    written = module.generate(tmp_path, quick=True)
    assert len(written) >= 35
    parts = {p.relative_to(tmp_path).parts[0] for p in written}
    assert parts == {"camera_traps", "aoi", "media", "products", "faces"}
    differ = [
        p.relative_to(tmp_path).as_posix()
        for p in written
        if p.read_bytes() != (DATA / p.relative_to(tmp_path)).read_bytes()
    ]
    assert not differ, f"regenerated files differ from the committed ones: {differ}"


def test_video_decodes_as_what_its_magic_says() -> None:
    mp4 = (DATA / "media" / "rocket_pan.mp4").read_bytes()
    webm = (DATA / "media" / "portrait_clip.webm").read_bytes()
    assert mp4[4:8] == b"ftyp" and b"avc1" in mp4[:4096] + mp4[-8192:]
    assert webm[:4] == b"\x1aE\xdf\xa3" and b"webm" in webm[:64]
    assert 5_000 < len(mp4) < 500_000 and 5_000 < len(webm) < 500_000
