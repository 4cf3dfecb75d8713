"""Animal Detect engine: foreground objects by contrast against an estimated background.

Algorithm (documented, deterministic): decode and downscale to <= 512 px; estimate the background with a wide
Gaussian blur of each channel; the per-pixel colour distance to that background is thresholded with Otsu's
method (and a floor, so flat images give nothing); the mask is cleaned by morphological opening/closing and
split into connected components. Each large enough component becomes a box; its score grows with its contrast
and compactness; its label comes from shape (aspect ratio, extent) and colour (mean hue/saturation/value).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage
from skimage import color, filters, measure, morphology

MODEL_ID = "sandbox-reference"
MODEL_VERSION = "sandbox-reference-1"

#: label -> taxonomy (class, order, family, genus, species); unused ranks are "".
TAXA: dict[str, tuple[str, str, str, str, str]] = {
    "human": ("mammalia", "primates", "hominidae", "homo", "sapiens"),
    "vehicle": ("", "", "", "", ""),
    "red fox": ("mammalia", "carnivora", "canidae", "vulpes", "vulpes"),
    "roe deer": ("mammalia", "cetartiodactyla", "cervidae", "capreolus", "capreolus"),
    "wild boar": ("mammalia", "cetartiodactyla", "suidae", "sus", "scrofa"),
    "bird": ("aves", "", "", "", ""),
    "mammal": ("mammalia", "", "", "", ""),
}


class UndecodableImage(ValueError):
    pass


@dataclass
class Box:
    bbox: tuple[float, float, float, float]  # x, y, w, h normalised, top-left origin
    score: float
    label: str
    candidates: list[tuple[str, float]]


def _open(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        return ImageOps.exif_transpose(img) if img.getexif().get(0x0112, 1) != 1 else img
    except Exception as e:
        raise UndecodableImage(f"the upload is not a decodable image ({type(e).__name__})") from None


def decode(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:
        raise UndecodableImage(f"the upload is not a decodable image ({type(e).__name__})") from None
    return ImageOps.exif_transpose(img).convert("RGB")


def _label(aspect: float, extent: float, area_frac: float, hsv: np.ndarray) -> list[tuple[str, float]]:
    """Scores for each label from shape and colour features (higher is more likely)."""
    h, s, v = (float(x) for x in hsv)
    warm = math.exp(-(((h - 0.07) % 1.0) ** 2) / 0.004) if h < 0.5 else math.exp(-((h - 1.07) ** 2) / 0.004)
    scores = {
        "human": max(0.0, min(1.0, (aspect - 1.3) / 1.2)),
        "vehicle": max(0.0, (extent - 0.8) * 5) * (1.0 - s),
        "bird": max(0.0, 1.0 - area_frac / 0.01) * 0.8,
        "red fox": warm * s,
        "roe deer": math.exp(-((h - 0.09) ** 2) / 0.01) * (1 - abs(s - 0.45)) * (v > 0.25),
        "wild boar": (1.0 - v) * (1.0 - s),
        "mammal": 0.25,
    }
    return sorted(scores.items(), key=lambda kv: -kv[1])


def detect(data: bytes, *, max_side: int = 256) -> tuple[list[Box], tuple[int, int]]:
    """Find foreground objects; returns boxes (all scores) and the original (width, height)."""
    img = _open(data)
    size = img.size
    img.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced scale, much faster
    img = img.convert("RGB")
    img.thumbnail((max_side, max_side))
    rgb = np.asarray(img, dtype=np.float32) / 255.0
    # Background: a heavy blur, computed cheaply on a 16x smaller image and scaled back up.
    small = img.resize((max(1, img.width // 16), max(1, img.height // 16)), Image.Resampling.BOX)
    small_bg = np.stack(
        [ndimage.gaussian_filter(np.asarray(small, np.float32)[..., c] / 255.0, 1.0, mode="nearest") for c in range(3)],
        axis=-1,
    )
    background = (
        np.asarray(
            Image.fromarray((small_bg * 255).astype(np.uint8)).resize(img.size, Image.Resampling.BILINEAR), np.float32
        )
        / 255.0
    )
    dist = np.sqrt(((rgb - background) ** 2).sum(axis=-1))
    dist = ndimage.uniform_filter(dist, 3)
    if float(dist.max()) < 0.08:
        return [], size
    thresh = max(float(filters.threshold_otsu(dist)), 0.08)
    mask = dist > thresh
    mask = ndimage.binary_opening(mask, structure=morphology.disk(1))
    mask = ndimage.binary_closing(mask, structure=morphology.disk(2))
    labels = measure.label(mask)
    H, W = mask.shape
    hsv_img = color.rgb2hsv(rgb)
    boxes: list[Box] = []
    for region in measure.regionprops(labels, intensity_image=dist):
        area_frac = region.area / (H * W)
        if area_frac < 0.002:
            continue
        r0, c0, r1, c1 = region.bbox
        bh, bw = r1 - r0, c1 - c0
        contrast = float(region.intensity_mean) / max(thresh, 1e-6)
        score = 1.0 / (1.0 + math.exp(-(2.2 * (contrast - 1.0) + 3.0 * region.solidity - 1.5 + 40 * area_frac)))
        hsv = hsv_img[labels == region.label].mean(axis=0)
        cands = _label(bh / max(bw, 1), region.extent, area_frac, hsv)
        boxes.append(Box((c0 / W, r0 / H, bw / W, bh / H), round(min(score, 0.999), 3), cands[0][0], cands[:3]))
    boxes.sort(key=lambda b: -b.score)
    return boxes, size


def generic_label(label: str) -> str:
    """The ``classify=false`` label: animal, human or vehicle."""
    return label if label in ("human", "vehicle") else "animal"


def taxonomy(label: str) -> dict[str, str]:
    cls, order, family, genus, species = TAXA.get(label, ("", "", "", "", ""))
    tid = "sandbox:" + label.replace(" ", "-")
    return {"id": tid, "class": cls, "order": order, "family": family, "genus": genus, "species": species}


def detect_result(data: bytes, options: dict[str, Any]) -> dict[str, Any]:
    """The ``annotations`` + ``info`` part of an Animal Detect result for these bytes and options."""
    threshold = float(options.get("threshold", 0.2))
    classify = bool(options.get("classify", True))
    boxes, (width, height) = detect(data)
    annotations = []
    for i, b in enumerate(x for x in boxes if x.score >= threshold):
        label = b.label if classify else generic_label(b.label)
        ann: dict[str, Any] = {
            "id": i,
            "bbox": [round(v, 4) for v in b.bbox],
            "score": b.score,
            "label": label,
            "taxonomy": taxonomy(label) if classify else taxonomy(""),
        }
        if options.get("top_candidate"):
            ann["top_candidates"] = [
                {"label": lab, "score": round(min(s, 0.999), 3), "taxonomy": taxonomy(lab)} for lab, s in b.candidates
            ]
        annotations.append(ann)
    out: dict[str, Any] = {"annotations": annotations}
    if options.get("metadata"):
        out["metadata"] = {"image_width": width, "image_height": height, "file_size": len(data)}
    out["info"] = {
        "processing_time_ms": 0,
        "model_version": MODEL_VERSION,
        "model_id": MODEL_ID,
        "country_processed": options.get("country") or None,
        "threshold_applied": threshold,
        "sandbox": True,
    }
    return out
