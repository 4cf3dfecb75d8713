"""The background sandbox of a workspace: the embedded sandbox run as a detached process, so jobs sent by one
command (``toolkit submit --no-wait``) are still served to the next (``toolkit jobs wait``).

It is started on demand (``ensure``) with its data in ``<workspace>/sandbox``; its pid and ports are recorded in
``<workspace>/sandbox/background.json`` while it runs, and every command or kernel on that workspace that finds
it alive uses it. It stops on ``toolkit sandbox stop`` (``stop``), on SIGTERM, or after ``idle`` seconds without
a request (``TOOLKIT_SANDBOX_IDLE``, default 15 min).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .config import SandboxConfig
from .server import Sandbox

RECORD = "background.json"
DEFAULT_IDLE = 900.0


class Remote(Sandbox):
    """A sandbox another process runs: what a client needs (URLs, keys, tenants), nothing to start or stop."""

    def __init__(self, record: dict[str, Any], data_dir: Path) -> None:
        super().__init__(SandboxConfig(port=record["port"], data_dir=data_dir, time_scale=record["time_scale"]))
        self.port, self.storage_port, self.pid = record["port"], record.get("storage_port"), record["pid"]

    def base_url(self, provider: str) -> str:
        return self.url + self.config.specs[provider].prefixes[0]

    def start(self, timeout: float = 10.0) -> "Sandbox":
        return self

    def stop(self) -> None:  # the background process stops itself (idle) or by ``toolkit sandbox stop``
        pass


def serves_this_process() -> bool:
    """Whether a background process (which knows the built-in providers only) serves every provider this
    process registered: one added at run time (``spec.register``, e.g. a sixth provider) needs the sandbox here."""
    from . import providers as builtin
    from .spec import registered

    known = {
        m.SPEC.name for m in (builtin.animaldetect, builtin.sateais, builtin.authenta, builtin.claid, builtin.faces)
    }
    return {s.name for s in registered()} <= known


def find(data_dir: Path) -> Remote | None:
    """The workspace's background sandbox when one is alive (its process runs and its port answers)."""
    try:
        record = json.loads((data_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not _alive(record.get("pid")):
        return None
    import httpx

    try:
        ok = httpx.get(f"http://127.0.0.1:{record['port']}/__sandbox__/stats", timeout=5).status_code == 200
    except (httpx.HTTPError, KeyError):
        ok = False
    return Remote(record, data_dir) if ok else None


def ensure(data_dir: Path, time_scale: float, timeout: float = 60.0) -> Remote:
    """The alive background sandbox of ``data_dir``, started (detached) when there is none."""
    import fcntl  # POSIX: where it is missing, the embedded sandbox runs in-process instead

    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "background.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time: never two servers on one store
        found = find(data_dir)
        if found is not None:
            return found
        (data_dir / RECORD).unlink(missing_ok=True)
        with open(data_dir / "background.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "toolkit.sandbox.background", str(data_dir), "--time-scale", str(time_scale)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # outlives this process, and a Ctrl-C in its terminal
                close_fds=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = find(data_dir)
            if found is not None and found.pid == proc.pid:
                return found
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        raise RuntimeError(f"the background sandbox did not start (see {data_dir / 'background.log'})")


def stop(data_dir: Path, timeout: float = 30.0) -> int | None:
    """Stop the workspace's background sandbox; returns its pid, or None when none was running."""
    found = find(data_dir)
    if found is None:
        (data_dir / RECORD).unlink(missing_ok=True)
        return None
    os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(found.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found.pid


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _serve(data_dir: Path, time_scale: float, idle: float) -> None:
    """The background process: serve until SIGTERM or ``idle`` seconds without a request."""
    sb = Sandbox(SandboxConfig(port=0, data_dir=data_dir, time_scale=time_scale)).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    record = {"pid": os.getpid(), "port": sb.port, "storage_port": sb.storage_port, "time_scale": time_scale}
    tmp = data_dir / f"{RECORD}.{os.getpid()}"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, data_dir / RECORD)
    try:
        while not done.wait(min(1.0, idle / 4)):
            if time.monotonic() - sb.last_request > idle:
                break
    finally:
        try:
            if json.loads((data_dir / RECORD).read_text()).get("pid") == os.getpid():
                (data_dir / RECORD).unlink()
        except (OSError, ValueError):
            pass
        sb.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m toolkit.sandbox.background")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--time-scale", type=float, default=0.01)
    p.add_argument("--idle", type=float, default=float(os.environ.get("TOOLKIT_SANDBOX_IDLE", DEFAULT_IDLE)))
    args = p.parse_args(argv)
    _serve(args.data_dir, args.time_scale, args.idle)


if __name__ == "__main__":
    main()
