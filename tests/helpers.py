"""Helpers shared by tests: HTTP clients on a sandbox, its stats, and synthetic images."""

from __future__ import annotations

import io

import httpx
import numpy as np
from PIL import Image, ImageDraw

from toolkit.sandbox import Sandbox


def api(sb: Sandbox, provider: str, key: str | None = None, **kw) -> httpx.Client:
    """An httpx client on a provider's base URL with its (demo) key as a Bearer token."""
    headers = {"Authorization": f"Bearer {key or sb.key(provider)}"}
    return httpx.Client(base_url=sb.base_url(provider), headers=headers, timeout=10, **kw)


def stats(sb: Sandbox) -> dict:
    return httpx.get(sb.url + "/__sandbox__/stats").json()


def scene_image(seed: int = 0, size: tuple[int, int] = (640, 480), objects: int = 2, fmt: str = "JPEG") -> bytes:
    """A camera-trap-like picture: a lit gradient with sensor noise and ``objects`` solid shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(60, 120, w)[None, :, None] * np.ones((h, 1, 3)) + rng.normal(0, 6, (h, w, 3))
    img = Image.fromarray(base.clip(0, 255).astype("uint8"))
    d = ImageDraw.Draw(img)
    for i in range(objects):
        slot = w // max(objects, 1)  # one column per object so shapes never touch
        x = i * slot + int(rng.integers(0, max(1, slot - w // 5)))
        y = int(rng.integers(h // 4, h * 3 // 4 - h // 6))
        if i % 2 == 0:
            d.ellipse((x, y, x + w // 5, y + h // 6), fill=(190, 90, 30))
        else:
            d.rectangle((x, y, x + w // 16, y + h // 4), fill=(30, 30, 30))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()
