"""Preflight of local inputs: expand paths, check media type by magic bytes and size, before anything is sent."""

from __future__ import annotations

import errno
import glob
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ..media import sniff
from .model import PreflightError

if TYPE_CHECKING:
    from .providers.base import Item

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}

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
    subfolder that cannot be listed is a PreflightError too, so nothing is skipped without a word; directories
    met by a glob and symbolic links to directories inside a folder are not followed.
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
        path = Path(p).expanduser()
        problem = file_problem(path, directory_ok=True)
        if problem:
            out.append(PreflightError(provider, s, problem))
        elif path.is_dir():
            found = _walk(provider, path, suffixes)
            if not found:
                out.append(
                    PreflightError(
                        provider,
                        s,
                        "the directory holds no "
                        + ("media files" if not suffixes else "/".join(sorted(suffixes)) + " files"),
                    )
                )
            out += found
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


def _walk(provider: str, folder: Path, suffixes: set[str] | None) -> list[Path | PreflightError]:
    """Every entry under ``folder`` whose name has one of ``suffixes`` (any name when None), sorted by path, via
    ``_entries``; a subfolder that cannot be listed is reported, not skipped. Links to folders are not
    followed, so the walk ends even with a link to a parent."""
    names: list[Path] = []
    unlisted: list[PreflightError] = []
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
    return sorted(
        _entries(provider, names) + unlisted, key=lambda x: Path(x.input) if isinstance(x, PreflightError) else x
    )


def media_items(
    provider: str,
    paths: str | Path | Iterable[str | Path],
    suffixes: set[str] | None,
    accepted: set[str],
    max_bytes: int | None,
    check: Callable[[str], str | None] | None = None,
) -> list["Item | PreflightError"]:
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
        out.append(
            PreflightError(provider, str(p), problem)
            if problem
            else Item(input=str(p), content=data, meta={"filename": p.name, "content_type": mime, "size": len(data)})
        )
    return out


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
        raise PreflightError(
            provider, str(path), f"the image cannot be decoded ({type(e).__name__}: {detail})"
        ) from None
