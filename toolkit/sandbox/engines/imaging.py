"""Claid engine: really applies the image-edit operations with Pillow/numpy (deterministic, no AI).

Order: restorations -> background -> adjustments -> resizing -> padding -> output encoding.

- restorations: ``decompress`` = 3x3 median filter ("strong") or Pillow SMOOTH ("moderate"/"auto");
  ``polish`` = UnsharpMask(2, 60, 2); ``upscale`` makes every enlargement use Lanczos and, without resizing,
  doubles images under 1 MP (Lanczos).
- background.remove: the background is what touches the border. Near-background pixels (within max(28,
  Otsu/2) in RGB of a k-means colour of the border strip, or transparent where the input's border is) are
  flood-filled from the edges; everything else is the object, so a white dial inside a dark ring stays. The
  mask is opened, its holes filled, specks under 2 % of the largest part dropped, closed, then feathered
  (Gaussian sigma 1) into the alpha channel.
  ``color`` "#rrggbb" fills the removed background, "transparent"/absent keeps alpha.
  ``blur`` (without remove) blurs the pixels the same matting calls background.
- adjustments (-100..100): exposure = brightness x 2^(v/100) (+-1 stop); saturation, contrast, sharpness =
  Pillow ImageEnhance with factor 1 + v/100; hdr (0..100) = blend with ImageOps.autocontrast by v/100.
- resizing: width/height in px or "N%" of the current size (one missing keeps the aspect ratio). fit:
  crop (cover then crop; "center", or "smart" = window centred on the Sobel-gradient centroid),
  bounds (fit inside), cover (cover, no crop), canvas (fit inside, then fill to the box with the
  background), outpaint (fit inside, then extend to the box by replicating edge pixels).
- padding: CSS-like 1-4 values ("10%", "20px", 20); the output size stays the same and the content is scaled
  into the inner box. Fill: background colour, else transparent (alpha images) or white.
- privacy and generative: accepted and echoed, documented no-ops (no detector or generator here).
- output: jpeg | png | webp | avif (if this Pillow has it) with quality; jpeg flattens alpha onto white.
"""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

FORMATS = {
    "jpeg": ("JPEG", "image/jpeg", "jpeg"),
    "png": ("PNG", "image/png", "png"),
    "webp": ("WEBP", "image/webp", "webp"),
    "avif": ("AVIF", "image/avif", "avif"),
}
MIMES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "AVIF": "image/avif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}
MAX_PIXELS = 64_000_000  # output size guard (PC): keeps a local sandbox from exhausting memory


class EditError(ValueError):
    """The image could not be read or an operation could not be applied; the task ends in ERROR."""


def describe(size: tuple[int, int], fmt: str) -> dict[str, Any]:
    """The ``input_object`` / ``output_object`` fields for an image of ``size`` and format ``fmt`` (Pillow name)."""
    fmt, (width, height) = fmt.upper(), size
    return {
        "ext": fmt.lower(),
        "mps": round(width * height / 1e6, 6),
        "mime": MIMES.get(fmt, f"image/{fmt.lower()}"),
        "format": fmt,
        "width": width,
        "height": height,
    }


def probe(data: bytes) -> dict[str, Any] | None:
    """Header-only description of the input, or None when it is not an image Pillow knows."""
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        rotated = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientations that swap the axes
        return describe((h, w) if rotated else (w, h), img.format or "")
    except Exception:
        return None


def decode(data: bytes) -> tuple[Image.Image, str]:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
        fmt = img.format or ""
        img = ImageOps.exif_transpose(img)
    except Exception as e:
        reason = type(e).__name__
        raise EditError(f"Can't read the input image: the file is not a decodable image ({reason}).") from None
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    return img.convert("RGBA" if has_alpha else "RGB"), fmt


def parse_color(value: str | None) -> tuple[int, int, int] | None:
    """ "#rrggbb" / "#rgb" -> RGB; None or "transparent" -> None."""
    if not value or value.lower() == "transparent":
        return None
    h = value.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def _fill(img: Image.Image, bg: tuple[int, int, int] | None) -> tuple[int, ...]:
    if bg is not None:
        return (*bg, 255) if img.mode == "RGBA" else bg
    return (0, 0, 0, 0) if img.mode == "RGBA" else (255, 255, 255)


# -- restorations -----------------------------------------------------------------------------------------
def restore(img: Image.Image, ops: dict[str, Any], resizing: bool) -> Image.Image:
    decompress = (ops.get("decompress") or "").lower()
    if decompress == "strong":
        img = img.filter(ImageFilter.MedianFilter(3))
    elif decompress in ("moderate", "auto"):
        img = img.filter(ImageFilter.SMOOTH)
    if ops.get("upscale") and not resizing and img.width * img.height < 1_000_000:
        img = img.resize((img.width * 2, img.height * 2), Image.Resampling.LANCZOS)
    if ops.get("polish"):
        img = img.filter(ImageFilter.UnsharpMask(2, 60, 2))
    return img


# -- background ---------------------------------------------------------------------------------------------
def border_strip(arr: "Any") -> "Any":
    """The pixels of the outer strip (2 % of the short side, >= 1 px) of an H x W (x C) array, as rows."""
    import numpy as np

    h, w = arr.shape[:2]
    b = max(1, round(min(h, w) * 0.02))
    rest = arr.shape[2:]
    return np.concatenate(
        [
            arr[:b].reshape(-1, *rest),
            arr[-b:].reshape(-1, *rest),
            arr[:, :b].reshape(-1, *rest),
            arr[:, -b:].reshape(-1, *rest),
        ]
    )


def background_region(candidate: "Any") -> "Any":
    """The ``candidate`` pixels connected to the image border: the flood fill from the edges."""
    import numpy as np
    from scipy import ndimage

    labels, _ = ndimage.label(candidate)
    edge = np.unique(border_strip(labels[..., None])[:, 0])
    return np.isin(labels, edge[edge > 0])


def foreground_mask(img: Image.Image) -> "Any":
    """Float alpha in 0..1: 0 on the background, i.e. near-background pixels connected to the border.

    An input whose border is already transparent is its own matte (the background is its transparent pixels);
    otherwise the background colours are the k-means centres (k=4) holding >= 15 % of the border strip and a pixel is
    near-background within max(28, Otsu/2) of the nearest centre. Only near-background pixels reachable from
    the edges are removed, so a white dial inside a dark ring or a white panel of a ball stays.
    """
    import numpy as np
    from scipy import ndimage
    from scipy.cluster.vq import kmeans2
    from skimage import filters

    rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
    alpha = rgba[..., 3]
    if img.mode == "RGBA" and float(np.median(border_strip(alpha))) < 128:
        candidate = alpha < 128
    else:
        rgb = rgba[..., :3]
        border = border_strip(rgb).astype(np.float64)
        centres = np.median(border, axis=0)[None]
        if len(np.unique(border.round(), axis=0)) > 4:
            found, which = kmeans2(border, 4, seed=0, minit="++")
            share = np.bincount(which, minlength=len(found)) / len(which)
            centres = found[share >= 0.15]  # smaller clusters are objects that touch the edge (a strap)
        dist = np.min([np.sqrt(((rgb - c) ** 2).sum(axis=-1)) for c in centres], axis=0)
        thresh = 28.0
        if float(dist.max() - dist.min()) > 1e-3:
            thresh = max(thresh, float(filters.threshold_otsu(dist)) / 2)
        candidate = dist <= thresh
    mask = ~background_region(candidate)
    mask = ndimage.binary_fill_holes(ndimage.binary_opening(mask, iterations=1))
    labels, n = ndimage.label(mask)
    if n > 1:  # specks of a busy background: keep the parts of at least 2 % of the largest one
        sizes = np.bincount(labels.ravel())[1:]
        mask = np.isin(labels, 1 + np.flatnonzero(sizes >= 0.02 * sizes.max()))
    mask = ndimage.binary_closing(mask, iterations=2)
    return ndimage.gaussian_filter(mask.astype(np.float32), 1.0).clip(0.0, 1.0)


def background(img: Image.Image, ops: dict[str, Any]) -> tuple[Image.Image, tuple[int, int, int] | None]:
    """Apply ``background``; returns the image and the fill colour later steps use (None: default)."""
    import numpy as np

    color = parse_color(ops.get("color"))
    remove, blur = ops.get("remove"), ops.get("blur")
    if not remove and not blur:
        return img, color
    alpha = foreground_mask(img)
    if remove:
        if img.mode == "RGBA":
            alpha = alpha * (np.asarray(img.getchannel("A"), np.float32) / 255.0)
        rgba = img.convert("RGBA")
        rgba.putalpha(Image.fromarray((alpha * 255).round().astype(np.uint8)))
        if color is None:
            return rgba, None
        flat = Image.new("RGB", img.size, color)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat, color
    level = {"low": 2, "medium": 5, "high": 10}.get(str((blur or {}).get("level", "medium")).lower(), 5)
    blurred = img.filter(ImageFilter.GaussianBlur(level))
    return Image.composite(img, blurred, Image.fromarray((alpha * 255).round().astype(np.uint8))), color


# -- adjustments ----------------------------------------------------------------------------------------------
def adjust(img: Image.Image, ops: dict[str, Any]) -> Image.Image:
    alpha = img.getchannel("A") if img.mode == "RGBA" else None
    rgb = img.convert("RGB")
    hdr = ops.get("hdr")
    intensity = hdr.get("intensity", 100) if isinstance(hdr, dict) else hdr
    if intensity:
        rgb = Image.blend(rgb, ImageOps.autocontrast(rgb, cutoff=1), float(intensity) / 100)
    if ops.get("exposure"):
        rgb = ImageEnhance.Brightness(rgb).enhance(2 ** (float(ops["exposure"]) / 100))
    for key, enhancer in (
        ("saturation", ImageEnhance.Color),
        ("contrast", ImageEnhance.Contrast),
        ("sharpness", ImageEnhance.Sharpness),
    ):
        if ops.get(key):
            rgb = enhancer(rgb).enhance(1 + float(ops[key]) / 100)
    if alpha is not None:
        rgb.putalpha(alpha)
    return rgb


# -- resizing ------------------------------------------------------------------------------------------------
def _dim(value: int | str | None, current: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.endswith("%"):
        return max(1, round(current * float(value[:-1]) / 100))
    return int(value)


def target_size(img: Image.Image, ops: dict[str, Any]) -> tuple[int, int] | None:
    w, h = _dim(ops.get("width"), img.width), _dim(ops.get("height"), img.height)
    if w is None and h is None:
        return None
    if w is None:
        w = max(1, round(img.width * h / img.height))
    if h is None:
        h = max(1, round(img.height * w / img.width))
    if w * h > MAX_PIXELS:
        raise EditError(f"The requested output of {w}x{h} px exceeds the sandbox limit of {MAX_PIXELS // 10**6} MP.")
    return w, h


def _smart_center(img: Image.Image) -> tuple[float, float]:
    """Centroid of Sobel gradient magnitude, as fractions of width and height."""
    import numpy as np
    from scipy import ndimage

    grey = np.asarray(img.convert("L"), np.float32)
    mag = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
    total = float(mag.sum())
    if total <= 0:
        return 0.5, 0.5
    cy, cx = ndimage.center_of_mass(mag)
    return float(cx) / img.width, float(cy) / img.height


def resize(img: Image.Image, ops: dict[str, Any], bg: tuple[int, int, int] | None) -> Image.Image:
    size = target_size(img, ops)
    if size is None:
        return img
    tw, th = size
    fit = ops.get("fit") or "crop"
    crop_mode = "center"
    if isinstance(fit, dict):
        crop_mode, fit = str(fit.get("crop", "center")).lower(), "crop"
    fit = fit.lower()
    lanczos = Image.Resampling.LANCZOS
    cover = max(tw / img.width, th / img.height)
    inside = min(tw / img.width, th / img.height)

    def scaled(f: float) -> Image.Image:
        return img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), lanczos)

    if fit == "cover":
        return scaled(cover)
    if fit == "bounds":
        return scaled(inside)
    if fit == "crop":
        cx, cy = _smart_center(img) if crop_mode == "smart" else (0.5, 0.5)
        big = scaled(cover)
        left = min(max(0, round(cx * big.width - tw / 2)), big.width - tw)
        top = min(max(0, round(cy * big.height - th / 2)), big.height - th)
        return big.crop((left, top, left + tw, top + th))
    small = scaled(inside)
    left, top = (tw - small.width) // 2, (th - small.height) // 2
    if fit == "outpaint":
        import numpy as np

        arr = np.asarray(small)
        pad = [(top, th - small.height - top), (left, tw - small.width - left)] + [(0, 0)] * (arr.ndim - 2)
        return Image.fromarray(np.pad(arr, pad, mode="edge"), small.mode)
    canvas = Image.new(small.mode, (tw, th), _fill(small, bg))
    canvas.paste(small, (left, top))
    return canvas


# -- padding ---------------------------------------------------------------------------------------------------
PAD_VALUE = re.compile(r"^(\d+(?:\.\d+)?)(%|px)?$")


def parse_padding(value: str | int) -> list[tuple[float, str]]:
    """CSS-like 1-4 values -> [(top), (right), (bottom), (left)] each (amount, "%"|"px")."""
    parts = [str(value)] if isinstance(value, int) else str(value).split()
    if not 1 <= len(parts) <= 4:
        raise ValueError("padding takes 1 to 4 values")
    vals = []
    for p in parts:
        m = PAD_VALUE.match(p.strip().lower())
        if not m:
            raise ValueError(f"{p!r} is not a percentage (10%) or pixel value (10px)")
        vals.append((float(m.group(1)), m.group(2) or "px"))
    if any(u == "%" and v >= 50 for v, u in vals):
        raise ValueError("a percentage padding must be below 50%")
    t, r, b, l = {1: lambda v: v * 4, 2: lambda v: v * 2, 3: lambda v: [v[0], v[1], v[2], v[1]], 4: lambda v: v}[
        len(vals)
    ](vals)
    return [t, r, b, l]


def pad(img: Image.Image, value: str | int, bg: tuple[int, int, int] | None) -> Image.Image:
    (t, tu), (r, ru), (b, bu), (l, lu) = parse_padding(value)
    px = lambda v, u, size: round(size * v / 100) if u == "%" else round(v)  # noqa: E731
    top, bottom = px(t, tu, img.height), px(b, bu, img.height)
    left, right = px(l, lu, img.width), px(r, ru, img.width)
    iw, ih = img.width - left - right, img.height - top - bottom
    if iw < 1 or ih < 1:
        raise EditError(f"The padding leaves no room for the image ({img.width}x{img.height} px).")
    f = min(iw / img.width, ih / img.height)
    inner = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.LANCZOS)
    canvas = Image.new(img.mode, img.size, _fill(img, bg))
    canvas.paste(inner, (left + (iw - inner.width) // 2, top + (ih - inner.height) // 2))
    return canvas


# -- the whole edit -------------------------------------------------------------------------------------------
def encode(img: Image.Image, output: dict[str, Any], bg: tuple[int, int, int] | None) -> tuple[bytes, str]:
    fmt = output.get("format") or "jpeg"
    opts = fmt if isinstance(fmt, dict) else {"type": fmt}
    kind = str(opts.get("type", "jpeg")).lower()
    pil_fmt = FORMATS[kind][0]
    if pil_fmt not in Image.SAVE:
        from PIL import features  # noqa: F401  (registers optional plugins such as AVIF)

        Image.init()
        if pil_fmt not in Image.SAVE:
            raise EditError(f"The sandbox's Pillow cannot write {kind}.")
    params: dict[str, Any] = {}
    if kind == "jpeg":
        if img.mode == "RGBA":
            flat = Image.new("RGB", img.size, bg or (255, 255, 255))
            flat.paste(img, mask=img.getchannel("A"))
            img = flat
        params = {"quality": int(opts.get("quality", 90)), "progressive": bool(opts.get("progressive", False))}
    elif kind in ("webp", "avif"):
        params = {"quality": int(opts.get("quality", 90))}
    elif kind == "png":
        params = {"optimize": str(opts.get("compression", "")).lower() == "optimal"}
    buf = io.BytesIO()
    img.save(buf, pil_fmt, **params)
    return buf.getvalue(), pil_fmt


def edit(data: bytes, operations: dict[str, Any], output: dict[str, Any]) -> tuple[bytes, dict, dict]:
    """Apply ``operations`` and encode per ``output``: (bytes, input_object, output_object)."""
    img, in_fmt = decode(data)
    input_object = describe(img.size, in_fmt)
    resizing = operations.get("resizing") or {}
    img = restore(img, operations.get("restorations") or {}, bool(resizing))
    img, bg = background(img, operations.get("background") or {})
    img = adjust(img, operations.get("adjustments") or {})
    img = resize(img, resizing, bg)
    if operations.get("padding") not in (None, ""):
        img = pad(img, operations["padding"], bg)
    out, out_fmt = encode(img, output, bg)
    output_object = describe(Image.open(io.BytesIO(out)).size, out_fmt)
    output_object["sandbox"] = True
    return out, input_object, output_object
