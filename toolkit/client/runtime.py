"""One background event loop per process: the async core runs there; sync callers block on futures.

This works the same in scripts, IPython and Jupyter (whose own loop is never touched or nested), so no
``nest_asyncio`` and no ``asyncio.run`` inside a running loop.

At interpreter exit the loop's work is cancelled before Python shuts its thread pools down (work that then
started a thread raised ``RuntimeError`` and its job was stored failed): cancelled work leaves every job as the
ledger recorded it, so running the same call again resumes it. One line on stderr says how many jobs were
still running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.thread  # noqa: F401  (its exit hook is registered before ours, so ours runs first)
import sys
import threading
import warnings
import weakref
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")
EXIT_GRACE = 5.0  # seconds the cancelled work gets to unwind at exit
CREATE_GRACE = 30.0  # seconds a create request already sent gets to be answered at exit

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_hooked = False
#: work submitted for an owner (a ``Batch``, with its ``jobs``): counted at exit while it runs
_work: "weakref.WeakKeyDictionary[Any, concurrent.futures.Future[Any]]" = weakref.WeakKeyDictionary()
#: the line printed at exit for unfinished jobs (``{jobs}``: "3 jobs"); None says nothing (the CLI says its own)
exit_line: str | None = "{jobs} still running: re-run the same call to collect them"


def loop() -> asyncio.AbstractEventLoop:
    """The toolkit's background loop, started on first use."""
    global _loop, _hooked
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
            if not _hooked:
                # threading's exit hooks run in reverse order of registration, before atexit and before the
                # thread pools refuse new work: ours (registered after the pools') runs first
                threading._register_atexit(_shutdown)  # type: ignore[attr-defined]
                _hooked = True
        return _loop


def submit(coro: Coroutine[Any, Any, T], owner: Any = None) -> concurrent.futures.Future[T]:
    """Schedule a coroutine on the background loop; returns a thread-safe future. An ``owner`` with ``jobs``
    (a ``Batch``) is counted at exit while the future runs."""
    future = asyncio.run_coroutine_threadsafe(coro, loop())
    if owner is not None:
        _work[owner] = future
    return future


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the background loop and wait for its result (from any thread but the loop's)."""
    return submit(coro).result(timeout)


def unfinished() -> int:
    """How many jobs of the work running on the loop are not terminal yet."""
    running = [owner for owner, future in list(_work.items()) if not future.done()]
    return sum(1 for owner in running for j in getattr(owner, "jobs", ()) if not j.status.terminal)


def _shutdown() -> None:
    """Cancel what runs on the loop (jobs stay as recorded: resumable), let it unwind, stop the loop."""
    lp = _loop
    if lp is None or lp.is_closed() or not lp.is_running():
        return
    n = unfinished()

    async def cancel_all() -> None:
        from . import owners

        # a create already on its way is let finish, so its job id is recorded: cancelled mid-request, a
        # provider without a job list could not tell on the next run whether it was made
        if await owners.creates_answered(1.0):  # most creates are answered at once: say nothing for those
            print(
                f"toolkit: waiting up to {CREATE_GRACE:.0f} s for {owners.in_create()} create request(s) already sent "
                "(their job ids let a re-run follow them)",
                file=sys.stderr,
                flush=True,
            )
            await owners.creates_answered(CREATE_GRACE)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=EXIT_GRACE)

    # work cancelled mid-connect leaves coroutine objects that are never awaited: expected here, not news
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    try:
        asyncio.run_coroutine_threadsafe(cancel_all(), lp).result(CREATE_GRACE + EXIT_GRACE + 1)
    except Exception:  # nothing may raise at exit
        pass
    lp.call_soon_threadsafe(lp.stop)
    if n and exit_line:
        jobs = f"{n} job{'s' * (n != 1)}"
        print(f"toolkit: {exit_line.format(jobs=jobs)}", file=sys.stderr, flush=True)
