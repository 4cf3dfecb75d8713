"""Rosters for face enrollment: parse a CSV / DataFrame / list of pairs / folder into checked rows.

A roster is one row per person: an external id and a face image. ``read_roster`` finds the two columns,
resolves image paths (relative to the CSV's folder) and checks every row before anything is sent:
id present, unique and at most 255 characters; image present, JPEG or PNG by magic bytes, decodable,
at least 100x100 px and at most 10 MB. A bad row becomes a ``PreflightError`` naming the row and its id;
the other rows go on. A roster that cannot be read at all (no such file, missing columns, no rows) raises.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from ..media import jpeg_complete, png_complete, sniff
from .inputs import file_problem, read_file
from .model import PreflightError

MAX_BYTES = 10 * 1024 * 1024
MIN_SIDE = 100
MAX_ID_LENGTH = 255
ACCEPTED = ("image/jpeg", "image/png")
#: Column names recognised when ``id_column`` / ``image_column`` are not given (case-insensitive).
ID_COLUMNS = ("external_id", "external id", "externalid", "id", "employee_id", "person_id", "staff_id", "user_id")
IMAGE_COLUMNS = ("image", "image_path", "image_file", "file", "filename", "path", "photo", "picture", "img", "face")
#: Files a folder roster picks up (a non-image with one of these names is then rejected by its bytes).
FOLDER_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic"}

RosterSource = Any  # str | Path (CSV or folder) | pandas.DataFrame | Iterable[tuple[str, str | Path]]


@dataclass(frozen=True)
class RosterRow:
    """One checked roster entry. ``index`` is the row's 0-based position in the roster; ``row`` is what people
    see: a CSV's spreadsheet row (the header is row 1), a DataFrame's own index label."""

    index: int
    external_id: str
    file: Path
    sha256: str
    size: int
    mime: str
    width: int
    height: int
    row: str = ""

    def meta(self) -> dict[str, Any]:
        """What a job records about the row (JSON): enough to rebuild, verify and report it."""
        return {
            "index": self.index,
            "row": self.row or str(self.index),
            "external_id": self.external_id,
            "file": str(self.file),
            "sha256": self.sha256,
        }


@dataclass
class Roster:
    """A parsed roster: its display name, the good rows in roster order, and the rejected rows."""

    name: str
    rows: list[RosterRow]
    rejected: list[PreflightError] = field(default_factory=list)
    length: int = 0  # rows in the roster, good and bad


def read_roster(
    roster: RosterSource,
    *,
    id_column: str | None = None,
    image_column: str | None = None,
    base_dir: str | Path | None = None,
    provider: str = "faces",
    sep: str | None = None,
) -> Roster:
    """Parse and check a roster; raises ``PreflightError`` when the roster as a whole is unusable.

    A CSV's separator is ``sep``, else sniffed (``,``, ``;`` as Excel writes in much of Europe, tab, ``|``).
    Relative image paths are resolved against ``base_dir``, else the CSV's folder, else (a DataFrame or pairs)
    the working folder, which a missing file's error then names. ``images\\emp_0001.jpg`` (Windows) works too."""
    import pandas as pd

    where = "the working folder (pass base_dir= for another)"
    if base_dir:
        where = "base_dir"
    if isinstance(roster, pd.DataFrame):
        name, frame, base = "roster", roster, Path(base_dir) if base_dir else Path.cwd()
    elif isinstance(roster, (str, Path)):
        path = Path(roster).expanduser()
        if path.is_dir():
            name, frame = f"{path.name}/", _folder_frame(path, provider)
            id_column, image_column, base = "external_id", "image", path
            where = "the folder"
        elif path.is_file():
            name, frame, base = path.name, _read_csv(path, provider, sep), Path(base_dir) if base_dir else path.parent
            where = ""  # a CSV's own folder, as its docstring says: what a user expects, no note
        else:  # never opened: a FIFO or device would block or react
            problem = file_problem(path)
            raise PreflightError(
                provider,
                str(roster),
                "the roster file or folder does not exist"
                if problem in (None, "the path does not exist")
                else f"the roster {problem}",
            )
    elif isinstance(roster, Iterable):
        pairs = list(roster)
        bad = next((i for i, p in enumerate(pairs) if not (isinstance(p, (tuple, list)) and len(p) == 2)), None)
        if bad is not None:
            raise PreflightError(
                provider,
                f"roster item {bad}",
                f"expected (external_id, image path) pairs, got {type(pairs[bad]).__name__}",
            )
        name, base = "roster", Path(base_dir) if base_dir else Path.cwd()
        frame = pd.DataFrame(pairs, columns=["external_id", "image"], dtype=object)
        id_column, image_column = "external_id", "image"
    else:
        raise TypeError(
            f"a roster is a CSV path, a folder, a DataFrame or (external_id, path) pairs, not {type(roster).__name__}"
        )
    id_col, image_col = _columns(name, frame, id_column, image_column, provider)
    if len(frame) == 0:
        raise PreflightError(provider, name, "the roster has no rows")
    # a CSV's rows as a spreadsheet numbers them (header = row 1); any other roster: the frame's own index
    spreadsheet = isinstance(roster, (str, Path)) and not name.endswith("/")  # a file, not a folder
    row_names = [str(i + 2) for i in range(len(frame))] if spreadsheet else [str(x) for x in frame.index]
    return _check_rows(name, frame[id_col].tolist(), frame[image_col].tolist(), Path(base), provider, row_names, where)


def _sniff(path: Path) -> str:
    """The separator of a roster file: tab for .tsv/.tab, else what ``csv.Sniffer`` finds in its first lines
    among ``,``, ``;``, tab and ``|`` (``,`` when it cannot tell)."""
    import csv

    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            head = f.read(8192)
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except (csv.Error, OSError):
        return ","


def _read_csv(path: Path, provider: str, sep: str | None = None) -> Any:
    import pandas as pd

    sep = sep or _sniff(path)
    try:  # every cell as text: ids like "007" keep their zeros, empty cells stay ""
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise PreflightError(
            provider, path.name, f"the roster cannot be read as CSV ({type(e).__name__}: {str(e).strip()[:200]})"
        ) from None


def _folder_frame(folder: Path, provider: str) -> Any:
    import pandas as pd

    # not only regular files: a FIFO, socket, dangling link or link loop with an image name becomes a row that
    # is rejected with its reason instead of vanishing
    files = sorted(
        f
        for f in folder.iterdir()
        if not f.name.startswith(".") and f.suffix.lower() in FOLDER_SUFFIXES and not f.is_dir()
    )
    if not files:
        raise PreflightError(provider, str(folder), "the folder holds no image files")
    return pd.DataFrame({"external_id": [f.stem for f in files], "image": [f.name for f in files]}, dtype=object)


def _columns(name: str, frame: Any, id_column: Any, image_column: Any, provider: str) -> tuple[Any, Any]:
    """The id and image column names, given or recognised; a clear error listing what the roster has."""
    found = [str(c) for c in frame.columns]
    lower = {str(c).strip().lower(): c for c in frame.columns}  # -> the column itself (a DataFrame's may be ints)

    def pick(given: Any, candidates: tuple[str, ...]) -> Any:
        if given is not None:
            return given if given in list(frame.columns) else lower.get(str(given).strip().lower())
        return next((lower[c] for c in candidates if c in lower), None)

    id_col, image_col = pick(id_column, ID_COLUMNS), pick(image_column, IMAGE_COLUMNS)
    missing = []
    if id_col is None:
        missing.append(
            f"the external-id column {id_column!r}"
            if id_column
            else f"an external-id column (one of {', '.join(ID_COLUMNS[:5])}, ...; or pass id_column=)"
        )
    if image_col is None:
        missing.append(
            f"the image column {image_column!r}"
            if image_column
            else f"an image column (one of {', '.join(IMAGE_COLUMNS[:6])}, ...; or pass image_column=)"
        )
    if missing:
        cols = ", ".join(repr(c) for c in found) or "none"
        raise PreflightError(provider, name, f"the roster lacks {' and '.join(missing)}; columns found: {cols}")
    return id_col, image_col


def _text(value: Any) -> str:
    """A cell as stripped text; NaN/None -> ''; 7.0 -> '7' (numeric ids read by pandas)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_rows(
    name: str, ids: list[Any], images: list[Any], base: Path, provider: str, row_names: list[str], where: str = ""
) -> Roster:
    def label(i: int, ext_id: str) -> str:
        return f"{name} row {row_names[i]}" + (f" ({ext_id})" if ext_id else "")

    texts = [_text(v) for v in ids]
    seen: dict[str, list[int]] = defaultdict(list)
    for i, ext_id in enumerate(texts):
        if ext_id:
            seen[ext_id].append(i)
    rows: list[RosterRow] = []
    rejected: list[PreflightError] = []
    for i, (ext_id, image) in enumerate(zip(texts, images)):
        reason = _id_problem(ext_id, seen, row_names)
        if reason is None:
            try:
                rows.append(replace(_check_image(i, ext_id, _text(image), base, where), row=row_names[i]))
                continue
            except ValueError as e:
                reason = str(e)
        rejected.append(PreflightError(provider, label(i, ext_id), reason))
    return Roster(name, rows, rejected, len(texts))


def _id_problem(ext_id: str, seen: dict[str, list[int]], row_names: list[str]) -> str | None:
    if not ext_id:
        return "the external id is missing"
    if len(ext_id) > MAX_ID_LENGTH:
        return f"the external id has {len(ext_id)} characters; at most {MAX_ID_LENGTH} are accepted"
    rows = seen[ext_id]
    if len(rows) > 1:
        return f"the external id {ext_id!r} is duplicated (rows {', '.join(row_names[i] for i in rows)}); ids must be unique"
    return None


def _check_image(index: int, ext_id: str, image: str, base: Path, where: str = "") -> RosterRow:
    """A checked row, or ValueError with the reason the image cannot be enrolled."""
    if not image:
        raise ValueError("the image path is missing")
    # a roster written on Windows: images\emp_0001.jpg (a backslash is never a separator here otherwise)
    path = Path(image.replace("\\", "/") if os.sep == "/" else image).expanduser()
    relative = not path.is_absolute()
    if relative:
        path = base / path
    problem = file_problem(path)  # by stat alone: a FIFO or device is never opened
    if problem == "the path does not exist":
        against = f" (relative paths are resolved against {where}: {base})" if relative and where else ""
        raise ValueError(f"the image file {image} does not exist{against}")
    if problem:
        raise ValueError(f"the image path {image} {problem}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"the image file {image} is empty")
    if size > MAX_BYTES:
        raise ValueError(f"the image file {image} is {size / 1e6:.1f} MB; at most 10 MB is accepted")
    try:
        data = read_file("faces", path, MAX_BYTES)
    except PreflightError as e:
        raise ValueError(f"the image file {image} {e.message.removeprefix('the file ')}") from None
    mime = sniff(data)
    if mime not in ACCEPTED:
        what = f"is {mime}" if mime else "is not an image (by its content)"
        raise ValueError(f"the file {image} {what}; only JPEG or PNG images are accepted")
    width, height = image_size(data, image)
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"the image {image} is {width}x{height} px; at least {MIN_SIDE}x{MIN_SIDE} px is needed")
    return RosterRow(index, ext_id, path.resolve(), hashlib.sha256(data).hexdigest(), size, mime, width, height)


def image_size(data: bytes, name: str = "image") -> tuple[int, int]:
    """Width and height after decoding the whole image (a truncated file raises ValueError)."""
    from PIL import Image

    # checked on the bytes too: Pillow decodes a cut-off file when something in the process (megadetector-utils
    # does it on import) has set ImageFile.LOAD_TRUNCATED_IMAGES
    if data[:2] == b"\xff\xd8" and not jpeg_complete(data):
        raise ValueError(f"the image {name} cannot be decoded: it is truncated (no JPEG end-of-image marker)")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and not png_complete(data):
        raise ValueError(f"the image {name} cannot be decoded: it is truncated (no PNG IEND chunk)")
    try:
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
            im.draft("L", (MIN_SIDE, MIN_SIDE))  # JPEG: decode at reduced scale; still reads every byte
            im.load()
    except Exception as e:
        raise ValueError(f"the image {name} cannot be decoded ({type(e).__name__}: {e})") from None
    return size
