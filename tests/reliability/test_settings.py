"""Settings you can trust: ``Workspace()`` refuses a malformed base URL, a key with whitespace and a key variable
that is set but empty, naming the variable (never the key); an unreachable provider trips a circuit breaker so
a batch fails in seconds with one message naming the URL and its variable, and the breaker closes again once
the server answers.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.client import runtime
from toolkit.client.model import ConfigurationError, Status, ServiceUnreachable
from toolkit.client.transport import ProviderConfig, Transport
from toolkit.workspace import Workspace, service_variables

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk_SETTINGS_3f9a1c"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No service variable of the machine running the tests leaks in."""
    for var in [*service_variables(), "TOOLKIT_TIME_SCALE"]:
        monkeypatch.delenv(var, raising=False)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, never listened, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real HTTP server on a given loopback port answering every request with ``status`` (one per connection)."""

    def __init__(self, port: int, status: int = 200) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = b'{"ok": true}'
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.status = status
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


def send(t: Transport, method: str = "GET", path: str = "/health", **kw: object):
    return runtime.run(t.request(method, path, **kw), timeout=30)


# -- configuration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, reason",
    [
        ("htp://x", "the scheme must be http or https"),
        ("api.animaldetect.com/v1", "the scheme must be http or https"),
        ("http://", "it has no host"),
        ("https://api.animaldetect.com/v1\n", "it ends with a newline"),
        (" https://api.animaldetect.com/v1", "it starts with a space"),
        ("https://api.animal detect.com/v1", "it contains a space"),
        ("http://127.0.0.1:99999/v1", "the port must be a number from 0 to 65535"),
    ],
)
def test_a_malformed_base_url_variable_is_named_with_its_value_and_reason(monkeypatch, tmp_path, url, reason):
    monkeypatch.setenv("AD_API_KEY", KEY)
    monkeypatch.setenv("AD_API_BASE_URL", url)
    with pytest.raises(ConfigurationError) as raised:
        Workspace(tmp_path / "ws", quiet=True)
    message = str(raised.value)
    assert message.startswith(f"AD_API_BASE_URL={url!r}: ") and reason in message, message
    assert KEY not in message
    assert not (tmp_path / "ws").exists()  # refused before the ledger (or anything else) was created


def test_a_malformed_base_url_argument_is_named_as_the_argument(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        Workspace(tmp_path / "ws", keys={"claid": KEY}, base_urls={"claid": "ftp://files.example.com/v1"}, quiet=True)
    assert str(raised.value) == (
        "base_urls['claid']='ftp://files.example.com/v1': the scheme must be http or https "
        "(e.g. https://api.example.com/v1)"
    )
    # a password in the URL is not repeated in the message
    with pytest.raises(ConfigurationError) as raised:
        Workspace(tmp_path / "ws", base_urls={"claid": "htp://me:hunter2-secret@h/v1"}, quiet=True)
    assert "hunter2-secret" not in str(raised.value) and "me:***@h" in str(raised.value)


@pytest.mark.parametrize(
    "key, flaw",
    [
        (KEY + "\n", "ends with a newline (read from a file with its line end?)"),
        (KEY + "\r\n", "ends with a newline"),
        (" " + KEY, "starts with a space"),
        ("Bearer " + KEY, "contains a space"),
        (KEY[:6] + "\t" + KEY[6:], "contains a tab"),
        (KEY + "\u2019", "contains a non-ASCII character"),
    ],
)
def test_a_key_with_whitespace_is_refused_without_showing_it(monkeypatch, tmp_path, key, flaw):
    monkeypatch.setenv("SATEAIS_API_KEY", key)
    with pytest.raises(ConfigurationError) as raised:
        Workspace(tmp_path / "ws", quiet=True)
    message = str(raised.value)
    assert message.startswith(f"SATEAIS_API_KEY {flaw}") and "strip it" in message, message
    assert KEY not in message and KEY[:8] not in message and KEY[-6:] not in message


def test_a_key_argument_and_a_token_variable_are_checked_too(monkeypatch, tmp_path):
    with pytest.raises(ConfigurationError, match=r"^keys\['claid'\] ends with a newline") as raised:
        Workspace(tmp_path / "ws", keys={"claid": KEY + "\n"}, quiet=True)
    assert KEY not in str(raised.value)
    monkeypatch.setenv("FR_API_KEY", KEY)
    monkeypatch.setenv("FR_BASE_URL", "https://faces.example.com/api/v1")
    monkeypatch.setenv("FR_JWT", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl\n")
    with pytest.raises(ConfigurationError, match=r"^FR_JWT ends with a newline") as raised:
        Workspace(tmp_path / "ws", quiet=True)
    assert "eyJ" not in str(raised.value)


def test_an_empty_key_variable_is_an_error_not_a_silent_switch_to_the_sandbox(monkeypatch, tmp_path):
    monkeypatch.setenv("AD_API_KEY", "")
    with pytest.raises(ConfigurationError) as raised:
        Workspace(tmp_path / "ws", quiet=True)
    assert str(raised.value) == "AD_API_KEY is set but empty: unset it to use the embedded sandbox, or give the key"
    with pytest.raises(ConfigurationError, match=r"^keys\['animaldetect'\] is empty"):
        Workspace(tmp_path / "ws", keys={"animaldetect": ""}, quiet=True)
    monkeypatch.delenv("AD_API_KEY")
    ws = Workspace(tmp_path / "ws", quiet=True)  # unset: the sandbox, as documented (nothing started yet)
    assert "animaldetect" in ws._sandboxed and ws.sandbox is None


def test_an_empty_base_url_variable_with_a_key_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AD_API_KEY", KEY)
    monkeypatch.setenv("AD_API_BASE_URL", "")
    with pytest.raises(ConfigurationError) as raised:
        Workspace(tmp_path / "ws", quiet=True)
    assert str(raised.value) == (
        "AD_API_BASE_URL is set but empty: unset it to use the default "
        "https://api.animaldetect.com/v1, or give the base URL"
    )


def test_the_config_knows_where_its_base_url_came_from(monkeypatch, tmp_path):
    monkeypatch.setenv("AD_API_KEY", KEY)
    monkeypatch.setenv("AD_API_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("SATEAIS_API_KEY", KEY)
    ws = Workspace(
        tmp_path / "ws", keys={"claid": KEY}, base_urls={"claid": "https://claid.example.com/v1"}, quiet=True
    )
    assert ws._config("animaldetect").url_var == "AD_API_BASE_URL"
    assert ws._config("claid").url_var == "base_urls['claid']"
    assert ws._config("sateais").url_var == "default; SATEAIS_BASE_URL is not set"
    assert ws._config("sateais").base_url == "https://api.spcsft.com/api/v1"


# -- the circuit breaker -----------------------------------------------------------------------------------------


def test_a_closed_port_fails_a_whole_batch_in_seconds_with_one_message(monkeypatch, tmp_path):
    """It took 148 s for 20 images (8 attempts each with backoff up to 30 s); the breaker ends it at once."""
    port = closed_port()
    monkeypatch.setenv("AD_API_KEY", KEY)
    monkeypatch.setenv("AD_API_BASE_URL", f"http://127.0.0.1:{port}/v1")
    images = sorted((ROOT / "data" / "camera_traps").glob("*.jpg"))
    assert len(images) >= 20
    ws = Workspace(tmp_path / "ws", quiet=True)
    t0 = time.monotonic()
    batch = ws.animaldetect.detect([str(p) for p in images]).wait(timeout=30, progress=False)
    elapsed = time.monotonic() - t0
    transport = ws.animaldetect.transport
    assert elapsed < 10, f"{elapsed:.1f} s"
    assert len(batch.jobs) >= 20
    assert {(j.status, j.error_code) for j in batch.jobs} == {(Status.FAILED, "UNREACHABLE")}
    messages = {j.error_message for j in batch.jobs}
    assert len(messages) == 1, messages
    (message,) = messages
    assert message.startswith(f"cannot reach http://127.0.0.1:{port}/v1 (AD_API_BASE_URL): connection refused")
    assert "re-run" in message and KEY not in message
    assert transport.breaker_open and transport.breaker_reason == "connection refused"
    assert transport.requests <= transport.config.max_in_flight  # those under way when it opened, no more


def test_the_breaker_opens_after_three_failures_and_closes_once_the_server_is_back(servers):
    port = closed_port()
    cfg = ProviderConfig(
        "animaldetect",
        f"http://127.0.0.1:{port}/v1",
        KEY,
        url_var="AD_API_BASE_URL",
        time_scale=0.1,
        breaker_probe_interval=5.0,
    )  # probes every 0.5 s
    t = Transport(cfg)
    with pytest.raises(ServiceUnreachable) as raised:
        send(t)
    err = raised.value
    assert err.code == "UNREACHABLE" and t.breaker_open
    assert err.message == f"cannot reach http://127.0.0.1:{port}/v1 (AD_API_BASE_URL): connection refused"
    assert "the ledger resumes" in str(err)
    assert t.requests == 3 and t.retries == 2  # retries stopped when the breaker opened, not after 8 attempts

    sent = t.requests
    t0 = time.monotonic()
    failures = 0
    while time.monotonic() - t0 < 1.0:  # 20 requests in 1 s: refused at once, but for one probe per 0.5 s
        with pytest.raises(ServiceUnreachable, match="cannot reach"):
            send(t, "POST", "/jobs", safe_to_retry=True)
        failures += 1
        time.sleep(0.05)
    assert failures >= 10 and 1 <= t.requests - sent <= 3, (failures, t.requests - sent)
    assert t.breaker_open

    servers.append(Server(port))
    deadline = time.monotonic() + 5
    resp = None
    while resp is None and time.monotonic() < deadline:  # the next probe goes through and closes the breaker
        try:
            resp = send(t)
        except ServiceUnreachable:
            time.sleep(0.05)
    assert resp is not None and resp.status_code == 200 and not t.breaker_open
    assert send(t, "POST", "/jobs").status_code == 200  # and everything flows again
    runtime.run(t.aclose())


def test_any_http_answer_even_a_5xx_resets_the_count(servers):
    port = closed_port()
    cfg = ProviderConfig("animaldetect", f"http://127.0.0.1:{port}/v1", KEY, time_scale=0.01, max_attempts=2)
    t = Transport(cfg)
    with pytest.raises(ServiceUnreachable, match="failed after 2 attempts"):
        send(t)  # two connection failures: one short of opening
    assert not t.breaker_open
    server = Server(port, status=503)
    assert send(t).status_code == 503  # reached the server: the count starts again
    server.stop()
    with pytest.raises(ServiceUnreachable, match="failed after 2 attempts"):
        send(t)
    assert not t.breaker_open  # 2 + 2 failures, but never 3 in a row
    with pytest.raises(ServiceUnreachable, match="cannot reach"):
        send(t)
    assert t.breaker_open
    runtime.run(t.aclose())


def test_a_tls_failure_opens_the_breaker_with_its_reason(servers):
    """``https://`` to a plain-HTTP port: the handshake fails before anything is sent."""
    port = closed_port()
    servers.append(Server(port))
    t = Transport(
        ProviderConfig("claid", f"https://127.0.0.1:{port}/v1", KEY, url_var="CLAID_BASE_URL", time_scale=0.01)
    )
    with pytest.raises(ServiceUnreachable) as raised:
        send(t, "POST", "/image/edit/async")  # a POST: connection failures are safe to repeat
    assert raised.value.code == "UNREACHABLE" and t.breaker_open and t.requests == 3
    assert raised.value.message.startswith(
        f"cannot reach https://127.0.0.1:{port}/v1 (CLAID_BASE_URL): TLS handshake failed"
    )
    runtime.run(t.aclose())


def test_another_hosts_failures_do_not_open_the_providers_breaker():
    """Signed storage URLs live elsewhere: their trouble is retried as before and says nothing of the API."""
    api, storage = closed_port(), closed_port()
    t = Transport(ProviderConfig("animaldetect", f"http://127.0.0.1:{api}/v1", KEY, time_scale=0.01, max_attempts=4))
    with pytest.raises(ServiceUnreachable, match="failed after 4 attempts"):
        send(t, "PUT", f"http://localhost:{storage}/upload?sig=x", auth=False, content=b"x")
    assert t.requests == 4 and not t.breaker_open
    runtime.run(t.aclose())
