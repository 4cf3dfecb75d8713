"""The monitor widget in plain pytest (no kernel), over real batches against the sandbox."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import scene_image, stats
from toolkit.client.batch import Batch
from toolkit.client.model import Job, PreflightError, Status
from toolkit.widgets import Monitor, batch_mimebundle, monitor_for, snapshot
from toolkit.workspace import Workspace


def write_images(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        (folder / f"cam-{i:03d}.jpg").write_bytes(scene_image(i, size=(96, 72), objects=1))
    return folder


def pill_counts(html: str) -> dict[str, int]:
    """The coloured counts as the header HTML shows them, by unified status (kept in each pill's title):
    {"succeeded": 12, ...}."""
    return {s: int(n) for s, n in re.findall(r'<span title="(\w+)"[^>]*>(\d+) [^<]*</span>', html)}


def pill_labels(html: str) -> dict[str, str]:
    """What each pill says after its count, by unified status: {"draft": "not sent yet", ...}."""
    return dict(re.findall(r'<span title="(\w+)"[^>]*>\d+ ([^<]*)</span>', html))


def failure_rows(html: str) -> list[tuple[str, str, str]]:
    cells = re.findall(r"<tr><td[^>]*>(.*?)</td><td[^>]*><code[^>]*>(.*?)</code></td><td[^>]*>(.*?)</td></tr>", html)
    return [tuple(c) for c in cells]


def test_monitor_follows_a_whole_batch_with_failures(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"animaldetect": {"fail": 0.3}}, seed=5, time_scale=0.05)  # ~1.5 s
    images = write_images(tmp_path / "imgs", 16)
    (images / "broken.jpg").write_bytes(b"not an image at all")
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = ws.animaldetect.detect(images)
    m = Monitor(batch)
    bars: list[int] = []
    m.bar.observe(lambda c: bars.append(c["new"]), names="value")
    batch.wait(timeout=60)
    counts = batch.status_counts()
    failed = counts["failed"]
    assert counts["succeeded"] + failed == 16 and 5 <= failed < 16
    # the final flush happened before wait() returned: no sleep needed
    assert m.snapshot.finished and m.bar.value == m.bar.max == 16
    assert m.bar.bar_style == "warning"
    assert bars == sorted(bars) and any(0 < v < 16 for v in bars)  # it moved live, never backwards
    assert pill_counts(m.header.value) == {"succeeded": counts["succeeded"], "failed": failed, "rejected": 1}
    assert "16/16 done" in m.stats.value
    rows = failure_rows(m.failures.value)
    expected = [Path(j.input).name for j in batch._failed_jobs()][:4]  # submission order once finished
    assert [Path(r[0]).name for r in rows[:4]] == expected
    assert all(code == "PROCESSING_FAILED" and "failed" in msg for _, code, msg in rows[:4])
    assert len(rows) == 5 and f"and {failed + 1 - 5} more" in m.failures.value
    assert m.cancel_button.disabled and not m.retry_button.disabled
    # outside a kernel the display is static HTML + text, final and free of timings
    bundle = batch_mimebundle(batch)
    assert set(bundle) == {"text/plain", "text/html"}
    assert (
        bundle["text/plain"]
        .splitlines()[0]
        .endswith(f"16/16 done ({counts['succeeded']} succeeded, {failed} failed, 1 rejected before sending)")
    )
    assert "broken.jpg" not in bundle["text/plain"] or failed >= 5  # rejected rows come after job failures
    assert bundle == batch_mimebundle(batch)  # deterministic
    assert "http" not in bundle["text/html"] and "<script" not in bundle["text/html"]


def test_retry_button_submits_exactly_the_failed_inputs(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"animaldetect": {"fail": 0.4}}, seed=2)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = ws.animaldetect.detect(write_images(tmp_path / "imgs", 12)).wait(timeout=60)
    failed_inputs = sorted(j.input for j in batch._failed_jobs())
    assert failed_inputs
    httpx.put(sb.url + "/__sandbox__/faults", json={"spec": ""}).raise_for_status()  # the retries succeed
    m = monitor_for(batch)
    assert monitor_for(batch) is m  # one widget model per batch
    m.retry_button.click()
    assert len(m.retried) == 1
    again = m.retried[0]
    assert sorted(j.input for j in again.jobs) == failed_inputs and again.id != batch.id
    assert f"retrying {len(failed_inputs)} failed input" in m.note.value
    child = monitor_for(again)
    assert m.retries.children == (child.widget,)
    again.wait(timeout=60)
    assert child.snapshot.finished and child.bar.value == len(failed_inputs)
    assert pill_counts(child.header.value) == {"succeeded": len(failed_inputs)}
    assert child.retry_button.disabled
    tenant = stats(sb)["providers"]["animaldetect"]["tenants"][sb.tenant("animaldetect").id]
    assert tenant["jobs"]["created"] == 12 + len(failed_inputs)


def test_retry_clicked_twice_pays_once_and_the_button_waits_for_the_retry(make_sandbox, tmp_path):
    sb = make_sandbox(faults={"authenta": {"fail": 0.5}}, seed=3, time_scale=0.02)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = ws.authenta.run("ai-image-detection", write_images(tmp_path / "imgs", 8)).wait(timeout=120)
    failed = len(batch._failed_jobs())
    assert failed
    httpx.put(sb.url + "/__sandbox__/faults", json={"spec": ""}).raise_for_status()
    m = monitor_for(batch)
    m.retry_button.click()
    assert m.retry_button.disabled, "enabled while the retry's jobs run"
    m.retry_button.click()  # the second click of a double click, queued before the button greyed out
    m.retry()  # or a call from code while it runs
    assert len(m.retried) == 1 and len(m.retries.children) == 1
    assert "already running" in m.note.value
    m.retried[0].wait(timeout=120)
    m.refresh()
    assert m.retry_button.disabled and m.retried[0].id in m.retry_button.tooltip  # the retry's monitor carries on
    tenant = stats(sb)["providers"]["authenta"]["tenants"][sb.tenant("authenta").id]
    assert tenant["jobs"]["created"] == 8 + failed


def test_cancel_button_cancels_jobs_not_started(sandbox, tmp_path):
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    done = ws.authenta.run("ai-image-detection", write_images(tmp_path / "first", 2, start=100)).wait(timeout=30)
    runner = sandbox.ctx.runner
    runner.workers = 0  # every sandbox worker busy: new Authenta jobs stay queued (Authenta cancels those)
    try:
        batch = ws.authenta.run("ai-image-detection", write_images(tmp_path / "imgs", 6))
        m = Monitor(batch)
        assert Monitor(done).cancel_button.disabled  # nothing left to cancel there
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and batch.status_counts()["queued"] < 6:
            time.sleep(0.02)
        m.refresh()
        assert pill_counts(m.header.value) == {"queued": 6}
        assert not m.cancel_button.disabled
        m.cancel_button.click()
    finally:
        runner.workers = 1
        runner.wake()
    assert "cancelled 6 of the 6 jobs not started yet" in m.note.value
    batch.wait(timeout=30)
    assert batch.status_counts()["cancelled"] == 6
    assert m.snapshot.finished and pill_counts(m.header.value) == {"cancelled": 6}
    assert m.cancel_button.disabled and m.bar.value == 6 and m.bar.bar_style == "warning"
    # a second cancel (notebook 03 run again) says why it stopped nothing, in agreement with the counts
    assert m.cancel() == 0 and "nothing left to cancel: 6 were already cancelled" in m.note.value
    # Animal Detect has no cancel: the button says so instead of pretending
    ad = Monitor(ws.animaldetect.detect(write_images(tmp_path / "more", 2, start=200)))
    assert ad.cancel_button.disabled and "cannot cancel" in ad.cancel_button.tooltip
    assert ad.cancel() == 0 and "cannot cancel" in ad.note.value
    ad.batch.wait(timeout=30)


def test_updates_are_throttled_whatever_the_number_of_changes(make_sandbox, tmp_path):
    sb = make_sandbox(time_scale=0.004)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    batch = ws.animaldetect.detect(write_images(tmp_path / "imgs", 200))
    m = Monitor(batch)
    sent: list[float] = []  # one entry per widget message the stats line would cause
    m.stats.observe(lambda c: sent.append(time.monotonic()), names="value")
    t0 = time.monotonic()
    batch.wait(timeout=90)
    duration = time.monotonic() - t0
    events = batch.version
    assert duration > 1.0, "the batch must run long enough to measure a rate"
    assert events >= 600  # create/submit/poll changes of 200 jobs
    rate = len(sent) / duration
    assert rate <= 5.0, f"{len(sent)} updates in {duration:.1f} s"
    assert len(sent) >= duration * 2  # and still live: ~4 per second
    gaps = [b - a for a, b in zip(sent, sent[1:-1])]  # the last one is the immediate final flush
    assert min(gaps) >= 0.2
    assert m.bar.value == 200 and m.snapshot.finished


def test_monitor_cost_for_ten_thousand_jobs(sandbox, tmp_path):
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    client = ws.animaldetect
    statuses = list(Status)
    now = time.time()
    jobs = [
        Job(
            key=f"k{i}",
            provider="animaldetect",
            operation="detect",
            input=f"cam-{i:05d}.jpg",
            batch_id="b-big",
            status=statuses[i % len(statuses)],
            finished_at=now + i * 1e-4,
            error_code="E",
            error_message="m",
        )
        for i in range(10_000)
    ]
    batch = Batch(client, "b-big", jobs, {}, [])  # never started: only the monitor's own cost is measured
    m = Monitor(batch, heartbeat=3600)
    t = time.perf_counter()
    for _ in range(10):
        m.refresh()
    per_flush = (time.perf_counter() - t) / 10
    t = time.perf_counter()
    for _ in range(20_000):
        m._on_change(batch)  # what every job change costs the batch's loop thread
    per_event = (time.perf_counter() - t) / 20_000
    assert per_flush < 0.05, f"{per_flush * 1000:.1f} ms per flush"
    assert per_event < 50e-6, f"{per_event * 1e6:.1f} µs per change"
    snap = snapshot(batch)
    counts = batch.status_counts()
    assert snap.counts == counts and snap.terminal == sum(counts[s.value] for s in Status if s.terminal)
    bad = [i for i in range(10_000) if statuses[i % 7] in (Status.FAILED, Status.EXPIRED)]
    assert [f.input for f in snap.failures] == [f"cam-{i:05d}.jpg" for i in bad[::-1][:5]]  # latest first


def test_listener_runs_on_the_loop_thread_and_flushes_there(sandbox, tmp_path):
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    batch = ws.animaldetect.detect(write_images(tmp_path / "imgs", 3))
    m = Monitor(batch)
    threads: set[str] = set()
    m.header.observe(lambda c: threads.add(threading.current_thread().name), names="value")
    batch.wait(timeout=30)
    assert threads == {"toolkit-loop"}  # the kernel's main thread is never needed to update the widget
    assert m.snapshot.finished and pill_counts(m.header.value) == {"succeeded": 3}


def test_finished_and_empty_batches_render_at_once(sandbox, tmp_path):
    images = write_images(tmp_path / "imgs", 3)
    Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True).animaldetect.detect(images).wait(timeout=30)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)  # as after a kernel restart
    again = ws.animaldetect.detect(images)
    m = Monitor(again)  # re-attached from the ledger: final at once, no request, no clock running
    assert m.snapshot.finished and m.bar.bar_style == "success"
    took = max(j.finished_at or 0 for j in again.jobs) - min(j.created_at for j in again.jobs)
    assert took > 0 and m.snapshot.elapsed == took  # how long the batch took, from the ledger
    assert "took" in m.stats.value and m.snapshot.rate is None  # nothing finished in this session
    assert ws.animaldetect.transport.requests == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_text("text, not an image")
    (bad / "b.jpg").write_bytes(b"")
    with pytest.raises(PreflightError) as refused:  # every input refused: raised where the mistake is made
        ws.animaldetect.detect(bad)
    empty = Batch(ws.animaldetect, "b-empty", [], {}, refused.value.rejected)  # as such a batch displays
    text = batch_mimebundle(empty)["text/plain"]
    assert text.splitlines()[0].endswith("0/0 done (2 rejected before sending)")
    assert [line.split()[0][-9:] for line in text.splitlines()[1:]] == ["bad/a.jpg", "bad/b.jpg"]  # tails
    assert all(line.split()[1] == "PREFLIGHT" for line in text.splitlines()[1:])
    e = Monitor(empty)
    assert e.snapshot.finished and e.cancel_button.disabled and e.retry_button.disabled
    assert len(failure_rows(e.failures.value)) == 2 and pill_counts(e.header.value) == {"rejected": 2}


def test_a_clock_that_survives_a_restart(sandbox, tmp_path):
    images = write_images(tmp_path / "imgs", 4)
    runner = sandbox.ctx.runner
    runner.workers = 0  # the sandbox takes no job: the batch stays unfinished across the "restart"
    try:
        first = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True).animaldetect.detect(images)
        time.sleep(0.6)
        again = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True).animaldetect.detect(images)  # restarted
        m = Monitor(again)
        recorded = min(j.created_at for j in again.jobs)
        assert again.started - recorded >= 0.6 and not m.snapshot.finished
        assert m.snapshot.elapsed >= 0.6  # counted from the ledger, not from this session's re-attach
    finally:
        runner.workers = 1
        runner.wake()
    again.wait(timeout=60)
    first.wait(timeout=60)
    snap = m.refresh()
    assert snap.finished and snap.elapsed == max(j.finished_at or 0 for j in again.jobs) - recorded
    assert snap.timing.startswith("took ")


def test_throughput_and_eta_in_readable_units(sandbox, tmp_path):
    client = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True).animaldetect
    t0 = time.time() - 40
    jobs = [
        Job(key=f"k{i}", provider="animaldetect", operation="detect", input=f"cam-{i}.jpg", batch_id="b-rate")
        for i in range(10)
    ]
    for i, j in enumerate(jobs):
        j.created_at = t0
        j.status = Status.SUCCEEDED if i < 3 else Status.RUNNING
        j.finished_at = t0 + 10 * (i + 1) if i < 3 else None
    batch = Batch(client, "b-rate", jobs, {}, [])
    batch.started = t0
    snap = snapshot(batch, now=t0 + 40)
    assert snap.rate == 3 / 40  # 0.075 jobs/s
    assert snap.timing == "40.0 s · 4.5 jobs/min · about 1.6 min left"  # 7 jobs at 4.5/min: 93 s


def test_display_labels_and_a_mixed_media_batch_titled_by_its_operation(sandbox, tmp_path):
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    media = Path(__file__).resolve().parents[2] / "data" / "media"
    screen = ws.authenta.screen([media / "astronaut.jpg", media / "voice_note.wav"])
    assert len({j.operation for j in screen.jobs}) == 2  # two tasks in one batch
    m = Monitor(screen)
    assert m.snapshot.operation == "screen" and "authenta · screen" in m.header.value
    screen.wait(timeout=60)
    assert batch_mimebundle(screen)["text/plain"].startswith("authenta · screen ")
    # the unified statuses stay in the data; the pills and the text say them in words
    jobs = [
        Job(key=f"d{i}", provider="authenta", operation="ai-image-detection", input=f"x{i}.jpg", batch_id="b-d")
        for i in range(2)
    ]
    waiting = Batch(ws.authenta, "b-d", jobs, {}, [])  # never started: both jobs not sent yet
    w = Monitor(waiting, heartbeat=3600)
    assert pill_counts(w.header.value) == {"draft": 2} and pill_labels(w.header.value) == {"draft": "not sent yet"}
    assert batch_mimebundle(waiting)["text/plain"].endswith("0/2 done (2 not sent yet)")
    assert w.cancel_button.description == "Cancel waiting jobs" and not w.cancel_button.disabled
    assert w.cancel() == 2 and w.note.value.endswith("cancelled 2 of the 2 jobs not started yet</span>")
