"""The sandbox's background removal keeps the object: the background is what touches the border.

A white dial inside a dark ring on a white background, or the white panel of a ball on a transparent PNG, is
the object's own colour, not background: it must stay opaque, with no holes in the cut-out.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tests.helpers import api
from tests.sandbox.test_claid import FAST, edit


@pytest.fixture
def sb(make_sandbox):
    sandbox = make_sandbox()
    sandbox.config.rate_limits["claid"] = FAST
    return sandbox


def holes(cut: Image.Image) -> int:
    """Transparent regions (alpha < 128) not connected to the border: holes in the object."""
    labels, n = ndimage.label(np.asarray(cut.getchannel("A")) < 128)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return n - int((edge > 0).sum())


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def watch(size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A white dial (with two hands) inside a thin dark ring on white; and the disc's mask."""
    yy, xx = np.indices((size, size))
    r = np.hypot(yy - size / 2, xx - size / 2)
    arr = np.full((size, size, 3), 255, np.uint8)
    arr[(r > 60) & (r <= 62)] = (40, 40, 45)
    arr[(np.abs(yy - size / 2) < 2) & (xx > size / 2) & (xx < size / 2 + 45)] = (20, 20, 20)
    arr[(np.abs(xx - size / 2) < 2) & (yy < size / 2) & (yy > size / 2 - 30)] = (20, 20, 20)
    return arr, r <= 62


def test_white_dial_inside_a_dark_ring_keeps_its_interior(sb):
    arr, disc = watch()
    with api(sb, "claid") as c:
        _, cut = edit(c, png(arr), {"background": {"remove": True}}, {"format": "png"})
    alpha = np.asarray(cut.getchannel("A"))
    inner = ndimage.binary_erosion(disc, iterations=3)
    outer = ~ndimage.binary_dilation(disc, iterations=4)
    assert holes(cut) == 0
    assert alpha[inner].min() >= 250, f"{int((alpha[inner] < 250).sum())} dial pixels lost"
    assert alpha[outer].max() == 0  # the background around it is transparent


def test_white_panel_of_a_ball_on_a_transparent_png_stays(sb):
    size = 200
    yy, xx = np.indices((size, size))
    ball = np.hypot(yy - 100, xx - 100) <= 70
    arr = np.zeros((size, size, 4), np.uint8)
    arr[..., :3] = 255  # the transparent background's colour is white, like the panel's
    arr[ball] = (255, 255, 255, 255)
    arr[ball & (yy > 100)] = (200, 40, 40, 255)  # the lower half red, the upper half a white panel
    with api(sb, "claid") as c:
        _, cut = edit(c, png(arr), {"background": {"remove": True}}, {"format": "png"})
    alpha = np.asarray(cut.getchannel("A"))
    inner = ndimage.binary_erosion(ball, iterations=3)
    assert holes(cut) == 0
    assert alpha[inner].min() >= 250, f"{int((alpha[inner] < 250).sum())} ball pixels lost"
    assert alpha[~ndimage.binary_dilation(ball, iterations=4)].max() == 0
