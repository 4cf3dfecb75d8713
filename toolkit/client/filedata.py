"""A preflighted local file held by reference, not by value: its bytes are read again whenever they are needed
(idempotency key, upload) and checked against what preflight saw, so memory stays bounded by the files in
flight, not by the batch, and a file changed after preflight is never sent.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

from .model import JobError

CHUNK = 1 << 18  # 256 KiB: few syscalls, little memory per upload in flight
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class InputChanged(JobError):
    """The file differs from what preflight checked: it is not sent (the job fails with INPUT_CHANGED)."""

    def __init__(self, provider: str, path: Path, what: str) -> None:
        super().__init__(
            provider,
            "INPUT_CHANGED",
            f"{path} changed after preflight ({what}); it was not sent",
            input=str(path),
            hint="re-run the call: the file is checked again and sent as a new job",
        )


@dataclass(eq=False)
class FileInput:
    """The bytes of ``path`` as preflight checked them: ``size`` bytes whose sha256 is ``digest``.

    Used where an ``Item`` held ``bytes``: ``len()`` is the size; iterating it asynchronously streams the
    verified bytes (an httpx request body, re-iterable for retries); ``read()`` returns them whole.
    """

    provider: str
    path: Path
    size: int
    digest: str

    def __len__(self) -> int:
        return self.size

    def _open(self) -> int:
        try:
            fd = os.open(self.path, OPEN_FLAGS)
        except OSError as e:
            raise InputChanged(self.provider, self.path, f"it cannot be opened: {e.strerror or e}") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO or a device: never read from it
            os.close(fd)
            raise InputChanged(self.provider, self.path, "it is no longer a regular file")
        if st.st_size != self.size:
            os.close(fd)
            raise InputChanged(self.provider, self.path, f"{st.st_size} bytes instead of {self.size}")
        return fd

    def chunks(self) -> Iterator[bytes]:
        """The bytes in chunks, hashed as they are read; the last chunk is only given once the whole file has
        proved equal to the preflighted one, so a consumer never completes a body with other bytes."""
        fd = self._open()
        h = hashlib.sha256()
        try:
            left = self.size
            while left:
                data = os.read(fd, min(CHUNK, left))
                if not data:
                    raise InputChanged(self.provider, self.path, "it got shorter while it was read")
                h.update(data)
                left -= len(data)
                if not left:
                    if os.read(fd, 1):
                        raise InputChanged(self.provider, self.path, "it grew while it was read")
                    if h.hexdigest() != self.digest:
                        raise InputChanged(self.provider, self.path, "its content differs (sha256)")
                yield data
        finally:
            os.close(fd)

    def read(self) -> bytes:
        """The whole content, verified (for bodies that must be bytes, e.g. small multipart uploads)."""
        return b"".join(self.chunks())

    def verify(self) -> None:
        """Raise ``InputChanged`` unless the file still holds the preflighted bytes."""
        for _ in self.chunks():
            pass

    def feed(self, h: Any) -> None:
        """Stream the content into hash ``h`` (the idempotency key) without holding it. Not verified here (one
        hash, not two): bytes that changed since preflight are refused when they would be sent, and a file
        that cannot be read now gets a key of its own (its job then fails with INPUT_CHANGED, unsent)."""
        try:
            fd = self._open()
        except InputChanged:
            h.update(b"changed since preflight: " + self.digest.encode())
            return
        try:
            while data := os.read(fd, CHUNK):
                h.update(data)
        finally:
            os.close(fd)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        for data in self.chunks():
            yield data


def length_header(content: object) -> dict[str, str]:
    """The Content-Length of a streamed ``FileInput`` body (signed storage URLs refuse chunked encoding)."""
    return {"Content-Length": str(content.size)} if isinstance(content, FileInput) else {}
