"""Run the sandbox: in-process on a free port (tests, notebooks) or as a process (``python -m toolkit sandbox``)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import asyncio

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import limits
from .app import create_app
from .config import SandboxConfig, Tenant
from .core import Context

log = logging.getLogger("toolkit.sandbox")
STORAGE_PORT_FILE = "storage.port"  # in the data dir: the storage listener's port, kept across restarts


class Sandbox:
    """An in-process sandbox server on 127.0.0.1: the APIs on ``url``, pre-signed URLs on ``storage_url`` (a
    second port of the same server: another origin, as S3 is in production).

    >>> with Sandbox(time_scale=0.001) as sb:
    ...     sb.base_url("animaldetect")      # 'http://127.0.0.1:<port>/animaldetect/v1'
    """

    def __init__(self, config: SandboxConfig | None = None, **options: Any) -> None:
        if config is None:
            options.setdefault("port", 0)
            config = SandboxConfig(**options)
        elif options:
            raise TypeError("pass either a SandboxConfig or keyword options, not both")
        self.config = config
        self.ctx: Context | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.storage_port: int | None = None  # the listener of signed URLs (another origin than ``url``)
        self.last_request = time.monotonic()  # when a request last arrived (a background sandbox stops when idle)

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return f"http://{self.config.host}:{self.port}"

    @property
    def storage_url(self) -> str:
        """The origin every signed URL and result redirect points at (``http://127.0.0.1:<storage port>``)."""
        if self.storage_port is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return f"http://{self.config.host}:{self.storage_port}"

    def base_url(self, provider: str) -> str:
        """The URL a client uses as its provider base URL, e.g. ``…/animaldetect/v1``."""
        assert self.ctx is not None, "the sandbox is not running"
        return self.url + self.ctx.specs[provider].prefixes[0]

    def key(self, provider: str) -> str:
        """The first configured key of a provider (the demo key unless ``--key`` was given)."""
        for t in self.config.tenants:
            if t.provider == provider:
                return t.key
        return self.config.specs[provider].demo_key

    def tenant(self, provider: str) -> Tenant:
        return next(t for t in self.config.tenants if t.provider == provider)

    def start(self, timeout: float = 10.0) -> "Sandbox":
        app, self.ctx = create_app(self.config)
        api = listen(self.config.host, self.config.port)
        self.port = api.getsockname()[1]
        storage = listen_storage(self.config.host, self.config.data_dir, self.port)
        self.ctx.storage_port = self.storage_port = storage.getsockname()[1]
        self._server = uvicorn.Server(server_config(self._touching(app)))
        self.ctx.runner.start()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [api, storage]}, name="sandbox-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        return self

    def _touching(self, app: Any) -> Any:
        """``app`` noting when each request arrives (``last_request``)."""

        async def touched(scope: Any, receive: Any, send: Any) -> None:
            self.last_request = time.monotonic()
            await app(scope, receive, send)

        return touched

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.ctx is not None:
            self.ctx.runner.stop()
            self.ctx.store.close()
        self._server = self._thread = None
        self.port = self.storage_port = None

    def __enter__(self) -> "Sandbox":
        return self if self.port is not None else self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


def serve(config: SandboxConfig) -> None:
    """Run the sandbox in the foreground until interrupted (the ``sandbox`` CLI command)."""
    app, ctx = create_app(config)
    api = listen(config.host, config.port)
    storage = listen_storage(config.host, config.data_dir, config.port)
    ctx.storage_port = storage.getsockname()[1]
    ctx.runner.start()
    print(
        f"toolkit sandbox on http://{config.host}:{config.port}  (signed URLs on port {ctx.storage_port}, "
        f"data: {config.data_dir}, time scale {config.time_scale:g}, seed {config.seed})",
        flush=True,
    )
    for name, spec in ctx.specs.items():
        limit = f"  ({config.credits[name]} credits per key)" if name in config.credits else ""
        print(f"  {name:<13} http://{config.host}:{config.port}{spec.prefixes[0]}{limit}", flush=True)
    try:
        uvicorn.Server(server_config(app)).run(sockets=[api, storage])
    finally:
        ctx.runner.stop()
        ctx.store.close()


class HeadTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for a request's head: a connection that opened, or began a
    request, and has not sent the whole head within ``limits.HEADER_TIMEOUT`` is closed (uvicorn has no
    header-read timeout of its own: a slow client would hold its connection, and a worker slot, forever)."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head()

    def _arm_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(limits.HEADER_TIMEOUT, self._head_timeout)

    def _disarm_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_head()  # a head has begun and is not complete yet
        else:
            self._disarm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head()
        super().connection_lost(exc)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any) -> uvicorn.Config:
    """The uvicorn configuration of both ways to run: h11 with a head deadline, a head size cap and an idle
    keep-alive timeout (``limits``)."""
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=HeadTimeoutH11,
        timeout_keep_alive=limits.IDLE_TIMEOUT,
        h11_max_incomplete_event_size=limits.HEADER_LIMIT,
    )


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listen_storage(host: str, data_dir: Path | None, api_port: int) -> socket.socket:
    """The storage listener: the port recorded in the data dir (so signed URLs survive a restart, like the
    signing key), else the API port + 1, else any free port; the port used is recorded."""
    record = Path(data_dir) / STORAGE_PORT_FILE if data_dir is not None else None
    candidates = []
    if record is not None and record.exists():
        text = record.read_text().strip()
        if text.isdigit():
            candidates.append(int(text))
    if api_port and api_port < 65535:
        candidates.append(api_port + 1)
    for port in [*candidates, 0]:
        try:
            sock = listen(host, port)
        except OSError:
            continue  # taken: URLs issued before a restart then point nowhere, as after S3 rotates a host
        if record is not None:
            record.write_text(str(sock.getsockname()[1]))
        return sock
    raise OSError(f"no free port for the sandbox's storage listener on {host}")
