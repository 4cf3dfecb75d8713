"""A sixth provider, defined entirely here (a client adapter and a sandbox provider), runs end to end through
the Workspace, the CLI, the monitor, ``toolkit.load`` and the OpenAPI document without editing a toolkit file.

The sandbox side is the "echo" provider of ``tests/sandbox/test_registry.py``; the client side is below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import httpx
import pandas as pd
import pytest

import toolkit as tk
import toolkit.sandbox as sandbox_pkg
from tests.sandbox.test_registry import PREFIX, SPEC
from toolkit import cli
from toolkit.client import registry
from toolkit.client.batch import Batch, ProviderClient
from toolkit.client.model import Job, Status
from toolkit.client.plan import Plan
from toolkit.client.providers.base import Adapter, Item, PollPolicy, PollResult
from toolkit.client.registry import ProviderInfo
from toolkit.widgets import batch_mimebundle
from toolkit.workspace import service_variables


class EchoAdapter(Adapter):
    """The echo contract: POST /tasks {"text"} -> GET /tasks/{id} until done (the result is in the body)."""

    name = "echo"
    policy = PollPolicy(first=0.5, interval=0.5, factor=1.5, max_interval=5.0)
    statuses = {"waiting": Status.QUEUED, "running": Status.RUNNING, "done": Status.SUCCEEDED, "broken": Status.FAILED}

    async def create(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        r = await self.t.request("POST", "/tasks", json={"text": item.meta["text"]})
        if r.status_code != 202:
            raise self.error(r, job)
        job.job_id = r.json()["id"]
        job.status = Status.QUEUED
        record(job)

    async def poll(self, job: Job) -> PollResult:
        r = await self.t.request("GET", f"/tasks/{job.job_id}")
        if r.status_code != 200:
            raise self.error(r, job)
        body = r.json()
        status = self.statuses.get(body["state"])
        return PollResult(
            status,
            body["state"],
            result=r.content if status == Status.SUCCEEDED else None,
            error_code="ECHO_CRASHED" if status == Status.FAILED else None,
        )

    def parse_error(self, resp: httpx.Response) -> tuple[str | None, str]:
        fault = resp.json().get("fault", {})
        return fault.get("kind"), fault.get("text", "")


class EchoClient(ProviderClient):
    adapter_class = EchoAdapter

    def echo(self, texts: str | list[str], force: bool = False, dry_run: bool = False) -> Batch | Plan:
        """One job per text."""
        texts = [texts] if isinstance(texts, str) else texts
        items = [Item(input=t, content=t.encode(), meta={"text": t}) for t in texts]
        return self.submit("echo", items, force=force, dry_run=dry_run)


def echo_rows(source: Any) -> pd.DataFrame:
    """One row per job: its text and what came back."""
    records = source.records() if hasattr(source, "records") else source
    return pd.DataFrame(
        [
            {"input": r["input"], "status": r["status"], "echo": ((r["result"] or {}).get("output") or {}).get("echo")}
            for r in records
        ]
    )


INFO = ProviderInfo(
    name="echo",
    key_var="ECHO_API_KEY",
    url_var="ECHO_BASE_URL",
    base_url="https://echo.invalid/v2",
    client=EchoClient,
    rate_limits=((1000, 60.0),),
    loader=echo_rows,
    operations=("echo",),
    sandbox=True,
)


@pytest.fixture
def sixth(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in service_variables():
        monkeypatch.delenv(var, raising=False)
    registry.register(INFO)
    sandbox_pkg.register(SPEC)
    try:
        yield
    finally:
        registry.unregister("echo")
        sandbox_pkg.unregister("echo")


def test_a_sixth_provider_runs_through_workspace_load_monitor_openapi_and_cli(sixth, tmp_path, capsys):
    ws = tk.Workspace(tmp_path / "ws", sandbox_time_scale=0.01, quiet=True)
    b = ws.client("echo").echo(["hello", "world", "fail"]).wait(timeout=60, progress=False)
    assert b.status_counts()["succeeded"] == 2 and b.status_counts()["failed"] == 1

    frame = tk.load.results(b)  # the registry's loader, as b.results()
    assert dict(zip(frame["input"], frame["echo"].fillna("-"))) == {"hello": "HELLO", "world": "WORLD", "fail": "-"}
    assert b.results().equals(frame)
    assert list(ws.jobs()["provider"].unique()) == ["echo"]

    bundle = batch_mimebundle(b)  # the monitor's static form
    assert "echo" in bundle["text/plain"] and "2 succeeded" in bundle["text/plain"]

    doc = httpx.get(ws.sandbox.url + "/openapi.json", timeout=10).json()
    assert PREFIX + "/tasks" in doc["paths"] and PREFIX + "/tasks/{task_id}" in doc["paths"]

    out = tmp_path / "echo.json"
    assert cli.main(["-w", str(tmp_path / "ws"), "results", "export", b.id, "--out", str(out)]) == 0
    assert sorted(r["input"] for r in json.loads(out.read_text())) == ["hello", "world"]
    code = cli.main(["-w", str(tmp_path / "ws2"), "submit", "echo", "echo", "again", "--timeout", "60"])
    assert code == 0, capsys.readouterr().err
    assert Path(tmp_path / "ws2" / "ledger.sqlite3").exists()


def test_a_sixth_provider_gets_its_form_with_no_widget_code(sixth, tmp_path):
    """The form is made from what the registry and the client declare (here only a signature: ``texts`` and
    ``force``), submits the same call as Python, and the monitor takes its place."""
    from toolkit.widgets import monitor_for

    ws = tk.Workspace(tmp_path / "ws", sandbox_time_scale=0.01, quiet=True)
    assert "echo" in ws.form().provider_picker.options
    form = ws.form("echo", "echo")
    assert list(form.inputs) == ["texts"] and list(form.fields) == ["force"]
    assert form.fields["force"].widget.value is False and form.submit_button.disabled
    form.inputs["texts"].value = "hello"
    assert "1 texts" in form.preflight_line.value and not form.submit_button.disabled
    assert form.code == 'ws.client("echo").echo("hello")'
    b = form.submit().wait(timeout=60, progress=False)
    assert b.status_counts()["succeeded"] == 1 and form.widget.children[0] is monitor_for(b).widget
    assert ws.client("echo").echo("hello").id == b.id  # the Python call: the same batch
    exec(form.code, {"ws": ws})
    assert len(ws.jobs()) == 1
