"""Transient is transient (issue 21, items 5 and 6): answers a proxy garbles, a slow service, a 429 asking for a
day, a damaged cached image. Each test is a row of the issue's table, asserted on the sandbox's own job counts.

What the sandbox cannot do itself (answer 200 with an HTML page or cut-off JSON, a 429 with a huge
``Retry-After``) is done by ``Proxy``: an httpx transport between the client and the real sandbox that
forwards each request and replaces chosen answers, as a misbehaving proxy or gateway does. Slowness comes from
the sandbox (its ``slow`` fault, its job runtimes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx
import pytest

from tests.helpers import scene_image, stats
from toolkit.client.model import Status
from toolkit.client.providers import authenta
from toolkit.sandbox import Sandbox
from toolkit.workspace import Workspace

HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
AOI = (14.50, 35.88, 14.53, 35.90)
#: each provider's poll: the request a proxy garbles in the poll tests
POLL = {
    "animaldetect": ("GET", r"/jobs/[^/]+/result$"),
    "authenta": ("GET", r"/jobs/[^/]+$"),
    "sateais": ("GET", r"/jobs/[^/]+$"),
    "faces": ("GET", r"/batch/[^/]+$"),
}


@dataclass
class Rule:
    """Answer ``left`` requests matching ``method`` and ``path`` (a regex) with ``make(real answer or None)``;
    ``forward``: the request reaches the sandbox first (it is processed, only its answer is lost)."""

    method: str
    path: str
    make: Callable[[httpx.Response | None], httpx.Response]
    left: int = 1_000_000
    forward: bool = True
    hits: int = 0


class Proxy(httpx.AsyncBaseTransport):
    """Between a provider's client and the sandbox: forwards everything, garbles what a rule matches."""

    def __init__(self, *rules: Rule) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rules = list(rules)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        rule = next(
            (
                r
                for r in self.rules
                if r.left > 0 and r.method == request.method and re.search(r.path, request.url.path)
            ),
            None,
        )
        if rule is None:
            return await self.inner.handle_async_request(request)
        rule.left -= 1
        rule.hits += 1
        real = None
        if rule.forward:
            real = await self.inner.handle_async_request(request)
            await real.aread()
            await real.aclose()
        return rule.make(real)

    async def aclose(self) -> None:
        await self.inner.aclose()


def html(_real: httpx.Response | None) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/html"}, content=HTML)


def cut_off(real: httpx.Response | None) -> httpx.Response:
    """The real answer's JSON, cut in half (a whole HTTP message: a gateway's buffer gave out)."""
    assert real is not None
    body = real.content[: max(1, len(real.content) // 2)]
    return httpx.Response(real.status_code, headers={"content-type": "application/json"}, content=body)


def created(sb: Sandbox, provider: str) -> int:
    """Jobs the sandbox created for ``provider``'s demo tenant (server side)."""
    tenant = stats(sb)["providers"][provider]["tenants"].get(sb.tenant(provider).id)
    return tenant["jobs"]["created"] if tenant else 0


def images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"img-{i}.jpg"
        p.write_bytes(scene_image(i, size=(160, 120)))
        out.append(p)
    return out


def workspace(path: Path, sb: Sandbox, proxy: Proxy | None = None, provider: str | None = None) -> Workspace:
    ws = Workspace(path, sandbox=sb, quiet=True)
    if proxy is not None and provider is not None:
        ws.client(provider).transport.http_transport = proxy
    return ws


def submit(ws: Workspace, provider: str, inputs: list[Path]):
    if provider == "animaldetect":
        return ws.animaldetect.detect(inputs)
    if provider == "authenta":
        return ws.authenta.run("ai-image-detection", inputs)
    if provider == "faces":
        from tests.client.test_faces_client import write_roster

        return ws.faces.enroll(write_roster(inputs[0].parent.parent / "staff", 2))
    return ws.sateais.ship(AOI, date="2026-06-15")


# -- one poll answered 200 with an HTML page or cut-off JSON ---------------------------------------------------
@pytest.mark.parametrize("garble", [html, cut_off], ids=["html", "cut-off-json"])
@pytest.mark.parametrize("provider", ["animaldetect", "authenta", "sateais", "faces"])
def test_one_garbled_poll_is_retried_and_the_job_succeeds(make_sandbox, tmp_path, provider, garble):
    sb = make_sandbox()
    method, path = POLL[provider]
    rule = Rule(method, path, garble, left=1)
    ws = workspace(tmp_path / "ws", sb, Proxy(rule), provider)
    b = submit(ws, provider, images(tmp_path / "in", 1)).wait(timeout=60, progress=False)
    assert rule.hits == 1
    assert [(j.status, j.error_code) for j in b.jobs] == [(Status.SUCCEEDED, None)]
    assert created(sb, provider) == 1


@pytest.mark.parametrize("how", ["rerun", "retry_failed"])
@pytest.mark.parametrize("provider", ["animaldetect", "authenta", "sateais", "faces"])
def test_polls_garbled_past_the_retries_stop_resumably_and_nothing_is_paid_twice(make_sandbox, tmp_path, provider, how):
    sb = make_sandbox()
    method, path = POLL[provider]
    rule = Rule(method, path, html)  # every poll, until the proxy is fixed
    ws = workspace(tmp_path / "ws", sb, Proxy(rule), provider)
    inputs = images(tmp_path / "in", 1)
    b = submit(ws, provider, inputs).wait(timeout=60, progress=False)
    [job] = b.jobs
    assert job.status == Status.FAILED and job.error_code == "UNREADABLE_RESPONSE", job.error_message
    assert "HTML page" in job.error_message and job.job_id is not None
    assert ws.client(provider).resume_status(job) is not None  # a stop, not the provider's verdict
    rule.left = 0  # the proxy works again
    if how == "rerun":
        again = submit(workspace(tmp_path / "ws", sb), provider, inputs).wait(timeout=60, progress=False)
    else:
        again = b.retry_failed().wait(timeout=60, progress=False)
    assert [(j.status, j.job_id) for j in again.jobs] == [(Status.SUCCEEDED, job.job_id)]
    assert created(sb, provider) == 1


def test_an_animal_detect_create_answered_html_is_replayed_with_its_idempotency_key(make_sandbox, tmp_path):
    sb = make_sandbox()
    rule = Rule("POST", r"/jobs$", html, left=1)  # the sandbox created the job; the proxy lost its answer
    ws = workspace(tmp_path / "ws", sb, Proxy(rule), "animaldetect")
    b = ws.animaldetect.detect(images(tmp_path / "in", 2)).wait(timeout=60, progress=False)
    assert rule.hits == 1
    assert {j.status for j in b.jobs} == {Status.SUCCEEDED}
    assert created(sb, "animaldetect") == 2


# -- the service is slow ------------------------------------------------------------------------------------
def test_a_claid_edit_longer_than_the_poll_timeout_is_kept(make_sandbox, tmp_path):
    """The synchronous upload edit waits for its answer (the service bills it whatever the client does)."""
    sb = make_sandbox(runtimes={"claid": 2500.0}, runtime_spread=0.0)  # 2.5 s at the 1/1000 scale
    sb.config.rate_limits["claid"] = {"api": [(60000, 60.0), (1000, 1.0)]}
    ws = Workspace(
        tmp_path / "ws", keys={"claid": sb.key("claid")}, base_urls={"claid": sb.base_url("claid")}, quiet=True
    )
    ws.claid.transport.config.timeout = 1.0  # the ordinary read timeout, shorter than this edit (as 60 s is)
    b = ws.claid.edit(images(tmp_path / "in", 1), {"resizing": {"width": 64}}).wait(timeout=60, progress=False)
    [job] = b.jobs
    assert job.meta.get("api") == "upload"
    assert (job.status, job.error_code) == (Status.SUCCEEDED, None), job.error_message
    assert created(sb, "claid") == 1
    assert Path(b.images()["output_path"].iloc[0]).is_file()


def test_a_sateais_create_answered_late_is_recorded_and_followed(make_sandbox, tmp_path):
    sb = make_sandbox(slow_seconds=2.5)
    ws = workspace(tmp_path / "ws", sb)
    ws.sateais.transport.config.timeout = 1.0  # the ordinary read timeout, shorter than this answer (as 60 s is)
    faults = sb.url + "/__sandbox__/faults"
    httpx.put(faults, json={"spec": "sateais.slow=1"}).raise_for_status()
    b = ws.sateais.ship(AOI, date="2026-06-15")
    deadline = time.monotonic() + 60
    while stats(sb)["providers"].get("sateais", {}).get("faults", {}).get("slow", 0) < 1:  # the create is held
        assert time.monotonic() < deadline
        time.sleep(0.02)
    httpx.put(faults, json={"spec": ""}).raise_for_status()  # its polls are answered at once
    b.wait(timeout=60, progress=False)
    [job] = b.jobs
    assert (job.status, job.error_code) == (Status.SUCCEEDED, None), job.error_message
    assert created(sb, "sateais") == 1


def test_an_authenta_job_past_the_client_timeout_is_collected_by_the_next_run(make_sandbox, tmp_path, monkeypatch):
    """The service ran the job longer than the client waits (the task timeout + 60 s, here shrunk to 50 ms;
    the sandbox's own task timeout is 300 ms at this scale): the next run collects it, nothing is paid twice."""
    monkeypatch.setattr(authenta.AuthentaAdapter, "_client_timeout", lambda self, job: 0.05)
    sb = make_sandbox(runtimes={"authenta": 250.0}, runtime_spread=0.0)  # 250 ms at the 1/1000 scale
    inputs = images(tmp_path / "in", 1)
    first = submit(workspace(tmp_path / "ws", sb), "authenta", inputs).wait(timeout=60, progress=False)
    assert first.jobs[0].error_code == "CLIENT_TIMEOUT"
    deadline = time.monotonic() + 60
    tenant = sb.tenant("authenta").id
    while stats(sb)["providers"]["authenta"]["tenants"][tenant]["jobs"]["by_state"].get("succeeded") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    again = submit(workspace(tmp_path / "ws", sb), "authenta", inputs).wait(timeout=60, progress=False)
    assert [(j.status, j.job_id) for j in again.jobs] == [(Status.SUCCEEDED, first.jobs[0].job_id)]
    assert created(sb, "authenta") == 1


# -- one 429 asking for a day ----------------------------------------------------------------------------------
@pytest.mark.parametrize("retry_after", ["86400", "Thu, 01 Jan 2099 00:00:00 GMT"], ids=["a-day", "2099"])
def test_a_retry_after_beyond_the_cap_stops_the_batch_with_one_message(make_sandbox, tmp_path, capsys, retry_after):
    sb = make_sandbox()

    def limited(_real: httpx.Response | None) -> httpx.Response:
        body = {"error": {"code": "RATE_LIMITED", "message": "Too Many Requests"}}
        return httpx.Response(429, headers={"Retry-After": retry_after}, json=body)

    rule = Rule("POST", r"/jobs$", limited, left=1, forward=False)
    ws = workspace(tmp_path / "ws", sb, Proxy(rule), "animaldetect")
    inputs = images(tmp_path / "in", 3)
    started = time.monotonic()
    first = ws.animaldetect.detect(inputs[:2]).wait(timeout=60, progress=False)
    assert time.monotonic() - started < 30
    stopped = [j for j in first.jobs if j.status == Status.FAILED]
    assert stopped and all(j.error_code == "RATE_LIMITED" and j.http_status == 429 for j in stopped)
    assert f"Retry-After: {retry_after}" in stopped[0].error_message
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "RATE_LIMITED" in ln]
    assert len(lines) == 1 and retry_after in lines[0], lines
    # a later call tries again instead of hanging; the re-run resumes the stopped jobs, each created once
    later = ws.animaldetect.detect(inputs[2:]).wait(timeout=60, progress=False)
    assert [j.status for j in later.jobs] == [Status.SUCCEEDED]
    again = ws.animaldetect.detect(inputs[:2]).wait(timeout=60, progress=False)
    assert {j.status for j in again.jobs} == {Status.SUCCEEDED}
    assert created(sb, "animaldetect") == 3


# -- a damaged output image in the cache -----------------------------------------------------------------------
def claid_outputs(ws: Workspace) -> list[tuple[str, Path]]:
    """(digest, path) of each cached Claid output image, as its result JSON names them."""
    out = []
    for j in ws.ledger.jobs(provider="claid"):
        doc = json.loads(ws.ledger.get_result(j.result_digest) or b"{}")
        out.append((doc["toolkit"]["output_digest"], Path(doc["toolkit"]["output_path"])))
    return sorted(out)


def intact(digest: str, path: Path) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_a_truncated_or_replaced_output_image_is_fetched_again(make_sandbox, tmp_path, caplog):
    sb = make_sandbox()
    inputs = images(tmp_path / "in", 2)
    ws = workspace(tmp_path / "ws", sb)
    ws.claid.edit(inputs, {"resizing": {"width": 64}}).wait(timeout=60, progress=False)
    (d1, p1), (d2, p2) = claid_outputs(ws)
    assert intact(d1, p1) and intact(d2, p2)

    def damage() -> None:
        p1.write_bytes(p1.read_bytes()[:100])  # truncated
        p2.write_bytes(scene_image(9, size=(64, 48)))  # replaced by another image

    damage()
    with caplog.at_level(logging.WARNING, logger="toolkit"):
        again = workspace(tmp_path / "ws", sb).claid.edit(inputs, {"resizing": {"width": 64}})
        again.wait(timeout=60, progress=False)
    assert again.client.transport.requests > 0
    assert intact(d1, p1) and intact(d2, p2)
    assert len([r for r in caplog.records if "damaged" in r.getMessage()]) == 2
    # the same in a process that has read them intact before: the check is not once per process
    damage()
    same = ws.claid.edit(inputs, {"resizing": {"width": 64}}).wait(timeout=60, progress=False)
    assert {j.status for j in same.jobs} == {Status.SUCCEEDED}
    assert intact(d1, p1) and intact(d2, p2)
    assert created(sb, "claid") == 2
