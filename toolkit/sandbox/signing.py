"""Pre-signed URLs: an HMAC over method, path, expiry, declared content type and (optionally) size.

Signed URLs are how the providers hand out upload and storage locations; they carry no auth header and
must work without one. Anything that does not match the signature is refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode


class SignatureError(Exception):
    """A signed URL was expired, tampered with, or used with other content than it was issued for."""


class Signer:
    """Issues and checks signed URLs. The secret is kept in the data dir so URLs survive a restart."""

    def __init__(self, data_dir: Path) -> None:
        path = Path(data_dir) / "signing.key"
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
        self._secret = path.read_bytes()

    def _mac(self, method: str, path: str, expires: int, content_type: str, size: str) -> str:
        msg = "\n".join([method.upper(), path, str(expires), content_type.lower(), size]).encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def sign(self, method: str, path: str, ttl: float, *, content_type: str = "", size: int | None = None) -> str:
        """Return ``path?query`` valid for ``ttl`` seconds for exactly this method/content type/size."""
        expires = int(time.time() + ttl) + (1 if ttl % 1 else 0)
        size_s = "" if size is None else str(size)
        q = {"expires": expires, "ct": content_type}
        if size is not None:
            q["size"] = size_s
        q["sig"] = self._mac(method, path, expires, content_type, size_s)
        return f"{path}?{urlencode(q)}"

    def verify(
        self, method: str, path: str, query: dict[str, str], *, content_type: str | None, size: int | None
    ) -> str:
        """Check a request against its signature; return the signature (for single-use bookkeeping)."""
        try:
            expires = int(query["expires"])
            declared_ct = query.get("ct", "")
            sig = query["sig"]
        except (KeyError, ValueError):
            raise SignatureError("the URL is not signed") from None
        declared_size = query.get("size", "")
        want = self._mac(method, path, expires, declared_ct, declared_size)
        # bytes: compare_digest refuses str with non-ASCII characters (a forged ?sig=é was a 500)
        if not hmac.compare_digest(want.encode(), sig.encode("utf-8", "replace")):
            raise SignatureError("the signature does not match this URL")
        if time.time() > expires:
            raise SignatureError("the signed URL has expired")
        if declared_ct and (content_type or "").split(";")[0].strip().lower() != declared_ct.lower():
            raise SignatureError(f"Content-Type must be {declared_ct!r} as declared when the URL was issued")
        if declared_size and size is not None and str(size) != declared_size:
            raise SignatureError(f"the body is {size} bytes but {declared_size} were declared")
        return sig
