"""Synthetic camera-trap frames: 3 cameras x 12 triggers over 5 days, day colour and night infrared.

Each camera has a fixed backdrop (smooth ground and tree-line colour fields plus fine grass texture, kept low
in mid-scale contrast so the sandbox detector finds nothing in an empty frame); each trigger adds the drawn
subjects of its event, light for its hour, and fresh sensor noise. EXIF carries what a real trap writes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from PIL.TiffImagePlugin import IFDRational

from .common import encode, rng_for, smooth_noise, to_image, write
from .creatures import render

W, H = 640, 480
MAKE, MODEL = "Wildlens", "TrailEye 2 IR"
UTC_OFFSET = "+02:00"  # the traps' clocks run on local summer time (CEST)


@dataclass(frozen=True)
class Camera:
    name: str
    serial: str
    site: str
    lat: float
    lon: float
    ground: tuple[int, int, int]
    trees: tuple[int, int, int]
    horizon: float  # fraction of the height where the ground meets the tree line


CAMERAS = [
    Camera("CAM01", "TE2-21A7F3", "forest clearing", 48.87412, 13.50563, (96, 112, 58), (42, 62, 38), 0.34),
    Camera("CAM02", "TE2-21B044", "forest track", 48.87105, 13.51290, (104, 104, 66), (36, 54, 34), 0.30),
    Camera("CAM03", "TE2-21C9D2", "meadow edge", 48.86838, 13.49871, (100, 130, 62), (58, 78, 50), 0.26),
]

# (camera, local time, subjects: (species, x fraction, ground-line y fraction, size px, facing left)); a
# species suffixed "~" stands behind tall grass stalks (a broken outline: a lower detection score)
Subject = tuple[str, float, float, float, bool]
EVENTS: list[tuple[str, str, list[Subject]]] = [
    ("CAM01", "20260612 224107", [("fox", 0.42, 0.80, 150, False)]),
    ("CAM01", "20260612 224108", [("fox", 0.53, 0.79, 150, False)]),
    ("CAM01", "20260613 045233", [("deer", 0.28, 0.70, 118, False), ("deer", 0.70, 0.76, 132, True)]),
    ("CAM01", "20260613 112015", []),
    ("CAM01", "20260613 235802", [("boar", 0.24, 0.86, 160, False), ("boar", 0.76, 0.70, 116, True)]),
    ("CAM01", "20260614 031522", [("fox", 0.60, 0.88, 180, True)]),
    ("CAM01", "20260614 130247", [("bird", 0.50, 0.82, 62, False)]),
    ("CAM01", "20260614 164410", []),
    ("CAM01", "20260615 053155", [("deer", 0.50, 0.74, 140, True)]),
    ("CAM01", "20260615 214730", [("fox", 0.30, 0.72, 104, False), ("fox~", 0.66, 0.80, 116, True)]),
    ("CAM01", "20260616 020941", []),
    ("CAM01", "20260616 091226", [("bird", 0.30, 0.86, 56, False), ("bird", 0.72, 0.80, 50, True)]),
    ("CAM02", "20260612 080512", [("hiker", 0.48, 0.90, 300, False)]),
    ("CAM02", "20260612 080513", [("hiker", 0.55, 0.88, 290, False)]),
    ("CAM02", "20260612 143750", [("van", 0.50, 0.72, 230, False)]),
    ("CAM02", "20260612 192004", [("deer~", 0.40, 0.76, 150, False)]),
    ("CAM02", "20260613 013318", [("boar", 0.16, 0.84, 116, False), ("boar~", 0.50, 0.74, 104, False),
                                  ("boar", 0.84, 0.86, 120, True)]),
    ("CAM02", "20260613 101010", []),
    ("CAM02", "20260614 064829", [("fox", 0.55, 0.80, 150, True)]),
    ("CAM02", "20260614 122605", [("hiker", 0.30, 0.90, 300, False), ("hiker", 0.70, 0.84, 270, True)]),
    ("CAM02", "20260614 221456", []),
    ("CAM02", "20260615 155540", []),
    ("CAM02", "20260615 230331", [("fox", 0.50, 0.82, 160, False)]),
    ("CAM02", "20260616 074019", [("deer", 0.28, 0.74, 128, False), ("deer", 0.72, 0.80, 150, True)]),
    ("CAM03", "20260612 061244", [("deer~", 0.18, 0.62, 100, False), ("deer", 0.50, 0.68, 118, True),
                                  ("deer", 0.82, 0.74, 132, True)]),
    ("CAM03", "20260612 120039", [("bird", 0.45, 0.86, 60, True)]),
    ("CAM03", "20260612 213620", [("fox", 0.50, 0.82, 170, False)]),
    ("CAM03", "20260613 032751", [("boar", 0.42, 0.84, 196, False)]),
    ("CAM03", "20260613 032752", [("boar", 0.50, 0.84, 196, False)]),
    ("CAM03", "20260613 174503", []),
    ("CAM03", "20260614 093018", [("bird", 0.34, 0.84, 58, False), ("bird", 0.68, 0.78, 52, False)]),
    ("CAM03", "20260614 195812", [("deer", 0.60, 0.72, 140, True)]),
    ("CAM03", "20260615 004109", []),
    ("CAM03", "20260615 131313", []),
    ("CAM03", "20260616 060547", [("fox", 0.62, 0.80, 150, True)]),
    ("CAM03", "20260616 182236", [("hiker", 0.60, 0.90, 320, True)]),
]
#: species drawn -> the label the notebook should expect (the scientific common name)
SPECIES_NAMES = {"fox": "red fox", "deer": "roe deer", "boar": "wild boar", "bird": "bird", "hiker": "human",
                 "van": "vehicle"}


def is_night(t: datetime) -> bool:
    return t.hour >= 21 or t.hour < 5


@lru_cache(maxsize=None)
def backdrop(cam: Camera) -> np.ndarray:
    """The camera's fixed daylight view (float RGB, H x W x 3)."""
    rng = rng_for("backdrop", cam.name)
    y = np.arange(H, dtype=np.float64)[:, None] / H
    edge = cam.horizon + 0.03 * smooth_noise(rng, (1, W), 120)  # gently wavy tree line
    t = 1 / (1 + np.exp(-(y - edge) / 0.08))  # 0 = trees, 1 = ground; soft over ~150 px
    ground, trees = np.array(cam.ground, float), np.array(cam.trees, float)
    img = trees[None, None] * (1 - t[..., None]) + ground[None, None] * t[..., None]
    img = img * (1 + 0.06 * y[..., None])  # nearer ground catches more light
    img += 5.0 * smooth_noise(rng, (H, W), 90)[..., None] * np.array([1.0, 1.1, 0.6])  # broad patches
    grass = smooth_noise(rng, (H, W), 0.8)
    img += 8.0 * grass[..., None] * np.array([0.8, 1.0, 0.5])  # fine texture: visible, averaged out by the detector
    return img


def _light(t: datetime) -> tuple[float, np.ndarray]:
    """Brightness factor and colour balance for a daylight frame at ``t`` (dawn and dusk are dim and blue)."""
    if t.hour in (5, 20):
        return 0.78, np.array([0.9, 0.97, 1.1])
    if 11 <= t.hour <= 15:
        return 1.12, np.array([1.04, 1.0, 0.95])
    return 1.0, np.array([1.0, 1.0, 1.0])


def frame(cam: Camera, t: datetime, subjects: list[Subject], index: int) -> Image.Image:
    """One trigger's image."""
    rng = rng_for("frame", cam.name, index)
    night = is_night(t)
    base = backdrop(cam)
    if night:
        lum = base @ np.array([0.3, 0.59, 0.11])
        yy, xx = np.mgrid[0:H, 0:W]
        flash = np.exp(-(((xx - W / 2) / (0.75 * W)) ** 2 + ((yy - 0.95 * H) / (0.9 * H)) ** 2))
        img = np.repeat((0.9 * lum * (0.35 + 0.85 * flash) + 18)[..., None], 3, axis=2)
    else:
        gain, balance = _light(t)
        img = base * gain * balance
    canvas = to_image(img).convert("RGBA")
    for species, xf, yf, size, left in sorted(subjects, key=lambda s: s[2]):  # far ones first
        hidden = species.endswith("~")
        layer = render(species.rstrip("~"), size, night, left)
        if hidden:
            layer = _behind_grass(layer)
        x, y = round(xf * W - layer.width / 2), round(yf * H - layer.height)
        if not night:  # a soft contact shadow
            shadow = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
            sw, sh = layer.width * 0.4, max(4, size * 0.06)
            ImageDraw.Draw(shadow).ellipse((xf * W - sw, yf * H - sh, xf * W + sw, yf * H + sh), fill=(0, 0, 0, 32))
            canvas = Image.alpha_composite(canvas, shadow.filter(ImageFilter.GaussianBlur(4)))
        tint = layer
        if not night:
            gain, balance = _light(t)
            arr = np.asarray(layer, np.float64).copy()
            arr[..., :3] *= gain * balance
            tint = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGBA")
        canvas.alpha_composite(tint.filter(ImageFilter.GaussianBlur(0.6)), (x, y))
    out = np.asarray(canvas.convert("RGB"), np.float64)
    out += rng.normal(0.0, 5.0 if night else 3.0, out.shape[:2])[..., None]  # sensor noise
    if night:
        out = np.repeat(out.mean(axis=2, keepdims=True), 3, axis=2)
    return to_image(out)


def _behind_grass(layer: Image.Image) -> Image.Image:
    """The layer with vertical stalks (7 px every 11 px) cut out of its lower two thirds."""
    alpha = np.asarray(layer.getchannel("A")).copy()
    cols = (np.arange(layer.width) % 11) < 7
    alpha[layer.height // 3:, cols] = 0
    out = layer.copy()
    out.putalpha(Image.fromarray(alpha))
    return out


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Decimal degrees -> EXIF GPS degrees, minutes, seconds (1/1000 s)."""
    deg = int(value)
    minutes = int((value - deg) * 60)
    msec = round(((value - deg) * 60 - minutes) * 60 * 1000)
    return IFDRational(deg, 1), IFDRational(minutes, 1), IFDRational(msec, 1000)


def exif_bytes(cam: Camera, t: datetime) -> bytes:
    """EXIF as a trail camera writes it: make/model/serial, capture time (+ offset), GPS position."""
    exif = Image.Exif()
    stamp = t.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x010F] = MAKE  # Make
    exif[0x0110] = MODEL  # Model
    exif[0x0132] = stamp  # DateTime
    exif[0x0131] = "samplegen (toolkit data/generate.py)"  # Software
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = stamp  # DateTimeOriginal
    sub[0x9004] = stamp  # DateTimeDigitized
    sub[0x9011] = UTC_OFFSET  # OffsetTimeOriginal
    sub[0xA431] = cam.serial  # BodySerialNumber
    sub[0xA430] = cam.name  # CameraOwnerName: the trap's station id
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", _dms(cam.lat)
    gps[3], gps[4] = "E", _dms(cam.lon)
    return exif.tobytes()


def labels_csv() -> bytes:
    """One row per frame: what was drawn (the truth the notebook can compare detections with)."""
    rows = []
    for name, when, subjects in EVENTS:
        t = datetime.strptime(when, "%Y%m%d %H%M%S")
        counts: dict[str, int] = {}
        for s in subjects:
            label = SPECIES_NAMES[s[0].rstrip("~")]
            counts[label] = counts.get(label, 0) + 1
        rows.append({"file": f"{name}_{t:%Y%m%d_%H%M%S}.jpg", "camera": name, "datetime_local": t.isoformat(),
                     "utc_offset": UTC_OFFSET, "night": is_night(t), "count": len(subjects),
                     "drawn": ";".join(f"{k}:{v}" for k, v in sorted(counts.items())) or "empty"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def generate(out: Path, cameras: list[str] | None = None) -> list[Path]:
    """Write the frames (all, or those of ``cameras``) to ``out/camera_traps`` (flat) plus ``labels.csv``."""
    cams = {c.name: c for c in CAMERAS}
    folder = out / "camera_traps"
    written = []
    for index, (name, when, subjects) in enumerate(EVENTS):
        if cameras is not None and name not in cameras:
            continue
        cam, t = cams[name], datetime.strptime(when, "%Y%m%d %H%M%S")
        data = encode(frame(cam, t, subjects, index), "JPEG", quality=75, exif=exif_bytes(cam, t))
        written.append(write(folder / f"{name}_{t:%Y%m%d_%H%M%S}.jpg", data))
    written.append(write(folder / "labels.csv", labels_csv()))
    return written
