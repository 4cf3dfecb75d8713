"""One background event loop per process: the async core runs there; sync callers block on futures.

This works the same in scripts, IPython and Jupyter (whose own loop is never touched or nested), so no
``nest_asyncio`` and no ``asyncio.run`` inside a running loop.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The toolkit's background loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(_loop)
                _loop.call_soon(ready.set)
                _loop.run_forever()

            threading.Thread(target=run, name="toolkit-loop", daemon=True).start()
            ready.wait()
            atexit.register(_shutdown)
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule a coroutine on the background loop; returns a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the background loop and wait for its result (from any thread but the loop's)."""
    return submit(coro).result(timeout)


def _shutdown() -> None:
    if _loop is not None and _loop.is_running():
        _loop.call_soon_threadsafe(_loop.stop)
