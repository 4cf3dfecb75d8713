"""Transport rules that the sandbox cannot provoke, with respx: an error body echoing the key, 429 budgets."""

from __future__ import annotations

import httpx
import pytest
import respx

from toolkit.client import runtime
from toolkit.client.model import Job, JobError
from toolkit.client.providers.animaldetect import AnimalDetectAdapter
from toolkit.client.transport import ProviderConfig, Transport

KEY = "sk_ECHOED_a81f3c2d"
BASE = "https://ad.test/v1"


def job() -> Job:
    return Job(
        key="k",
        provider="animaldetect",
        operation="detect",
        input="cam.jpg",
        batch_id="b",
        job_id="j1",
        urls={"status_url": BASE + "/jobs/j1", "result_url": BASE + "/jobs/j1/result"},
    )


def test_a_key_echoed_in_an_error_body_is_redacted():
    adapter = AnimalDetectAdapter(Transport(ProviderConfig("animaldetect", BASE, KEY)))
    with respx.mock() as mock:
        mock.get(BASE + "/jobs/j1/result").respond(
            401, json={"error": {"code": "UNAUTHORIZED", "message": f"invalid key {KEY}"}}
        )
        with pytest.raises(JobError) as raised:
            runtime.run(adapter.poll(job()), timeout=10)
    err = raised.value
    assert err.code == "UNAUTHORIZED" and err.http_status == 401
    assert KEY not in str(err) and KEY not in err.message and "invalid key ***" in err.message
    assert KEY not in repr(adapter.t.config) and KEY not in repr(adapter.t)
    runtime.run(adapter.t.aclose())


def test_429s_are_waited_out_within_their_budget_and_do_not_use_up_attempts():
    cfg = ProviderConfig("animaldetect", BASE, KEY, max_attempts=2, rate_limit_budget=3.0)
    adapter = AnimalDetectAdapter(Transport(cfg))
    limited = httpx.Response(429, headers={"Retry-After": "0.05"}, json={"error": {"code": "RATE_LIMITED"}})
    running = httpx.Response(202, json={"job_id": "j1", "status": "processing"})
    with respx.mock() as mock:
        route = mock.get(BASE + "/jobs/j1/result").mock(side_effect=[limited] * 5 + [running])
        r = runtime.run(adapter.poll(job()), timeout=10)
    assert route.call_count == 6 and r.provider_status == "processing"  # 5 x 429 > max_attempts, still fine
    assert adapter.t.rate_limited == 5
    runtime.run(adapter.t.aclose())


def test_a_create_that_never_reached_the_provider_is_sent_on_rerun(make_sandbox, tmp_path, monkeypatch):
    """Connection refused throughout: UNREACHABLE, nothing at the provider; the re-run creates it, once."""
    import socket

    from tests.helpers import stats
    from toolkit.client.model import Status
    from toolkit.workspace import Workspace

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TOOLKIT_TIME_SCALE", "0.01")  # fast backoff against the closed port
    keys, urls = {"sateais": "sk_live_sandbox_sateais"}, {"sateais": f"http://127.0.0.1:{port}/sateais/api/v1"}
    ws = Workspace(tmp_path / "ws", keys=keys, base_urls=urls, quiet=True)
    aoi = (14.50, 35.88, 14.53, 35.90)
    first = ws.sateais.ship(aoi, date="2026-06-15").wait(timeout=60, progress=False)
    assert [j.error_code for j in first.jobs] == ["UNREACHABLE"] and first.jobs[0].job_id is None
    sb = make_sandbox(port=port)
    again = Workspace(tmp_path / "ws", keys=keys, base_urls=urls, quiet=True).sateais.ship(aoi, date="2026-06-15")
    again.wait(timeout=60, progress=False)
    assert again.id == first.id and [j.status for j in again.jobs] == [Status.SUCCEEDED]
    tenant = stats(sb)["providers"]["sateais"]["tenants"][sb.tenant("sateais").id]
    assert tenant["jobs"]["created"] == 1


def test_no_authorization_on_a_redirect_to_another_host():
    t = Transport(ProviderConfig("sateais", "https://api.sateais.test/api/v1", KEY))
    with respx.mock() as mock:
        api = mock.get("https://api.sateais.test/api/v1/jobs/7/result.geojson").respond(
            302, headers={"Location": "https://storage.elsewhere.test/bucket/7.geojson?sig=abc"}
        )
        storage = mock.get("https://storage.elsewhere.test/bucket/7.geojson").respond(200, json={"features": []})
        r = runtime.run(t.request("GET", "/jobs/7/result.geojson"), timeout=10)
    assert r.status_code == 200 and storage.call_count == 1
    sent = storage.calls[0].request.headers
    assert "authorization" not in sent and "x-api-key" not in sent
    assert api.calls[0].request.headers["authorization"] == f"Bearer {KEY}"  # the API call itself had it
    runtime.run(t.aclose())


def test_no_repr_shows_a_key(sandbox, tmp_path):
    from tests.helpers import scene_image
    from toolkit.workspace import Workspace

    secret = "sk_REPRCHECK_5e1d77"
    ws = Workspace(
        tmp_path / "ws",
        keys={"animaldetect": secret},
        base_urls={"animaldetect": sandbox.base_url("animaldetect")},
        quiet=True,
    )
    img = tmp_path / "a.jpg"
    img.write_bytes(scene_image(1, size=(160, 120)))
    batch = ws.animaldetect.detect(img).wait(timeout=60, progress=False)  # the sandbox refuses the key: 401
    job = batch.jobs[0]
    assert job.error_code == "UNAUTHORIZED" and job.http_status == 401
    texts = [
        repr(ws),
        repr(ws.animaldetect),
        repr(ws.animaldetect.transport),
        repr(ws.animaldetect.transport.config),
        repr(batch),
        repr(job),
        str(job.error()),
        batch.progress_line(),
        batch.to_frame().to_string(),
    ]
    assert not [t for t in texts if secret in t]


def test_an_unreadable_2xx_is_retried_when_safe_and_lost_when_not():
    """An HTML page or cut-off JSON answered 200: a GET is asked again; a POST that cannot be repeated is
    CONNECTION_LOST at once (it may have been processed), and waits the long ``unsafe_timeout`` meanwhile."""
    from toolkit.client.model import ServiceUnreachable
    from toolkit.client.transport import expect_json

    t = Transport(ProviderConfig("sateais", "https://api.sateais.test/api/v1", KEY, unsafe_timeout=321.0))
    page = httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html>502</html>")
    cut = httpx.Response(200, headers={"content-type": "application/json"}, content=b'{"job_id": "7", "sta')
    good = httpx.Response(200, json={"job_id": "7", "status": "processing"})
    with respx.mock() as mock:
        poll = mock.get("https://api.sateais.test/api/v1/jobs/7").mock(side_effect=[page, cut, good])
        r = runtime.run(t.request("GET", "/jobs/7", expect=expect_json), timeout=10)
        assert r.json()["status"] == "processing" and poll.call_count == 3
        create = mock.post("https://api.sateais.test/api/v1/analyze/ship").mock(return_value=page)
        with pytest.raises(ServiceUnreachable) as lost:
            runtime.run(t.request("POST", "/analyze/ship", json={}, safe_to_retry=False, expect=expect_json), 10)
    assert lost.value.code == "CONNECTION_LOST" and "HTML page" in lost.value.message and create.call_count == 1
    assert create.calls[0].request.extensions["timeout"]["read"] == 321.0
    runtime.run(t.aclose())


def test_a_retry_after_beyond_the_cap_refuses_at_once_until_the_next_call():
    cfg = ProviderConfig("animaldetect", BASE, KEY, retry_after_cap=600.0)
    adapter = AnimalDetectAdapter(Transport(cfg))
    day = httpx.Response(429, headers={"Retry-After": "86400"}, json={"error": {"code": "RATE_LIMITED"}})
    running = httpx.Response(202, json={"job_id": "j1", "status": "processing"})
    with respx.mock() as mock:
        route = mock.get(BASE + "/jobs/j1/result").mock(side_effect=[day, running])
        for _ in range(2):  # the second is refused without a request
            with pytest.raises(JobError) as refused:
                runtime.run(adapter.poll(job()), timeout=10)
            assert refused.value.code == "RATE_LIMITED" and refused.value.http_status == 429
            assert "Retry-After: 86400" in refused.value.message
        assert route.call_count == 1
        adapter.t.probe_now()  # a later call: tries again
        assert runtime.run(adapter.poll(job()), timeout=10).provider_status == "processing"
    runtime.run(adapter.t.aclose())
