"""Media type by magic bytes: what the client preflight and the sandbox trust instead of file names."""

from __future__ import annotations

SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\x1aE\xdf\xa3", 0, "video/webm"),
    (b"GIF8", 0, "image/gif"),
]


def sniff(data: bytes) -> str | None:
    """The MIME type the bytes say they are, or None when unrecognised."""
    for magic, offset, mime in SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06:
        return "audio/mpeg"  # MPEG audio frame sync without ID3 tag
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    return None


def jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG's first scan ends with an end-of-image marker: the header segments are walked by their
    lengths (an EXIF thumbnail's own markers inside APP1 are skipped), then an EOI must follow the scan data."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # segments without a length
            i += 2
            continue
        if marker == 0xD9:
            return False  # the image ended before any scan
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:
            return data.rfind(b"\xff\xd9") >= i + 2 + length
        i += 2 + length
    return False


def png_complete(data: bytes) -> bool:
    """Whether a PNG ends with its IEND chunk (allowing a little trailing data, as some writers leave)."""
    end = data.rfind(b"IEND")
    return end != -1 and end >= len(data) - 1024
