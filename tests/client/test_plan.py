"""``dry_run=True`` on every operation of every provider (and the fake sixth): a Plan, nothing sent that creates,
nothing recorded; its counts are what the real call then does; afterwards everything is "finished already".
The same folder at threshold 0.3 then 0.5 warns once that it pays again. ``toolkit submit --dry-run`` prints it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import pytest

import toolkit as tk
from tests.cli.test_cli import KEY, cli
from tests.client.test_authenta_client import TASK_MEDIA, write
from tests.client.test_faces_client import write_roster
from tests.client.test_sateais_client import CALLS, square
from tests.helpers import scene_image, stats
from tests.test_sixth_provider import sixth  # noqa: F401 -- the fixture
from toolkit.client import registry
from toolkit.client.options import options_of
from toolkit.client.plan import AGAIN, FINISHED, NEW, REFUSED, Plan
from toolkit.sandbox.config import Tenant
from toolkit.workspace import Workspace


def images(folder: Path, n: int, bad: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"cam-{i:03d}.jpg").write_bytes(scene_image(i, size=(160, 120)))
    if bad:
        (folder / "notes.jpg").write_text("not an image")  # refused by its bytes
    return folder


def call_for(provider: str, operation: str, tmp: Path) -> Callable[[Any], Any]:
    """A call of ``operation`` on good inputs (and one refused where the inputs can be files)."""
    if provider == "animaldetect":
        folder = images(tmp / "imgs", 3)
        return lambda c, **kw: c.detect(folder, threshold=0.3, **kw)
    if provider == "sateais":
        aois = [square(0), square(1), "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))"]  # a bow-tie is refused
        return lambda c, **kw: getattr(c, operation)(aois, **CALLS[operation], **kw)
    if provider == "claid":
        folder = images(tmp / "imgs", 2)
        return lambda c, **kw: c.edit(folder, {"resizing": {"width": 40}}, "png", **kw)
    if provider == "faces":
        roster = write_roster(tmp / "staff", 3)
        return lambda c, **kw: c.enroll(roster, **kw)
    if provider == "echo":
        return lambda c, **kw: c.echo(["hello", "world"], **kw)
    if operation == "screen":
        folder = write(tmp / "media", "photo.jpg", "tone.wav", "clip.mp4", "doc.pdf")  # the PDF is refused
        return lambda c, **kw: c.screen(folder, **kw)
    files = sorted(write(tmp / operation, *TASK_MEDIA[operation]).iterdir())
    return lambda c, **kw: c.run(operation, files, **kw)


def created(sb: Any, provider: str) -> int:
    """Jobs the sandbox created for the provider's demo key (server side)."""
    tenant = stats(sb)["providers"].get(provider, {}).get("tenants", {}).get(sb.tenant(provider).id, {})
    return tenant.get("jobs", {}).get("created", 0)


def check_plan_then_call(ws: Workspace, sb: Any, provider: str, call: Callable[..., Any]) -> None:
    client = ws.client(provider)
    before = created(sb, provider)
    plan = call(client, dry_run=True)
    assert isinstance(plan, Plan)
    previews = plan.new_jobs if provider == "sateais" else 0  # SateAIs' plan asks its free preview, nothing else
    assert client.transport.requests == previews and created(sb, provider) == before
    assert ws.jobs().empty and not ws.ledger.batches()  # nothing recorded
    assert plan.new_jobs > 0 and plan.counts[FINISHED] == 0
    assert (plan.credits is not None) == (provider == "sateais")  # the credits its preview states
    assert repr(plan).startswith(f"<Plan {provider} ") and "nothing sent yet" in repr(plan)
    assert "<table" in plan._repr_html_() and NEW in plan._repr_html_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tk.RejectedInputs)
        batch = call(client).wait(timeout=90, progress=False)
    assert created(sb, provider) - before == plan.new_jobs  # what the plan said is what was created
    assert len(batch.jobs) == len(plan.rows) - plan.counts[REFUSED]
    assert len(batch.rejected) == plan.counts[REFUSED]
    again = call(client, dry_run=True)
    assert again.counts[FINISHED] == len(batch.jobs) and again.new_jobs == 0, again
    assert again.batch_id == batch.id or provider == "authenta"


OPERATIONS = [(p, op) for p in registry.names() for op in registry.get(p).operations]


@pytest.mark.parametrize(("provider", "operation"), OPERATIONS, ids=[f"{p}-{o}" for p, o in OPERATIONS])
def test_dry_run_of_every_operation_sends_nothing_and_says_what_the_call_does(
    make_sandbox, tmp_path, provider, operation
):
    assert "dry_run" in options_of(provider, operation).names  # declared, hence checked, documented, in the form
    sb = make_sandbox(time_scale=0.0005)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    check_plan_then_call(ws, sb, provider, call_for(provider, operation, tmp_path))


def test_dry_run_of_a_sixth_provider(sixth, make_sandbox, tmp_path):  # noqa: F811 -- the fixture
    sb = make_sandbox(time_scale=0.01)
    ws = Workspace(tmp_path / "ws", sandbox=sb, quiet=True)
    check_plan_then_call(ws, sb, "echo", call_for("echo", "echo", tmp_path))


def test_dry_run_is_declared_once_and_checked():
    with pytest.raises(tk.InvalidOption, match="dry_run='yes' is a str"):  # checked first: no workspace needed
        registry.get("animaldetect").client.detect(object(), "x", dry_run="yes")  # type: ignore[arg-type]
    assert "dry_run (true/false, default False)" in registry.get("claid").client.edit.__doc__


def test_a_new_threshold_on_the_same_folder_warns_that_it_pays_again(sandbox, tmp_path):
    folder = images(tmp_path / "imgs", 4, bad=False)
    ws = Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)
    first = ws.animaldetect.detect(folder, threshold=0.3).wait(timeout=60, progress=False)
    plan = ws.animaldetect.detect(folder, threshold=0.5, dry_run=True)
    assert plan.counts[AGAIN] == 4 and plan.new_jobs == 4
    assert {r.earlier_batch for r in plan.rows} == {first.id} and "threshold=0.3" in plan.rows[0].detail
    with pytest.warns(tk.PaidAgain) as caught:
        second = ws.animaldetect.detect(folder, threshold=0.5)
    assert len([w for w in caught if issubclass(w.category, tk.PaidAgain)]) == 1  # once, not per input
    w = next(w for w in caught if issubclass(w.category, tk.PaidAgain))
    assert w.filename == __file__  # at the user's line
    text = str(w.message)
    assert "4 inputs already analysed" in text and first.id in text and "score" in text and "threshold=0.3" in text
    second.wait(timeout=60, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tk.PaidAgain)
        ws.animaldetect.detect(folder, threshold=0.5)  # a re-run re-attaches: nothing paid, no warning
        ws.animaldetect.detect(folder, threshold=0.3)
    assert len(ws.jobs()) == 8


def test_cli_dry_run_prints_the_plan_and_sends_nothing(make_sandbox, tmp_path):
    sb = make_sandbox(tenants=[Tenant("animaldetect", KEY)])
    folder = images(tmp_path / "imgs", 3)
    out = cli(sb, tmp_path, "submit", "animaldetect", "detect", str(folder), "-o", "threshold=0.3", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "<Plan animaldetect detect: 4 inputs -> 3 new jobs, 1 refused; nothing sent yet>" in out.stdout
    assert "notes.jpg" in out.stdout and not stats(sb)["providers"].get("animaldetect", {}).get("tenants")
    assert "b-" not in cli(sb, tmp_path, "jobs", "ls", "--batches").stdout  # nothing recorded
    assert "--dry-run" in cli(sb, tmp_path, "submit", "--help").stdout
