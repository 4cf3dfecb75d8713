"""Helpers shared by the sample-data generators: seeded randomness, noise fields, deterministic encoders."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 20260614  #: the one master seed; every file derives its own generator from it and its name


def rng_for(*parts: object) -> np.random.Generator:
    """A generator seeded by the master seed and ``parts`` (stable across runs and platforms)."""
    digest = hashlib.sha256("|".join(map(str, (SEED, *parts))).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered noise (features about ``sigma`` px wide)."""
    from scipy import ndimage

    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return (n - n.mean()) / (n.std() + 1e-12)


def to_image(arr: np.ndarray) -> Image.Image:
    """Float RGB (0..255) -> 8-bit PIL image, clipped and rounded."""
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """The encoded bytes of ``img`` (Pillow; deterministic for a given Pillow build)."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
