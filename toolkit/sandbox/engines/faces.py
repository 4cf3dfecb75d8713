"""Face enrollment engine: per-image checks, LBP-cascade face detection, content-derived face ids.

Algorithm (documented, deterministic), per batch item:
1. Reject files over 10 MB, and files whose magic bytes are not JPEG or PNG, or that Pillow cannot decode
   (``INVALID_IMAGE``); images under 100x100 px are ``FACE_QUALITY_TOO_LOW``.
2. Convert to grayscale and downscale so the longest side is at most ``DETECT_SIDE`` px (faces must then
   span >= 24 px, i.e. roughly >= 15 % of the picture, as in an enrollment portrait).
3. Run scikit-image's LBP frontal-face cascade (``skimage.data.lbp_frontal_face_cascade_filename()``) with
   ``detect_multi_scale`` (scale factor 1.2, step 1, >= ``MIN_NEIGHBORS`` grouped hits). None: ``FACE_NOT_DETECTED``.
4. The largest detection is the enrolled face. Its ``face_id`` is a SHA-256 of the collection id and the
   face crop resampled to 32x32 8-bit grayscale: the same image in the same collection always gets the same id.

``synthetic_faces`` makes test portraits from ``skimage.data.astronaut()`` (public-domain NASA photo, one frontal
face) by random crop, scale, brightness/contrast and mirroring; a candidate is kept only if steps 1-4 enroll it
(about 1 in 300 is not detected), so every returned image is a detectable face.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from .media import sniff

MODEL_ID = "sandbox-reference"
MAX_BYTES = 10 * 1024 * 1024
MIN_SIDE = 100
DETECT_SIDE = 160
MIN_NEIGHBORS = 4
IMAGE_TYPES = ("image/jpeg", "image/png")

_local = threading.local()


@dataclass
class ItemError(Exception):
    code: str
    message: str


def _cascade() -> Any:
    """One cascade per worker thread: the Cython detector keeps per-call scratch state."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        from skimage import data, feature

        cascade = _local.cascade = feature.Cascade(data.lbp_frontal_face_cascade_filename())
    return cascade


def _decode(data: bytes) -> Image.Image:
    if len(data) > MAX_BYTES:
        raise ItemError("INVALID_IMAGE", f"The image is {len(data)} bytes; the limit is 10 MB ({MAX_BYTES} bytes).")
    if sniff(data) not in IMAGE_TYPES:
        raise ItemError("INVALID_IMAGE", "The file is not a JPEG or PNG image.")
    try:
        img = Image.open(io.BytesIO(data))
        size = img.size
        img.draft("L", (DETECT_SIDE * 2, DETECT_SIDE * 2))  # JPEG: decode at reduced scale, much faster
        img.load()
    except Exception as e:
        raise ItemError("INVALID_IMAGE", f"The image could not be decoded ({type(e).__name__}).") from None
    if min(size) < MIN_SIDE:
        raise ItemError(
            "FACE_QUALITY_TOO_LOW",
            f"The image is {size[0]}x{size[1]} px; faces need at least {MIN_SIDE}x{MIN_SIDE} px.",
        )
    return ImageOps.exif_transpose(img).convert("L")


def detect_faces(gray: Image.Image) -> tuple[np.ndarray, list[dict[str, int]]]:
    """The downscaled grayscale array and the cascade's detections on it (dicts r, c, width, height)."""
    scale = DETECT_SIDE / max(gray.size)
    if scale < 1:
        gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))), Image.BILINEAR)
    arr = np.asarray(gray, dtype=np.float64) / 255.0
    side = min(arr.shape)
    if side < 24:
        return arr, []
    found = _cascade().detect_multi_scale(
        arr,
        scale_factor=1.2,
        step_ratio=1,
        min_size=(24, 24),
        max_size=(side, side),
        min_neighbor_number=MIN_NEIGHBORS,
        intersection_score_threshold=0.5,
    )
    return arr, list(found)


def face_id(collection_id: str, arr: np.ndarray, box: dict[str, int]) -> str:
    crop = arr[box["r"] : box["r"] + box["height"], box["c"] : box["c"] + box["width"]]
    small = Image.fromarray((crop * 255).round().astype(np.uint8)).resize((32, 32), Image.BILINEAR)
    h = hashlib.sha256(collection_id.encode() + b"\0" + small.tobytes()).hexdigest()
    return "face_" + h[:24]


def enroll_item(collection_id: str, data: bytes) -> str:
    """The face id enrolled from one image, or ItemError with the item's error code."""
    arr, found = detect_faces(_decode(data))
    if not found:
        raise ItemError("FACE_NOT_DETECTED", "No face was detected in the image.")
    box = max(found, key=lambda d: (d["width"] * d["height"], -d["r"], -d["c"]))
    return face_id(collection_id, arr, box)


def enroll_batch(collection_id: str, items: list[tuple[str, bytes | None]]) -> dict[str, Any]:
    """Result of a batch: one entry per (external_id, bytes) item, in order; bytes None = over the size limit."""
    results: list[dict[str, Any]] = []
    for index, (external_id, data) in enumerate(items):
        entry: dict[str, Any] = {"index": index, "external_id": external_id}
        try:
            if data is None:
                raise ItemError("INVALID_IMAGE", "The image is larger than 10 MB.")
            entry.update(face_id=enroll_item(collection_id, data), success=True)
        except ItemError as e:
            entry.update(face_id=None, success=False, error={"code": e.code, "message": e.message})
        results.append(entry)
    return {"sandbox": True, "model": MODEL_ID, "results": results}


def synthetic_faces(n: int, seed: int = 0) -> list[bytes]:
    """``n`` distinct portrait images (PNG and JPEG alternately) the detector finds a face in."""
    from skimage import data

    src = Image.fromarray(data.astronaut())
    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    while len(out) < n:
        fmt = "JPEG" if len(out) % 2 else "PNG"
        side = int(rng.integers(170, 300))
        cy, cx = 116 + int(rng.integers(-25, 26)), 214 + int(rng.integers(-25, 26))  # face centre in the photo
        x0 = min(max(0, cx - side // 2), src.width - side)
        y0 = min(max(0, cy - side // 2), src.height - side)
        size = int(rng.integers(140, 320))
        img = src.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.LANCZOS)
        img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.75, 1.3)))
        img = ImageEnhance.Contrast(img).enhance(float(rng.uniform(0.85, 1.15)))
        if rng.random() < 0.5:
            img = ImageOps.mirror(img)
        buf = io.BytesIO()
        img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        try:
            enroll_item("synthetic", buf.getvalue())
        except ItemError:
            continue
        out.append(buf.getvalue())
    return out
