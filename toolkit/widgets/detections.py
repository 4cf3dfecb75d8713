"""A detection browser: one image at a time with its boxes, a score slider that redraws them, next/previous.

The slider filters the boxes already fetched (a detections frame), so moving it sends nothing and creates no job:
thresholds are cheap to change, jobs are not. Boxes are read as ``toolkit.plot.detections`` reads them
(normalised ``x, y, w, h`` with a top-left origin, the EXIF-upright image, one colour per label) and drawn with
Pillow into an ``ipywidgets.Image``. Where widgets do not render (nbconvert HTML, the report), the output is a
PNG of the current image with its boxes.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import ipywidgets as W
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ..plot.detections import _labels, _open, _resolve, label_colors
from .monitor import _filter
from .notice import kernel_shell

_COLUMNS = ("file", "label", "score", "x", "y", "w", "h")


class DetectionBrowser:
    """Browse ``frame``'s images in order (``files``, default: as they first appear in the frame), drawing the
    boxes whose score is at or above the slider's value.

    ``images`` finds the files when ``frame.file`` does not (a folder, a mapping ``file -> path`` or an
    ``images_table`` frame, as ``tk.plot.gallery`` takes). Images wider than ``max_width`` are shown scaled down.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        threshold: float = 0.0,
        *,
        files: list[str] | None = None,
        images: Any = None,
        max_width: int = 960,
    ) -> None:
        missing = [c for c in _COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"detection_browser needs a detections frame; missing columns: {', '.join(missing)}")
        self.frame = frame
        self.images = images
        self.max_width = max_width
        self.files = list(files) if files is not None else list(dict.fromkeys(frame["file"].astype(str)))
        self.colors = label_colors(_labels(frame))
        self._by_file = {str(f): rows for f, rows in frame.groupby(frame["file"].astype(str), sort=False)}
        self._base: tuple[int, Image.Image] | None = None  # the current image, opened and scaled once

        self.slider = W.FloatSlider(
            value=threshold, min=0.0, max=1.0, step=0.01, description="score ≥", readout_format=".2f"
        )
        self.previous_button = W.Button(description="", icon="arrow-left", tooltip="previous image")
        self.next_button = W.Button(description="", icon="arrow-right", tooltip="next image")
        self.position = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(max_width=f"{max_width}px"))
        self.table = W.HTML(layout=W.Layout(margin="0 0 0 12px"))
        self.slider.observe(lambda _c: self._draw(), names="value")
        self.previous_button.on_click(lambda _b: self.previous())
        self.next_button.on_click(lambda _b: self.next())
        self.widget = W.VBox(
            [
                W.HBox([self.previous_button, self.next_button, self.position]),
                self.slider,
                W.HBox([self.image, self.table]),
            ]
        )
        self.widget.add_class("toolkit-detection-browser")
        self.index = 0
        self._draw()

    # -- what users call ---------------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return float(self.slider.value)

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.slider.value = value

    @property
    def file(self) -> str:
        """The current image's file (as the frame names it); "" when there is none."""
        return self.files[self.index] if self.files else ""

    def rows(self) -> pd.DataFrame:
        """Every box of the current image (the frame's rows), highest score first."""
        rows = self._by_file.get(self.file)
        if rows is None:
            return self.frame.iloc[:0]
        return rows.sort_values("score", ascending=False, kind="stable")

    def shown(self) -> pd.DataFrame:
        """The boxes drawn now: the current image's rows with score at or above the threshold."""
        rows = self.rows()
        return rows[rows["score"] >= self.threshold]

    def show(self, index: int) -> None:
        """Show image ``index`` (wrapping around at both ends)."""
        self.index = index % len(self.files) if self.files else 0
        self._draw()

    def next(self) -> None:
        self.show(self.index + 1)

    def previous(self) -> None:
        self.show(self.index - 1)

    def png(self) -> bytes:
        """The current image with the shown boxes, as PNG bytes (what the widget and the static output show)."""
        return bytes(self.image.value)

    def summary(self) -> str:
        """One line: which image, and how many of its boxes are shown at the threshold."""
        if not self.files:
            return "no images to browse"
        name = Path(self.file).name
        return (
            f"{name} (image {self.index + 1} of {len(self.files)}): "
            f"{len(self.shown())} of {len(self.rows())} boxes with score ≥ {self.threshold:.2f}"
        )

    def __repr__(self) -> str:
        listed = ", ".join(f"{r.label} {r.score:.2f}" for r in self.shown().itertuples(index=False))
        return f"<DetectionBrowser {self.summary()}{': ' + listed if listed else ''}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The live widget in a kernel, with a PNG of the current image and a text line for places where widgets
        do not render (nbconvert HTML, the report, a terminal)."""
        data: dict[str, Any] = {}
        if kernel_shell() is not None:
            data.update(self.widget._repr_mimebundle_() or {})
        data["image/png"] = base64.b64encode(self.png()).decode("ascii")
        data["text/plain"] = repr(self)
        return _filter(data, include, exclude)

    # -- drawing -----------------------------------------------------------------------------------------
    def _picture(self) -> Image.Image:
        if self._base is not None and self._base[0] == self.index:
            return self._base[1]
        try:
            img = _open(_resolve(self.file, self.images)).convert("RGB")
        except (OSError, ValueError):
            img = Image.new("RGB", (640, 480), (90, 90, 90))
            ImageDraw.Draw(img).text((12, 12), f"image not found: {self.file}", fill=(255, 255, 255))
        if img.width > self.max_width:
            img = img.resize((self.max_width, round(img.height * self.max_width / img.width)), Image.LANCZOS)
        self._base = (self.index, img)
        return img

    def _draw(self) -> None:
        if not self.files:
            self.position.value = "no images to browse"
            return
        img = self._picture().copy()
        draw = ImageDraw.Draw(img)
        W_, H = img.size
        line = max(2, round(min(W_, H) / 200))
        font = ImageFont.load_default(size=max(11, round(H / 36)))
        shown = self.shown()
        for r in shown.itertuples(index=False):
            color = _rgb(self.colors.get(str(r.label), (1.0, 1.0, 0.0)))
            left, top = r.x * W_, r.y * H
            right, bottom = left + r.w * W_, top + r.h * H
            draw.rectangle((left, top, right, bottom), outline=color, width=line)
            caption = f"{r.label} {r.score:.2f}"
            x0, y0, x1, y1 = draw.textbbox((0, 0), caption, font=font)
            tw, th = x1 - x0 + 6, y1 - y0 + 4
            ty = top - th if top - th >= 0 else top + line  # above the box, inside it at the top edge
            tx = min(max(left, 0), max(W_ - tw, 0))
            draw.rectangle((tx, ty, tx + tw, ty + th), fill=color)
            draw.text((tx + 3 - x0, ty + 2 - y0), caption, fill=(255, 255, 255), font=font)
        out = io.BytesIO()
        img.save(out, "PNG", compress_level=3)
        self.image.value = out.getvalue()
        self.position.value = (
            f'<span style="margin-left:8px">{html.escape(Path(self.file).name)} · image {self.index + 1} of '
            f"{len(self.files)} · {len(shown)} of {len(self.rows())} boxes shown</span>"
        )
        self.table.value = self._table_html()

    def _table_html(self) -> str:
        cell = "style='text-align:left;padding:1px 8px'"
        body = []
        for r in self.rows().itertuples(index=False):
            kept = r.score >= self.threshold
            color = "#%02x%02x%02x" % _rgb(self.colors.get(str(r.label), (1.0, 1.0, 0.0)))
            swatch = f"<span style='display:inline-block;width:10px;height:10px;background:{color}'></span>"
            style = "" if kept else " style='color:#999'"
            body.append(
                f"<tr{style}><td {cell}>{swatch} {html.escape(str(r.label))}</td><td {cell}>{r.score:.2f}</td>"
                f"<td {cell}>{'shown' if kept else 'below threshold'}</td></tr>"
            )
        if not body:
            return "<div style='color:#666'>no boxes in this image</div>"
        head = "".join(f"<th {cell}>{h}</th>" for h in ("label", "score", ""))
        return f"<table style='border-collapse:collapse;font-size:13px'><tr>{head}</tr>{''.join(body)}</table>"


def _rgb(color: Any) -> tuple[int, int, int]:
    r, g, b = (round(float(c) * 255) for c in tuple(color)[:3])
    return r, g, b


def detection_browser(source: Any, threshold: float = 0.0, **kwargs: Any) -> DetectionBrowser:
    """Browse an Animal Detect batch (every processed image, empty ones too, in submission order) or a
    detections frame (the images that have rows, in order) with a score slider; see ``DetectionBrowser``."""
    if isinstance(source, pd.DataFrame):
        return DetectionBrowser(source, threshold, **kwargs)
    from .. import load

    frame = load.detections(source)
    if "files" not in kwargs:
        table = load.images_table(source, read_files=False)
        kwargs["files"] = [str(f) for f in table.loc[table["processed"], "file"]]
    return DetectionBrowser(frame, threshold, **kwargs)
