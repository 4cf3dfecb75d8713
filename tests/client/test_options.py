"""Options are checked by name, type and range from one declaration per operation, which also writes the
operation's docstring and what the CLI shows (``options_of``). Against the real sandbox: nothing is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolkit as tk
from tests.helpers import scene_image, stats
from toolkit.client import registry
from toolkit.client.batch import ProviderClient
from toolkit.client.options import FORCE, Input, Operation, Option, operation, operations_of, options_of

PROVIDERS = ["animaldetect", "sateais", "authenta", "claid", "faces"]
EVERY = [(p, op) for p in PROVIDERS for op in operations_of(p)]
MALTA = (14.5, 35.88, 14.53, 35.9)


@pytest.fixture
def ws(sandbox, tmp_path):
    (tmp_path / "a.jpg").write_bytes(scene_image(1, size=(96, 72)))
    return tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)


def nothing_sent(sandbox) -> bool:
    return all(
        not p["tenants"] or all(not t["requests"] for t in p["tenants"].values())
        for p in stats(sandbox)["providers"].values()
    )


def test_every_operation_of_every_provider_is_declared():
    assert {p for p, _ in EVERY} == set(PROVIDERS)
    for provider in PROVIDERS:
        for op in registry.get(provider).operations:  # what the CLI submits
            spec = options_of(provider, op)
            assert isinstance(spec, Operation) and spec.inputs, (provider, op)


@pytest.mark.parametrize("provider, op", EVERY)
def test_a_mistyped_option_of_any_operation_names_the_one_meant(ws, sandbox, tmp_path, provider, op):
    spec = options_of(provider, op)
    meant = spec.options[-1].name
    wrong = meant[:-1] + meant[-1] * 2  # "force" -> "forcee"
    method = getattr(ws.client(provider), op)
    with pytest.raises(tk.InvalidOption, match=rf"has no option '{wrong}'; did you mean '{meant}'\?"):
        method(tmp_path / "a.jpg", **{wrong: True})
    assert nothing_sent(sandbox)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda ws, p: ws.animaldetect.detect(p, threshold=1.5), "threshold=1.5 is outside 0.01..0.99"),
        (lambda ws, p: ws.animaldetect.detect(p, threshold="high"), "threshold='high' is a str, not a number"),
        (lambda ws, p: ws.animaldetect.detect(p, threshold=True), "threshold=True is a bool, not a number"),
        (lambda ws, p: ws.animaldetect.detect(p, latitude=95.0, longitude=10.0), "latitude=95.0 is outside -90..90"),
        (lambda ws, p: ws.animaldetect.detect(p, classify="yes"), "classify='yes' is a str, not a true/false"),
        (
            lambda ws, p: ws.sateais.ship(MALTA, "2026-06-15", date_direction="befor"),
            "date_direction='befor' is not one of 'before', 'after', 'nearest'; did you mean 'before'?",
        ),
        (
            lambda ws, p: ws.sateais.timeseries(MALTA, "2024-01-01", "2024-02-01", orbit_direction="north"),
            "orbit_direction='north' is not one of 'ascending', 'descending' or None",
        ),
        (lambda ws, p: ws.authenta.list_jobs(limit=500), "limit=500 is outside 1..100"),
        (lambda ws, p: ws.authenta.run("ai-image-detection", p, parameters=[1]), "parameters=[1] is a list"),
        (
            lambda ws, p: ws.authenta.run("face-intelligence", p, parameters={"isLivenessCheck": "yes"}),
            "has isLivenessCheck='yes': it must be True or False",
        ),
        (lambda ws, p: ws.claid.edit(p, {"resizing": {"width": 9}}, 5), "output=5 is a int, not a text or mapping"),
        (lambda ws, p: ws.faces.enroll(p, collection=7), "collection=7 is a int, not a text"),
        (lambda ws, p: ws.sateais.newbuilding(MALTA), "sateais.newbuilding() needs date_start"),
    ],
)
def test_a_wrong_value_names_the_option_the_value_and_what_is_accepted(ws, sandbox, tmp_path, call, fragment):
    with pytest.raises(tk.InvalidOption) as e:
        call(ws, tmp_path / "a.jpg")
    assert fragment in str(e.value), str(e.value)
    assert isinstance(e.value, ValueError) and nothing_sent(sandbox)
    assert ws.jobs().empty


def test_good_values_pass_and_the_job_runs(ws, tmp_path):
    b = ws.animaldetect.detect(tmp_path / "a.jpg", threshold=0.5, latitude=-1, longitude=36, country="KEN")
    assert b.wait(timeout=60, progress=False).status_counts()["succeeded"] == 1
    assert b.jobs[0].options["latitude"] == -1  # a whole number is a number: accepted as given


@pytest.mark.parametrize("provider, op", EVERY)
def test_the_docstring_is_written_from_the_declaration(provider, op):
    method = getattr(registry.get(provider).client, op)
    spec = options_of(provider, op)
    doc = method.__doc__
    assert doc.startswith(spec.summary) and "Options:" in doc
    for o in spec.options:
        assert f"\n    {o.describe()}" in doc
    for i in spec.inputs:
        assert f"\n    {i.name}" in doc


def test_options_of_gives_the_cli_what_it_shows_and_parses():
    spec = options_of("animaldetect", "detect")
    assert [i.name for i in spec.inputs] == ["images"]
    threshold = spec.option("threshold")
    assert (threshold.default, threshold.range, threshold.required) == (0.2, (0.01, 0.99), False)
    assert threshold.describe() == "threshold (number in 0.01..0.99, default 0.2): lowest detection confidence kept"
    assert spec.parse("threshold", "0.3") == 0.3 and spec.parse("classify", "false") is False
    assert spec.parse("country", "123") == "123"  # text stays text
    with pytest.raises(tk.InvalidOption, match="has no option 'threshhold'; did you mean 'threshold'"):
        spec.parse("threshhold", "0.3", call="toolkit submit animaldetect detect")
    with pytest.raises(tk.InvalidOption, match="threshold=2 is outside 0.01..0.99"):
        spec.parse("threshold", "2")
    task = options_of("authenta", "ai-image-detection")  # a task of run(): run's options, the task is the operation
    assert task.name == "ai-image-detection" and [i.name for i in task.inputs] == ["media"]
    assert "reference" in task.names and options_of("sateais", "ship").option("date_direction").choices
    with pytest.raises(tk.InvalidOption, match="has no operation 'shipp'; did you mean 'ship'"):
        options_of("sateais", "shipp")
    assert "(min_lon, min_lat, max_lon, max_lat)" in options_of("sateais", "ship").inputs[0].help


def test_a_declaration_must_name_every_parameter_and_agree_on_defaults():
    with pytest.raises(TypeError, match=r"undeclared parameters \['force'\]"):

        class Missing(ProviderClient):
            @operation(Input("texts"))
            def echo(self, texts: list[str], *, force: bool = False) -> None: ...

    with pytest.raises(TypeError, match="threshold defaults to 0.2, declared 0.5"):

        class Disagrees(ProviderClient):
            @operation(Input("texts"), Option("threshold", float, default=0.5), FORCE)
            def echo(self, texts: list[str], *, threshold: float = 0.2, force: bool = False) -> None: ...


def test_the_cli_help_lists_the_declared_options():
    text = options_of("sateais", "timeseries").help_text()
    assert text.splitlines()[0] == "Inputs:" and "\nOptions:\n" in text
    assert "    orbit_direction (one of 'ascending', 'descending' or None, default None)" in text
    assert Path(options_of("faces", "enroll").option("base_dir").parse("roster/")) == Path("roster")
