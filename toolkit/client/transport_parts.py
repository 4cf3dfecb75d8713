"""Parts of the transport that hold no state of it: the client-side rate limit bucket, the check of a JSON
answer (``expect_json``) and the short reason of a failure to connect."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import ssl
import time

import httpx

#: client-side windows are stretched by this factor: pacing at exactly the provider's rate meets a 429 now
#: and then from clock skew and request jitter (Claid at 4/s: 13 429s in 30 images at 1.00, 1 at 1.05)
RATE_MARGIN = 1.05


class _Bucket:
    """Async token bucket (client-side rate limit) with a shared pause after a 429."""

    def __init__(self, limits: list[tuple[int, float]]) -> None:
        self.limits = [(n, window * RATE_MARGIN) for n, window in limits]
        self.state = [[float(n), time.monotonic()] for n, _ in limits]
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                wait = max(0.0, self.paused_until - now)
                for (n, window), st in zip(self.limits, self.state):
                    st[0] = min(float(n), st[0] + (now - st[1]) * n / window)
                    st[1] = now
                    if st[0] < 1.0:
                        wait = max(wait, (1.0 - st[0]) * window / n)
                if wait <= 0:
                    for st in self.state:
                        st[0] -= 1.0
                    return
                await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)


def expect_json(resp: httpx.Response) -> str | None:
    """``request(expect=...)`` for a JSON API: why a 2xx body is unusable (an HTML page, cut-off or invalid
    JSON), or None. NaN/Infinity parse (sateais-js sanitises them, docs/contracts.md §2); an empty body does not."""
    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return f"an HTML page ({len(resp.content)} bytes: {resp.text[:60]!r})"
    try:
        json.loads(resp.content)
    except (ValueError, UnicodeDecodeError) as e:
        return f"a body that is not JSON ({ctype or 'no content type'}, {len(resp.content)} bytes: {e})"
    return None


def _reason(e: Exception) -> str:
    """A short, stable reason for a failure to connect (the same for every request that meets it)."""
    if isinstance(e, httpx.ConnectTimeout):
        return "the connection timed out"
    if isinstance(e, httpx.UnsupportedProtocol):
        return f"unsupported protocol ({e})"
    if isinstance(e, httpx.ProxyError):
        return f"the proxy failed ({e})"
    causes = _causes(e)  # e.g. httpx -> httpcore -> "All connection attempts failed" -> ConnectionRefusedError
    for c in causes:
        if isinstance(c, ssl.SSLError):
            return f"TLS handshake failed ({getattr(c, 'verify_message', None) or c.reason or c})"
    for c in causes:
        if isinstance(c, socket.gaierror):
            return "the host name does not resolve (DNS)"
        if isinstance(c, ConnectionRefusedError):
            return "connection refused"
        if isinstance(c, TimeoutError):
            return "the connection timed out"
        if isinstance(c, OSError) and c.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "the network or host is unreachable"
    text = str(e)
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "name or service not known" in low or "name resolution" in low or "nodename nor servname" in low:
        return "the host name does not resolve (DNS)"
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def _causes(e: BaseException) -> list[BaseException]:
    """``e`` and what it was raised from or during, exception groups included (bounded)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [e]
    while todo and len(seen) < 20:
        x = todo.pop(0)
        if x is None or any(x is s for s in seen):
            continue
        seen.append(x)
        todo += [x.__cause__, x.__context__, *getattr(x, "exceptions", ())]
    return seen
