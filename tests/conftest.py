"""Shared fixtures: a real sandbox server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.sandbox import Sandbox, SandboxConfig


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh sandbox (own data dir) where every runtime and window is 1/1000 of the real one."""
    with Sandbox(SandboxConfig(port=0, data_dir=tmp_path / "sandbox", time_scale=0.001)) as sb:
        yield sb


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator:
    """Factory for sandboxes with custom options; all are stopped at teardown."""
    started: list[Sandbox] = []

    def make(**options) -> Sandbox:
        options.setdefault("port", 0)
        options.setdefault("data_dir", tmp_path / f"sandbox{len(started)}")
        options.setdefault("time_scale", 0.001)
        sb = Sandbox(SandboxConfig(**options)).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()
