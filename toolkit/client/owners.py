"""One owner per job in this process: the driver that holds a job, and the claims that name it (issue #21).

Every batch of a process runs on the one background loop (``toolkit.client.runtime``). Whatever asks for a job
that is already being driven here — the same cell run twice, another thread, a second ``Workspace`` object on
the same folder, a retry clicked twice — follows the driver that holds it instead of starting another. Across
processes the ledger's create claim does the same; it names the driver (``owner_name``), not just the process,
so two drivers of one process never both hold it. Only the loop thread touches the registry (no lock needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .model import Job

#: (ledger folder, job key) -> (the task driving the job, its Job object)
_holders: dict[tuple[str, str], tuple["asyncio.Task[Any]", Job]] = {}
#: the claim tokens of drivers alive in this process
_live: set[str] = set()
_tokens = itertools.count(1)
#: drivers whose create request is on its way: interpreter exit lets them hear the answer (``runtime``)
_creating: set["asyncio.Task[Any]"] = set()
_closing = False


def slot(ledger_path: Path, key: str) -> tuple[str, str]:
    """Where a job is registered: the same ledger file reached by another path or object is the same slot."""
    return (str(Path(ledger_path).resolve()), key)


def holder(where: tuple[str, str]) -> tuple["asyncio.Task[Any]", Job] | None:
    """The live driver of a job in this process, if another task holds it."""
    held = _holders.get(where)
    if held is None or held[0].done() or held[0] is asyncio.current_task():
        return None
    return held


def hold(where: tuple[str, str], job: Job) -> str:
    """Register the current task as the job's driver; returns its claim token (for ``owner_name``)."""
    task = asyncio.current_task()
    assert task is not None, "hold() runs on the loop, inside a driver task"
    token = f"d{next(_tokens)}"
    _holders[where] = (task, job)
    _live.add(token)
    return token


def release(where: tuple[str, str], token: str) -> None:
    """The driver is done with the job (whatever the outcome): its claims are no longer alive."""
    _live.discard(token)
    held = _holders.get(where)
    if held is not None and held[0] is asyncio.current_task():
        del _holders[where]


def alive(token: str) -> bool:
    """Whether the driver named by a claim token of this process is still running."""
    return token in _live


@contextlib.contextmanager
def creating() -> Iterator[None]:
    """Mark the current task as sending a create (its answer records the job id) for as long as it runs."""
    if _closing:  # the interpreter is exiting: no new create goes out (this task is about to be cancelled)
        raise asyncio.CancelledError
    task = asyncio.current_task()
    if task is not None:
        _creating.add(task)
    try:
        yield
    finally:
        if task is not None:
            _creating.discard(task)


def in_create() -> int:
    """How many create requests are on their way now."""
    return len(_creating)


async def creates_answered(timeout: float) -> int:
    """Wait (at most ``timeout`` s) until no create is on its way; returns how many still are."""
    global _closing
    _closing = True
    deadline = asyncio.get_running_loop().time() + timeout
    while _creating and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    return len(_creating)
