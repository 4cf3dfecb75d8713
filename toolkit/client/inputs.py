"""Preflight of local inputs: expand paths, check media type by magic bytes and size, before anything is sent."""

from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ..media import sniff
from .model import PreflightError

if TYPE_CHECKING:
    from .providers.base import Item

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def expand(provider: str, paths: str | Path | Iterable[str | Path], suffixes: set[str] | None = None
           ) -> list[Path | PreflightError]:
    """Files named by paths, globs and directories, in a stable order; unusable names become PreflightErrors."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path | PreflightError] = []
    for p in paths:
        s = str(p)
        if any(c in s for c in "*?["):
            matches = sorted(glob.glob(s, recursive=True))
            if not matches:
                out.append(PreflightError(provider, s, "the pattern matches no file"))
            out += [Path(m) for m in matches if Path(m).is_file()]
            continue
        path = Path(p).expanduser()
        if not path.exists():
            out.append(PreflightError(provider, s, "the path does not exist"))
        elif path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and (not suffixes or f.suffix.lower() in suffixes))
            if not files:
                out.append(PreflightError(provider, s, "the directory holds no " + ("media files" if not suffixes else
                                                                                    "/".join(sorted(suffixes)) + " files")))
            out += files
        else:
            out.append(path)
    return out


def media_items(provider: str, paths: str | Path | Iterable[str | Path], suffixes: set[str] | None,
                accepted: set[str], max_bytes: int | None,
                check: Callable[[str], str | None] | None = None) -> list["Item | PreflightError"]:
    """Expand ``paths`` and read each file (``read_media``) into an ``Item``; every unusable one becomes a
    PreflightError naming it. ``check(mime)`` may refuse a readable type with a reason (e.g. per task)."""
    from .providers.base import Item

    out: list[Item | PreflightError] = []
    for p in expand(provider, paths, suffixes):
        if isinstance(p, PreflightError):
            out.append(p)
            continue
        try:
            data, mime = read_media(provider, p, accepted, max_bytes)
        except PreflightError as e:
            out.append(e)
            continue
        problem = check(mime) if check else None
        out.append(PreflightError(provider, str(p), problem) if problem else
                   Item(input=str(p), content=data, meta={"filename": p.name, "content_type": mime,
                                                          "size": len(data)}))
    return out


def read_media(provider: str, path: Path, accepted: set[str], max_bytes: int | None) -> tuple[bytes, str]:
    """The file's bytes and MIME type by magic bytes, or a PreflightError naming the file and the reason.

    A file whose extension lies (a PNG named .jpg) is fine: it is sent as what its bytes say.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PreflightError(provider, str(path), f"cannot be read ({e.strerror or e})") from None
    if not data:
        raise PreflightError(provider, str(path), "the file is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise PreflightError(provider, str(path),
                             f"the file is {len(data) / 1e6:.1f} MB; {provider} accepts at most {max_bytes / 1e6:.0f} MB")
    mime = sniff(data)
    if mime is None:
        raise PreflightError(provider, str(path), "the content is not a recognised media file (magic bytes)")
    if mime not in accepted:
        raise PreflightError(provider, str(path), f"the content is {mime}; this operation accepts {', '.join(sorted(accepted))}")
    if mime.startswith("image/"):
        _check_image(provider, path, data)
    return data, mime


def _check_image(provider: str, path: Path, data: bytes) -> None:
    """Decode the image fully so a truncated file is caught here, not after paying for a job."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as e:
        detail = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", str(e))  # no per-run memory addresses
        raise PreflightError(provider, str(path), f"the image cannot be decoded ({type(e).__name__}: {detail})") from None
