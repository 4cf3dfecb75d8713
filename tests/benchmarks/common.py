"""Shared by the benchmark scripts: a sandbox in its own process, machine facts, result files."""

from __future__ import annotations

import io
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
AD_KEY = "sk_sandbox_animaldetect"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxProcess:
    """``python -m toolkit sandbox`` on a free port (own process: client and server do not share a GIL)."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "toolkit", "sandbox", "--port", str(self.port), "--data-dir", str(data_dir), *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sandbox exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/__sandbox__/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("sandbox did not come up in 30 s")

    def base_url(self, provider: str) -> str:
        return {"animaldetect": self.url + "/animaldetect/v1"}[provider]

    def stats(self) -> dict[str, Any]:
        return httpx.get(self.url + "/__sandbox__/stats", timeout=30).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> "SandboxProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tiny_jpegs(n: int, seed: int = 0, size: tuple[int, int] = (64, 48)) -> list[bytes]:
    """``n`` distinct small JPEGs (distinct bytes, so distinct jobs), cheap for the sandbox's detector."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        arr = rng.integers(40, 200, (size[1], size[0], 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=70)
        out.append(buf.getvalue())
    return out


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],  # other work on the machine moves every figure
    }


def request_count(stats: dict[str, Any], provider: str = "animaldetect", *, api_only: bool = False) -> dict[str, int]:
    """Requests the sandbox served for a provider, by status code, over all tenants and routes
    (``api_only``: without the uploads to signed storage URLs, which no rate limit counts)."""
    out: dict[str, int] = {}
    for tenant in stats["providers"].get(provider, {}).get("tenants", {}).values():
        for name, route in tenant["requests"].items():
            if api_only and name.startswith("PUT "):
                continue
            for status, n in route.items():
                out[status] = out.get(status, 0) + n
    return out


def write_results(out_dir: Path, name: str, results: dict[str, Any], table: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=2))
    (out_dir / f"{name}.md").write_text(table)
