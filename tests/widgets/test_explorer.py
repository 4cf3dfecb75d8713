"""The jobs explorer over a real ledger filled by real batches against the sandbox."""

from __future__ import annotations

import re

from tests.widgets.test_monitor import pill_counts, write_images
from toolkit.widgets import JobsExplorer, explore
from toolkit.workspace import Workspace


def table_rows(html: str) -> list[list[str]]:
    body = html.split("<tbody>", 1)[1] if "<tbody>" in html else ""
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_explorer_filters_the_ledger_by_provider_status_and_batch(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"animaldetect": {"fail": 0.5}}, seed=4)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    ad = ws.animaldetect.detect(write_images(tmp_path / "a", 8)).wait(timeout=60)
    au = ws.authenta.run("ai-image-detection", write_images(tmp_path / "b", 3, start=50)).wait(timeout=60)
    failed = ad.status_counts()["failed"]
    assert 0 < failed < 8

    x = JobsExplorer(ws)
    assert [v for _, v in x.provider.options] == ["", "animaldetect", "authenta"]
    assert {v for _, v in x.batch.options} == {"", ad.id, au.id}
    assert "11 jobs" in x.summary.value and "in 2 batches" in x.summary.value
    assert len(table_rows(x.table.value)) == 11

    x.provider.value = "animaldetect"  # the batch choices follow the provider
    assert {v for _, v in x.batch.options} == {"", ad.id}
    assert set(x.frame()["provider"]) == {"animaldetect"}
    assert pill_counts(x.summary.value) == {"succeeded": 8 - failed, "failed": failed}

    x.status.value = "failed"
    rows = table_rows(x.table.value)
    assert len(rows) == failed and all(r[1] == "failed" and "PROCESSING_FAILED" in r[6] for r in rows)
    assert sorted(r[0].rsplit("/", 1)[-1] for r in rows) == sorted(
        j.input.rsplit("/", 1)[-1] for j in ad._failed_jobs()
    )

    x.provider.value = ""
    x.status.value = ""
    x.batch.value = au.id
    assert set(x.frame()["batch_id"]) == {au.id} and len(table_rows(x.table.value)) == 3

    # a batch submitted later appears after a reload; the static HTML carries the table for saved notebooks
    more = ws.animaldetect.detect(write_images(tmp_path / "c", 2, start=90)).wait(timeout=60)
    x.reload_button.click()
    assert more.id in {v for _, v in x.batch.options}
    y = explore(ws, provider="animaldetect", status="succeeded", rows=3)
    bundle = y._repr_mimebundle_()
    assert set(bundle) >= {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"}
    n_ok = 8 - failed + more.status_counts()["succeeded"]
    assert f"{n_ok} jobs matching" in bundle["text/plain"]
    assert len(table_rows(bundle["text/html"])) == min(3, n_ok)
    assert "http" not in bundle["text/html"]


def test_explorer_of_an_empty_ledger(tmp_path, sandbox):
    x = JobsExplorer(Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True))
    assert x.frame().empty and "No jobs match." in x.table.value and "0 jobs" in x.summary.value
    assert [v for _, v in x.batch.options] == [""]
