"""Product photos for the image-edit notebook: shaded objects on plain studio backgrounds.

Rendered with numpy (Lambert shading, a specular highlight, a soft contact shadow, anti-aliased masks);
sizes, aspect ratios and formats differ on purpose (JPEG, PNG, PNG with alpha, WebP), and one real photo
with a busy background (scikit-image's coffee cup, CC0) shows where background removal struggles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .common import encode, rng_for, to_image, write

RGB = tuple[int, int, int]


class Studio:
    """A float RGB canvas with a plain background, an alpha mask of what was drawn, and shading helpers.

    Shapes are drawn at 3x and box-downsampled into anti-aliased masks; shading is computed per pixel.
    """

    SS = 3

    def __init__(self, size: tuple[int, int], background: RGB, name: str) -> None:
        self.w, self.h = size
        y = np.linspace(0, 1, self.h)[:, None, None]
        self.rgb = np.broadcast_to(np.array(background, float) * (1.02 - 0.06 * y), (self.h, self.w, 3)).copy()
        self.alpha = np.zeros((self.h, self.w))
        self.yy, self.xx = np.arange(self.h, dtype=float)[:, None], np.arange(self.w, dtype=float)[None, :]
        self.rng = rng_for("product", name)

    def _mask(self, draw: Callable[[ImageDraw.ImageDraw, int], None]) -> np.ndarray:
        layer = Image.new("L", (self.w * self.SS, self.h * self.SS), 0)
        draw(ImageDraw.Draw(layer), self.SS)
        return np.asarray(layer.resize((self.w, self.h), Image.Resampling.BOX), float) / 255

    def shadow(self, cx: float, cy: float, rx: float, ry: float, strength: float = 0.35) -> None:
        layer = Image.new("L", (self.w, self.h), 0)
        ImageDraw.Draw(layer).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
        soft = np.asarray(layer.filter(ImageFilter.GaussianBlur(ry)), float) / 255
        self.rgb *= (1 - strength * soft)[..., None]

    def paint(self, mask: np.ndarray, colour: np.ndarray) -> None:
        """Paint ``colour`` (H x W x 3 or 3,) where ``mask`` (0..1) is set."""
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if rows.size == 0:
            return
        win = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # only the shape's bounding box
        m = mask[win][..., None]
        colour = np.broadcast_to(colour, self.rgb.shape)[win]
        self.rgb[win] = self.rgb[win] * (1 - m) + colour * m
        self.alpha[win] = np.maximum(self.alpha[win], mask[win])

    def polygon_mask(self, pts: list[tuple[float, float]]) -> np.ndarray:
        return self._mask(lambda d, k: d.polygon([(k * x, k * y) for x, y in pts], fill=255))

    def ellipse_mask(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        return self._mask(lambda d, k: d.ellipse((k * (cx - rx), k * (cy - ry), k * (cx + rx), k * (cy + ry)),
                                                 fill=255))

    def cylinder_shade(self, cx: float, r: float, base: RGB, gloss: float = 0.5) -> np.ndarray:
        """Colour per column (1 x W x 3) of a vertical cylinder lit from the upper left."""
        u = np.clip((self.xx - cx) / r, -1, 1)
        lambert = np.clip(np.cos(np.arcsin(u) + 0.5), 0, 1)
        spec = gloss * np.exp(-((u + 0.45) / 0.08) ** 2)
        return np.array(base, float) * (0.35 + 0.75 * lambert)[..., None] + 255 * spec[..., None]

    def sphere_shade(self, cx: float, cy: float, r: float, base: np.ndarray) -> np.ndarray:
        nx, ny = (self.xx - cx) / r, (self.yy - cy) / r
        nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0, 1))
        light = np.array([-0.45, -0.55, 0.70])
        lam = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
        spec = np.clip(lam, 0, 1) ** 40
        return base * (0.3 + 0.8 * lam)[..., None] + 230 * spec[..., None]

    def image(self, noise: float = 1.5, alpha: bool = False) -> Image.Image:
        arr = self.rgb + (self.rng.normal(0, noise, self.rgb.shape[:2])[..., None] if noise else 0)
        img = to_image(arr)
        if alpha:
            img.putalpha(Image.fromarray(np.clip(np.rint(self.alpha * 255), 0, 255).astype(np.uint8)))
        return img


def mug() -> Image.Image:
    s = Studio((1200, 1200), (246, 246, 244), "mug")
    s.shadow(600, 905, 300, 40)
    body = s.polygon_mask([(380, 380), (820, 380), (820, 880), (380, 880)]) + s.ellipse_mask(600, 880, 220, 40)
    handle = s.ellipse_mask(850, 610, 130, 170) * (1 - s.ellipse_mask(850, 610, 80, 115))
    handle *= (s.xx > 815)
    s.paint(np.clip(handle, 0, 1), s.cylinder_shade(850, 140, (196, 36, 42), 0.2))
    s.paint(np.clip(body, 0, 1), s.cylinder_shade(600, 220, (196, 36, 42)))
    s.paint(s.ellipse_mask(600, 380, 220, 40), np.array([150, 28, 32.0]))
    s.paint(s.ellipse_mask(600, 384, 200, 32), np.array([70, 40, 30.0]))  # coffee inside
    return s.image(noise=1.0)


def bottle() -> Image.Image:
    s = Studio((800, 1200), (226, 228, 232), "bottle")
    s.shadow(400, 1075, 170, 26)
    pts = [(260, 1075), (260, 520), (300, 420), (360, 360), (360, 160), (440, 160), (440, 360), (500, 420),
           (540, 520), (540, 1075)]
    shape = s.polygon_mask(pts)
    s.paint(shape, s.cylinder_shade(400, 140, (28, 110, 60), 0.7))
    s.paint(s.polygon_mask([(270, 600), (530, 600), (530, 860), (270, 860)]) * shape,
            s.cylinder_shade(400, 140, (196, 58, 46), 0.1))  # label
    s.paint(s.polygon_mask([(352, 130), (448, 130), (448, 180), (352, 180)]), np.array([190, 160, 40.0]))  # cap
    return s.image(noise=1.0)


def box() -> Image.Image:
    s = Studio((1000, 800), (250, 250, 250), "box")
    s.shadow(520, 655, 360, 34)
    top = [(200, 260), (520, 160), (820, 250), (500, 350)]
    left = [(200, 260), (500, 350), (500, 660), (200, 560)]
    right = [(500, 350), (820, 250), (820, 550), (500, 660)]
    kraft = np.array([196, 150, 98.0])
    for face, light in ((top, 1.1), (left, 0.85), (right, 0.62)):
        s.paint(s.polygon_mask(face), kraft * light)
    s.paint(s.polygon_mask([(350, 210), (385, 198), (690, 295), (655, 307)]), kraft * 0.9)  # tape
    return s.image(noise=2.0)


def ball() -> Image.Image:
    s = Studio((600, 600), (255, 255, 255), "ball")
    ang = np.arctan2(s.yy - 300, s.xx - 300)
    stripes = np.array([[230, 60, 50], [250, 250, 245], [40, 110, 210], [250, 250, 245], [250, 200, 40],
                        [250, 250, 245]], float)[((ang + np.pi) / (2 * np.pi) * 6).astype(int) % 6]
    s.paint(s.ellipse_mask(300, 300, 260, 260), s.sphere_shade(300, 300, 260, stripes))
    return s.image(noise=0, alpha=True)


def lamp() -> Image.Image:
    s = Studio((900, 900), (238, 230, 214), "lamp")
    s.shadow(450, 790, 170, 22)
    s.paint(s.ellipse_mask(450, 780, 150, 26), np.array([60, 60, 66.0]))  # base
    s.paint(s.polygon_mask([(440, 420), (460, 420), (460, 780), (440, 780)]),
            s.cylinder_shade(450, 12, (150, 150, 156)))  # stem
    s.paint(s.polygon_mask([(330, 160), (570, 160), (680, 430), (220, 430)]),
            s.cylinder_shade(450, 230, (52, 138, 150), 0.05))  # shade
    return s.image(noise=1.0)


def watch() -> Image.Image:
    s = Studio((640, 640), (206, 226, 240), "watch")
    s.shadow(330, 560, 140, 20, 0.25)
    s.paint(s.polygon_mask([(260, 40), (380, 40), (380, 600), (260, 600)]),
            s.cylinder_shade(320, 60, (70, 50, 40), 0.15))  # strap
    s.paint(s.ellipse_mask(320, 320, 150, 150), s.sphere_shade(320, 320, 150, np.array([190, 190, 196.0])))
    s.paint(s.ellipse_mask(320, 320, 128, 128), np.array([246, 244, 238.0]))
    img = s.image(noise=0)
    d = ImageDraw.Draw(img)
    for k in range(12):
        a = k * np.pi / 6
        d.line((320 + 105 * np.sin(a), 320 - 105 * np.cos(a), 320 + 120 * np.sin(a), 320 - 120 * np.cos(a)),
               fill=(30, 30, 34), width=4)
    d.line((320, 320, 320 + 70 * np.sin(2.2), 320 - 70 * np.cos(2.2)), fill=(30, 30, 34), width=6)
    d.line((320, 320, 320 + 100 * np.sin(5.4), 320 - 100 * np.cos(5.4)), fill=(30, 30, 34), width=4)
    return img


def vase() -> Image.Image:
    s = Studio((700, 1000), (120, 124, 130), "vase")
    s.shadow(350, 905, 170, 24, 0.3)
    y = np.linspace(200, 900, 141)
    r = 70 + 90 * np.sin((y - 200) / 700 * np.pi) ** 1.5 + 25 * np.exp(-((y - 230) / 30) ** 2)
    pts = [(350 - ri, yi) for yi, ri in zip(y, r, strict=True)]
    pts += [(350 + ri, yi) for yi, ri in zip(y[::-1], r[::-1], strict=True)]
    s.paint(s.polygon_mask(pts), s.cylinder_shade(350, 190, (232, 236, 244), 0.6))
    return s.image(noise=1.0)


def headphones() -> Image.Image:
    s = Studio((1024, 768), (252, 252, 252), "headphones")
    s.shadow(512, 660, 330, 26)
    band = s.ellipse_mask(512, 420, 300, 300) * (1 - s.ellipse_mask(512, 420, 270, 270)) * (s.yy < 430)
    s.paint(band, np.array([40, 40, 46.0]))
    for cx in (232, 792):
        s.paint(s.ellipse_mask(cx, 500, 75, 130), s.sphere_shade(cx, 500, 130, np.array([34, 34, 40.0])))
        s.paint(s.ellipse_mask(cx, 500, 50, 100), np.array([80, 80, 88.0]))
    return s.image(noise=1.0)


def coffee_photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.coffee())


#: file name -> (render function, Pillow format, encoder options)
PRODUCTS: dict[str, tuple[Callable[[], Image.Image], str, dict]] = {
    "mug.jpg": (mug, "JPEG", {"quality": 88}),
    "bottle.jpg": (bottle, "JPEG", {"quality": 88}),
    "box.jpg": (box, "JPEG", {"quality": 85}),
    "ball.png": (ball, "PNG", {"optimize": True}),
    "lamp.webp": (lamp, "WEBP", {"quality": 85, "method": 4}),
    "watch.png": (watch, "PNG", {"optimize": True}),
    "vase.jpg": (vase, "JPEG", {"quality": 88}),
    "headphones.webp": (headphones, "WEBP", {"quality": 82, "method": 4}),
    "coffee_cup_photo.jpg": (coffee_photo, "JPEG", {"quality": 88}),
}


def generate(out: Path, names: list[str] | None = None) -> list[Path]:
    """Write the products (all, or only ``names``) to ``out/products``."""
    return [write(out / "products" / name, encode(fn(), fmt, **opts))
            for name, (fn, fmt, opts) in PRODUCTS.items() if names is None or name in names]
