"""Preflight of local inputs: expand paths, check media type by magic bytes and size, before anything is sent."""

from __future__ import annotations

import concurrent.futures
import errno
import glob
import hashlib
import io
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ..media import jpeg_complete, sniff
from .filedata import FileInput
from .model import SKIPPED, PreflightError

if TYPE_CHECKING:
    from .providers.base import Item

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
#: suffixes of image files (a folder of these holds "images"; otherwise "media files")
_IMAGE_NAMES = IMAGE_SUFFIXES | {".gif", ".bmp", ".tif", ".tiff", ".avif"}
#: preflight threads: decoding and hashing release the GIL, and each thread holds one file at a time
WORKERS = min(8, 2 * (os.cpu_count() or 1))
#: what ``expand`` says of a path that names nothing (``file_problem``'s words are kept for rosters and AOIs)
MISSING = "no such file or folder"

#: what ``expand`` says of a URL (only Claid fetches URLs itself; it reads them before ``expand``)
_URL = "is a URL, not a local file: download it first, or use Claid (ws.claid.edit), which accepts URLs"

#: What a path is when it is not a regular file or a directory (by ``stat`` mode).
_SPECIAL = (
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a file"),
    (stat.S_ISSOCK, "is a socket, not a file"),
    (stat.S_ISCHR, "is a character device, not a file"),
    (stat.S_ISBLK, "is a block device, not a file"),
)


def file_problem(path: Path, *, directory_ok: bool = False) -> str | None:
    """Why ``path`` is not a regular file to read, found with ``os.stat`` alone (never opened, so a FIFO or a
    device cannot block or react); None for a regular file, and for a directory when ``directory_ok``."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links, as reading would
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symbolic link loop (too many levels of symbolic links)"
        if e.errno == errno.ENOENT and os.path.islink(path):
            try:
                target = os.readlink(path)
            except OSError:
                return "is a dangling symbolic link (its target does not exist)"
            return f"is a dangling symbolic link (its target {target} does not exist)"
        if e.errno == errno.ENOENT:
            return "the path does not exist"
        return f"cannot be inspected ({e.strerror or e})"
    if stat.S_ISREG(mode) or (directory_ok and stat.S_ISDIR(mode)):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    return next((reason for test, reason in _SPECIAL if test(mode)), "is not a regular file")


def read_file(provider: str, path: Path, max_bytes: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, or a PreflightError naming it and the reason.

    Checked by ``stat`` before it is opened, and again on the open descriptor (opened non-blocking) in case the
    path was swapped for a FIFO or device in between; over ``max_bytes`` it is refused without reading it whole.
    """
    problem = file_problem(path)
    if problem:
        raise PreflightError(provider, str(path), problem)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
        with open(fd, "rb", closefd=True) as f:  # owns fd from here on
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                problem = next((r for test, r in _SPECIAL if test(st.st_mode)), "is not a regular file")
                raise PreflightError(provider, str(path), problem)
            if max_bytes is not None and st.st_size > max_bytes:
                raise PreflightError(provider, str(path), _too_big(provider, st.st_size, max_bytes))
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)  # +1: a file that grew is caught
    except OSError as e:
        raise PreflightError(provider, str(path), f"cannot be read ({e.strerror or e})") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise PreflightError(provider, str(path), _too_big(provider, max(len(data), st.st_size), max_bytes))
    return data


def _too_big(provider: str, size: int, max_bytes: int) -> str:
    return f"the file is {size / 1e6:.1f} MB; {provider} accepts at most {max_bytes / 1e6:.0f} MB"


def expand(
    provider: str, paths: str | Path | Iterable[str | Path], suffixes: set[str] | None = None
) -> list[Path | PreflightError]:
    """Files named by paths, globs and directories, in a stable order; unusable names become PreflightErrors.

    Inside a directory (or among a glob's matches) a FIFO, socket, device, dangling link, link loop or a
    subfolder that cannot be listed is a PreflightError too; each file skipped for its name (not one of
    ``suffixes``; hidden files aside) is one with the code ``SKIPPED``, which a batch counts, not warns about; directories met by a glob and
    symbolic links to directories inside a folder are not followed.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path | PreflightError] = []
    for p in paths:
        s = str(p)
        if any(c in s for c in "*?["):
            matches = sorted(glob.glob(s, recursive=True))
            if not matches:
                out.append(PreflightError(provider, s, "the pattern matches no file"))
            out += _entries(provider, [Path(m) for m in matches])
            continue
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", s):
            out.append(PreflightError(provider, s, _URL))
            continue
        path = Path(p).expanduser()
        problem = file_problem(path, directory_ok=True)
        if problem:
            out.append(PreflightError(provider, s, MISSING if problem == "the path does not exist" else problem))
        elif path.is_dir():
            found, skipped = _walk(provider, path, suffixes)
            if not found:
                out.append(PreflightError(provider, s, _nothing_in(suffixes, skipped)))
                continue
            what = _noun(suffixes)[1]
            out += sorted(
                found + [PreflightError(provider, str(f), f"skipped: not {what}", SKIPPED) for f in skipped],
                key=lambda x: Path(x.input or "") if isinstance(x, PreflightError) else x,
            )
        else:
            out.append(path)
    return out


def _entries(provider: str, paths: list[Path]) -> list[Path | PreflightError]:
    """Regular files as they are, directories dropped, anything else a PreflightError with its reason."""
    out: list[Path | PreflightError] = []
    for path in paths:
        problem = file_problem(path, directory_ok=True)
        if problem:
            out.append(PreflightError(provider, str(path), problem))
        elif not path.is_dir():
            out.append(path)
    return out


def _walk(provider: str, folder: Path, suffixes: set[str] | None) -> tuple[list[Path | PreflightError], list[Path]]:
    """Every entry under ``folder`` whose name has one of ``suffixes`` (any name when None), sorted by path, via
    ``_entries``; a subfolder that cannot be listed is reported, not skipped. Also the files left out for their
    name (hidden files, e.g. ``.DS_Store``, are not counted). Links to folders are not followed, so the walk
    ends even with a link to a parent."""
    names: list[Path] = []
    skipped: list[Path] = []
    unlisted: list[Path | PreflightError] = []
    pending = [folder]
    while pending:
        here = pending.pop()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError as e:
            unlisted.append(PreflightError(provider, str(here), f"the folder cannot be listed ({e.strerror or e})"))
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                pending.append(here / entry.name)
            elif not suffixes or os.path.splitext(entry.name)[1].lower() in suffixes:
                names.append(here / entry.name)
            elif not entry.name.startswith("."):
                skipped.append(here / entry.name)
    found = sorted(
        _entries(provider, names) + unlisted, key=lambda x: Path(x.input or "") if isinstance(x, PreflightError) else x
    )
    return found, sorted(skipped)


def _noun(suffixes: set[str] | None) -> tuple[str, str]:
    """What a folder is searched for: ("images", "an image") or ("media files", "a media file"), with the
    accepted suffixes."""
    exts = f" ({'/'.join(sorted(suffixes))})" if suffixes else ""
    if suffixes and suffixes <= _IMAGE_NAMES:
        return "images" + exts, "an image" + exts
    return "media files" + exts, "a media file" + exts


def _nothing_in(suffixes: set[str] | None, skipped: list[Path]) -> str:
    """Why a folder gave no input: empty, or every file skipped (counted, the first few named)."""
    if not skipped:
        return f"no {_noun(suffixes)[0]} in folder (it is empty)"
    names = ", ".join(p.name for p in skipped[:3]) + (", …" if len(skipped) > 3 else "")
    return f"no {_noun(suffixes)[0]} in folder ({len(skipped)} file{'s' * (len(skipped) > 1)} skipped: {names})"


def media_items(
    provider: str,
    paths: str | Path | Iterable[str | Path],
    suffixes: set[str] | None,
    accepted: set[str],
    max_bytes: int | None,
    check: Callable[[str], str | None] | None = None,
) -> list["Item | PreflightError"]:
    """Expand ``paths`` and preflight each file (``preflight_file``, on a few threads) into an ``Item`` that
    refers to the file (``FileInput``) instead of holding its bytes; every unusable one becomes a
    PreflightError naming it. ``check(mime)`` may refuse a readable type with a reason (e.g. per task)."""
    from .providers.base import Item

    def one(p: Path | PreflightError) -> Item | PreflightError:
        if isinstance(p, PreflightError):
            return p
        try:
            content, mime = preflight_file(provider, p, accepted, max_bytes)
        except PreflightError as e:
            return e
        problem = check(mime) if check else None
        if problem:
            return PreflightError(provider, str(p), problem)
        return Item(
            input=str(p), content=content, meta={"filename": p.name, "content_type": mime, "size": len(content)}
        )

    found = expand(provider, paths, suffixes)
    if len(found) < 4:
        return [one(p) for p in found]
    with concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="toolkit-preflight") as pool:
        return list(pool.map(one, found))


def preflight_file(provider: str, path: Path, accepted: set[str], max_bytes: int | None) -> tuple[FileInput, str]:
    """Check one file as ``read_media`` does and keep only its size and sha256: the bytes are read again (and
    compared with the digest) when they are sent."""
    data, mime = read_media(provider, path, accepted, max_bytes)
    return FileInput(provider, path, len(data), hashlib.sha256(data).hexdigest()), mime


def read_media(provider: str, path: Path, accepted: set[str], max_bytes: int | None) -> tuple[bytes, str]:
    """The file's bytes and MIME type by magic bytes, or a PreflightError naming the file and the reason.

    A file whose extension lies (a PNG named .jpg) is fine: it is sent as what its bytes say.
    """
    data = read_file(provider, path, max_bytes)
    if not data:
        raise PreflightError(provider, str(path), "the file is empty")
    mime = sniff(data)
    if mime is None:
        raise PreflightError(provider, str(path), "the content is not a recognised media file (magic bytes)")
    if mime not in accepted:
        raise PreflightError(
            provider, str(path), f"the content is {mime}; this operation accepts {', '.join(sorted(accepted))}"
        )
    if mime.startswith("image/"):
        _check_image(provider, path, data, mime)
    return data, mime


def _check_image(provider: str, path: Path, data: bytes, mime: str | None = None) -> None:
    """Prove the image decodable, cheaply, so a broken file is caught here, not after paying for a job.

    JPEG: Pillow parses every header segment, and the scan data must run to an end-of-image marker (a cut
    file, the usual damage, has none); decoding the entropy-coded data in full would cost ~10 ms per MB.
    PNG: ``verify()`` checks every chunk's CRC without inflating. Other formats are decoded.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if mime == "image/jpeg" and im.format == "JPEG":
                if not jpeg_complete(data):
                    raise OSError("image file is truncated (no end-of-image marker after the scan data)")
            elif mime == "image/png" and im.format == "PNG":
                im.verify()
            else:
                im.load()
    except Exception as e:
        detail = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", str(e))  # no per-run memory addresses
        raise PreflightError(
            provider, str(path), f"the image cannot be decoded ({type(e).__name__}: {detail})"
        ) from None
