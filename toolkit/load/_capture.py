"""What an image file says about itself: pixel size, capture time and camera (EXIF first, then the file name).

Capture times are the camera's wall clock (EXIF ``DateTimeOriginal`` has no time zone unless
``OffsetTimeOriginal`` is set, and trail cameras rarely set it), so they are returned naive: hour-of-day
activity counts need local time, and guessing a zone would be worse than saying none is known.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from PIL import Image, UnidentifiedImageError

EXIF_IFD = 0x8769
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL, BODY_SERIAL = 0x9003, 0x9011, 0xA431

# 20260614_031522, 2026-06-14 03-15-22, 2026:06:14T03.15.22 ... (a date must be followed by a time)
_STAMP = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_.:]?(\d\d)[-_.:]?(\d\d)[T _-]?(\d\d)[-_.:h]?(\d\d)[-_.:m]?(\d\d)(?!\d)")
# CAM03, cam-03, Camera_12, CT07b (a station name: letters "cam"/"camera"/"ct" then a number)
_CAMERA = re.compile(r"(?i)(?<![a-z])(cam(?:era)?|ct)[-_ ]?(\d{1,4}[a-z]?)(?![a-z0-9])")


@dataclass(frozen=True)
class Capture:
    """Per-image facts; every field may be None."""

    width: int | None = None
    height: int | None = None
    captured_at: datetime | None = None  # camera wall clock, naive
    camera: str | None = None  # station / camera id (file name, folder, EXIF serial)
    camera_model: str | None = None  # EXIF make and model


NOTHING = Capture()


def time_from_name(name: str) -> datetime | None:
    """A capture time written in a file name (``CAM03_20260614_031522.jpg``), if it is a real date."""
    for m in _STAMP.finditer(name):
        try:
            year, month, day, hour, minute, second = (int(g) for g in m.groups())
            return datetime(year, month, day, hour, minute, second)
        except ValueError:
            continue
    return None


def camera_from_path(path: str) -> str | None:
    """``CAM03`` from ``CAM03_20260614_031522.jpg`` or from a folder ``.../cam03/IMG_0001.JPG`` (nearest wins)."""
    parts = path.replace("\\", "/").split("/")
    parts[-1] = parts[-1].rsplit(".", 1)[0]
    for part in reversed(parts):
        m = _CAMERA.search(part)
        if m:
            prefix = "CT" if m.group(1).lower() == "ct" else "CAM"
            return f"{prefix}{m.group(2).upper()}"
    return None


def _exif_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    return value.strip("\x00 ") or None if isinstance(value, str) else None


@lru_cache(maxsize=65536)
def _read(path: str, mtime_ns: int) -> Capture:
    try:
        with Image.open(path) as img:  # lazy: reads the header and EXIF, never the pixels
            width, height = img.size
            exif = img.getexif()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return NOTHING
    if exif.get(ORIENTATION) in (5, 6, 7, 8):  # rotated 90°: detectors see the upright image
        width, height = height, width
    sub = exif.get_ifd(EXIF_IFD) if exif else {}
    make, model = _text(exif.get(MAKE)), _text(exif.get(MODEL))
    if make and model and model.lower().startswith(make.lower()):
        make = None
    serial = _text(sub.get(BODY_SERIAL))
    return Capture(
        width, height, _exif_time(sub.get(DATETIME_ORIGINAL)), serial, " ".join(x for x in (make, model) if x) or None
    )


def capture(path: str | None, read_file: bool = True) -> Capture:
    """Size, time and camera of one image: EXIF when the file is here, completed from its path."""
    if not path:
        return NOTHING
    found = NOTHING
    if read_file:
        try:
            found = _read(path, os.stat(path).st_mtime_ns)
        except (OSError, ValueError):
            found = NOTHING
    return _completed(path, found)


def captures(paths: list[str | None], read_files: bool = True) -> list[Capture]:
    """``capture`` of many images: each folder is listed once, so images that are not on disk (results read
    elsewhere) cost one failed look-up per folder, not a failed ``stat`` each."""
    listed: dict[str, frozenset[str] | None] = {}
    out = []
    for path in paths:
        if not path:
            out.append(NOTHING)
            continue
        folder, name = os.path.split(path)
        here: frozenset[str] | None = None
        if read_files:
            if folder not in listed:
                try:
                    listed[folder] = frozenset(os.listdir(folder or "."))
                except (OSError, ValueError):
                    listed[folder] = None
            here = listed[folder]
        out.append(capture(path, True) if here is not None and name in here else _completed(path, NOTHING))
    return out


def _completed(path: str, found: Capture) -> Capture:
    return Capture(
        found.width,
        found.height,
        found.captured_at or time_from_name(os.path.basename(path)),
        camera_from_path(path) or found.camera,
        found.camera_model,
    )
