"""Simple drawn subjects for the synthetic camera-trap frames: animals, a hiker and a van, in side view.

Each is drawn with Pillow primitives on a transparent layer at 2x and downsampled (anti-aliasing). Sizes are
in units of ``L`` (body length in px); the layer's anchor is the point where the subject stands on the ground.
"""

from __future__ import annotations

from typing import Callable

from PIL import Image, ImageDraw

RGB = tuple[int, int, int]
#: species -> (day body colour, dark detail colour, light detail colour, IR grey level at night)
PALETTE: dict[str, tuple[RGB, RGB, RGB, int]] = {
    "fox": ((232, 116, 28), (92, 50, 26), (240, 232, 222), 246),
    "deer": ((160, 116, 76), (64, 48, 36), (200, 170, 130), 238),
    "boar": ((58, 50, 46), (34, 30, 28), (90, 80, 72), 62),
    "bird": ((112, 124, 152), (40, 42, 52), (226, 228, 232), 190),
    "hiker": ((36, 92, 176), (44, 44, 52), (226, 180, 150), 200),
    "van": ((226, 226, 230), (34, 36, 40), (64, 70, 78), 236),
}


def _fox(d: ImageDraw.ImageDraw, L: float, body: RGB, dark: RGB, light: RGB) -> None:
    for x in (-0.36, -0.26, 0.16, 0.26):  # legs (from the body's belly to the ground at y=0), dark feet
        d.rectangle((x * L, -0.42 * L, (x + 0.055) * L, 0), fill=body)
        d.rectangle((x * L, -0.08 * L, (x + 0.055) * L, 0), fill=dark)
    d.ellipse((-0.95 * L, -0.62 * L, -0.40 * L, -0.40 * L), fill=body)  # tail
    d.ellipse((-0.97 * L, -0.58 * L, -0.84 * L, -0.46 * L), fill=light)  # white tail tip
    d.ellipse((-0.5 * L, -0.72 * L, 0.38 * L, -0.36 * L), fill=body)
    d.ellipse((0.30 * L, -0.86 * L, 0.56 * L, -0.60 * L), fill=body)  # head
    d.polygon([(0.5 * L, -0.8 * L), (0.72 * L, -0.70 * L), (0.5 * L, -0.64 * L)], fill=body)  # snout
    d.polygon([(0.34 * L, -0.82 * L), (0.38 * L, -0.98 * L), (0.44 * L, -0.84 * L)], fill=dark)  # ears
    d.polygon([(0.42 * L, -0.84 * L), (0.48 * L, -0.99 * L), (0.52 * L, -0.83 * L)], fill=dark)


def _deer(d: ImageDraw.ImageDraw, L: float, body: RGB, dark: RGB, light: RGB) -> None:
    for x in (-0.40, -0.29, 0.21, 0.32):
        d.rectangle((x * L, -0.62 * L, (x + 0.07) * L, 0), fill=body)
    d.ellipse((-0.5 * L, -0.98 * L, 0.46 * L, -0.56 * L), fill=body)
    d.polygon([(0.22 * L, -0.90 * L), (0.40 * L, -1.38 * L), (0.54 * L, -1.32 * L), (0.46 * L, -0.80 * L)],
              fill=body)  # neck
    d.ellipse((0.38 * L, -1.50 * L, 0.60 * L, -1.30 * L), fill=body)  # head
    d.polygon([(0.56 * L, -1.46 * L), (0.74 * L, -1.36 * L), (0.56 * L, -1.32 * L)], fill=body)  # muzzle
    d.polygon([(0.40 * L, -1.46 * L), (0.34 * L, -1.62 * L), (0.46 * L, -1.50 * L)], fill=dark)  # ears
    d.polygon([(0.48 * L, -1.48 * L), (0.50 * L, -1.64 * L), (0.56 * L, -1.48 * L)], fill=dark)


def _boar(d: ImageDraw.ImageDraw, L: float, body: RGB, dark: RGB, light: RGB) -> None:
    for x in (-0.38, -0.26, 0.14, 0.26):
        d.rectangle((x * L, -0.34 * L, (x + 0.08) * L, 0), fill=dark)
    d.ellipse((-0.55 * L, -0.86 * L, 0.42 * L, -0.26 * L), fill=body)
    d.ellipse((-0.2 * L, -0.95 * L, 0.3 * L, -0.6 * L), fill=body)  # shoulder hump
    d.polygon([(0.34 * L, -0.80 * L), (0.76 * L, -0.46 * L), (0.74 * L, -0.36 * L), (0.36 * L, -0.34 * L)],
              fill=body)  # wedge-shaped head
    d.polygon([(0.38 * L, -0.78 * L), (0.40 * L, -0.94 * L), (0.48 * L, -0.76 * L)], fill=dark)  # ear
    d.rectangle((0.72 * L, -0.48 * L, 0.78 * L, -0.36 * L), fill=light)  # snout disc


def _bird(d: ImageDraw.ImageDraw, L: float, body: RGB, dark: RGB, light: RGB) -> None:
    d.rectangle((-0.04 * L, -0.26 * L, 0.0, 0), fill=dark)  # legs
    d.rectangle((0.08 * L, -0.26 * L, 0.12 * L, 0), fill=dark)
    d.polygon([(-0.3 * L, -0.5 * L), (-0.75 * L, -0.42 * L), (-0.72 * L, -0.3 * L), (-0.25 * L, -0.34 * L)],
              fill=dark)  # tail
    d.ellipse((-0.4 * L, -0.68 * L, 0.3 * L, -0.22 * L), fill=body)
    d.ellipse((-0.2 * L, -0.56 * L, 0.16 * L, -0.40 * L), fill=light)  # wing bar
    d.ellipse((0.16 * L, -0.86 * L, 0.44 * L, -0.58 * L), fill=body)  # head
    d.polygon([(0.42 * L, -0.76 * L), (0.58 * L, -0.70 * L), (0.42 * L, -0.66 * L)], fill=dark)  # beak


def _hiker(d: ImageDraw.ImageDraw, L: float, body: RGB, dark: RGB, light: RGB) -> None:
    # L is the height here.
    d.rectangle((-0.10 * L, -0.48 * L, -0.02 * L, 0), fill=dark)  # legs
    d.rectangle((0.02 * L, -0.48 * L, 0.10 * L, 0), fill=dark)
    d.rectangle((-0.13 * L, -0.84 * L, 0.13 * L, -0.46 * L), fill=body)  # jacket
    d.rectangle((-0.19 * L, -0.82 * L, -0.13 * L, -0.52 * L), fill=body)  # arms
    d.rectangle((0.13 * L, -0.82 * L, 0.19 * L, -0.52 * L), fill=body)
    d.rectangle((-0.20 * L, -0.80 * L, -0.10 * L, -0.56 * L), fill=(70, 90, 60))  # backpack edge
    d.ellipse((-0.07 * L, -0.99 * L, 0.07 * L, -0.85 * L), fill=light)  # head


def _van(d: ImageDraw.ImageDraw, L: float, body: RGB, dark: RGB, light: RGB) -> None:
    d.rounded_rectangle((-0.5 * L, -0.50 * L, 0.5 * L, -0.04 * L), radius=0.03 * L, fill=body)
    d.rectangle((0.20 * L, -0.46 * L, 0.44 * L, -0.32 * L), fill=light)  # windscreen / side windows
    d.rectangle((-0.10 * L, -0.46 * L, 0.14 * L, -0.32 * L), fill=light)
    for x in (-0.32, 0.30):
        d.ellipse(((x - 0.08) * L, -0.16 * L, (x + 0.08) * L, 0), fill=dark)


DRAW: dict[str, Callable[..., None]] = {"fox": _fox, "deer": _deer, "boar": _boar, "bird": _bird,
                                        "hiker": _hiker, "van": _van}
#: half-width and height of each subject's layer, in units of L
EXTENT = {"fox": (1.0, 1.0), "deer": (0.8, 1.7), "boar": (0.8, 1.0), "bird": (0.8, 0.9),
          "hiker": (0.25, 1.0), "van": (0.55, 0.55)}


def render(species: str, L: float, night: bool, facing_left: bool) -> Image.Image:
    """The subject on a transparent RGBA layer; its anchor (ground contact, centre) is the bottom centre."""
    body, dark, light, ir = PALETTE[species]
    if night:  # IR flash: monochrome; each part keeps its brightness relative to the body
        def grey(c: RGB) -> RGB:
            return (min(255, round(ir * sum(c) / max(1, sum(body)))),) * 3

        body, dark, light = (ir, ir, ir), grey(dark), grey(light)
    hw, hh = EXTENT[species]
    s = 2  # supersampling
    w, h = int(2 * hw * L * s) + 4, int(hh * L * s) + 4
    canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    dc = _Offset(ImageDraw.Draw(canvas), w / 2, h - 2, s)
    DRAW[species](dc, L, tuple(body), tuple(dark), tuple(light))
    if facing_left:
        canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return canvas.resize((max(1, w // s), max(1, h // s)), Image.Resampling.BOX)


class _Offset:
    """An ImageDraw proxy that maps subject coordinates (anchor at 0,0, y up negative) onto the layer."""

    def __init__(self, draw: ImageDraw.ImageDraw, ox: float, oy: float, scale: float) -> None:
        self.d, self.ox, self.oy, self.s = draw, ox, oy, scale

    def _pt(self, x: float, y: float) -> tuple[float, float]:
        return self.ox + x * self.s, self.oy + y * self.s

    def _box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        (x0, y0), (x1, y1) = self._pt(box[0], box[1]), self._pt(box[2], box[3])
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def rectangle(self, box, fill) -> None:  # noqa: ANN001
        self.d.rectangle(self._box(box), fill=fill)

    def ellipse(self, box, fill) -> None:  # noqa: ANN001
        self.d.ellipse(self._box(box), fill=fill)

    def rounded_rectangle(self, box, radius, fill) -> None:  # noqa: ANN001
        self.d.rounded_rectangle(self._box(box), radius=radius * self.s, fill=fill)

    def polygon(self, pts, fill) -> None:  # noqa: ANN001
        self.d.polygon([self._pt(x, y) for x, y in pts], fill=fill)
