"""The submit form in plain pytest (no kernel): made from each operation's declaration, checked by the operation's
own checks, and submitting exactly the Python call against the sandbox."""

from __future__ import annotations

import datetime
import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import ipywidgets as W
import pytest

from tests.helpers import scene_image, stats
from tests.widgets.test_monitor import write_images
from toolkit.client import registry
from toolkit.client.model import InvalidOption, PreflightError
from toolkit.client.options import REQUIRED, Option
from toolkit.widgets import Form, monitor_for
from toolkit.widgets.form_call import declaration
from toolkit.workspace import Workspace


def created(sb, provider: str = "animaldetect") -> int:
    """Jobs the sandbox created for ``provider`` (server side)."""
    tenants = stats(sb)["providers"].get(provider, {}).get("tenants", {})
    return int(tenants.get(sb.tenant(provider).id, {}).get("jobs", {}).get("created", 0))


@pytest.fixture
def ws(sandbox, tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)


def expected_widget(o: Option) -> tuple[type, dict]:
    """What the declaration asks for, written out independently of the form's own rule."""
    types = set(o.types) - {type(None)}
    if o.choices is not None:
        return W.Dropdown, {"choices": ((None,) if o.default is None else ()) + tuple(o.choices)}
    if types == {bool}:
        if o.default is None:
            return W.Dropdown, {"choices": (None, True, False)}
        return W.Checkbox, {"value": o.default}
    if types <= {int, float} and o.range is not None and o.default not in (None, REQUIRED):
        cls = W.BoundedFloatText if float in types else W.BoundedIntText
        return cls, {"value": o.default, "min": o.range[0], "max": o.range[1]}
    if o.help.startswith("YYYY-MM-DD"):
        return W.DatePicker, {"value": None}
    if types == {dict}:
        return W.Textarea, {"value": ""}
    return W.Text, {"value": "" if o.default in (None, REQUIRED) else str(o.default)}


def test_every_operation_of_every_provider_gets_the_fields_its_declaration_names(ws):
    seen = 0
    for provider in registry.names():
        for operation in registry.get(provider).operations:
            spec = declaration(provider, operation)
            form = ws.form(provider, operation)
            assert (form.provider, form.operation) == (provider, operation)
            assert list(form.inputs) == [i.name for i in spec.inputs]
            assert list(form.fields) == [o.name for o in spec.options if o.name != "dry_run"]
            for o in spec.options:
                if o.name == "dry_run":
                    continue
                f = form.fields[o.name]
                cls, want = expected_widget(o)
                assert type(f.widget) is cls, (provider, operation, o.name)
                if "choices" in want:
                    assert tuple(v for _, v in f.widget.options) == want["choices"]
                    assert f.widget.value == o.default
                if "value" in want:
                    assert f.widget.value == want["value"], (provider, operation, o.name)
                if "min" in want:
                    assert (f.widget.min, f.widget.max) == (want["min"], want["max"])
                assert f.widget.tooltip == o.describe()  # help and range from the declaration
                assert o.help in f.help.value.replace("&#x27;", "'")
                assert f.message == ""  # nothing refused in a fresh form
            assert form.submit_button.disabled  # no input yet
            seen += 1
    assert seen >= 17  # 1 + 5 + 12 (Authenta's screen and its tasks) + 1 + 1


def test_a_refused_value_is_flagged_in_the_calls_words_and_submit_stays_disabled(ws, tmp_path):
    folder = write_images(tmp_path / "imgs", 2)
    form = ws.form("animaldetect", "detect")
    form.inputs["images"].value = str(folder)
    assert not form.submit_button.disabled
    with pytest.raises(InvalidOption) as said:
        ws.animaldetect.detect(folder, latitude=95, longitude=0)
    form.fields["latitude"].widget.value = "95"
    assert form.fields["latitude"].message == str(said.value) == "animaldetect.detect(): latitude=95 is outside -90..90"
    assert form.submit_button.disabled and form.code == ""
    assert str(said.value) in form.preflight_line.value
    # a rule of the operation beyond one option (latitude goes with longitude) stops Submit too, in its words
    form.fields["latitude"].widget.value = "45"
    with pytest.raises(InvalidOption) as said:
        ws.animaldetect.detect(folder, latitude=45)
    assert form.submit_button.disabled and str(said.value) in form.preflight_line.value
    form.fields["longitude"].widget.value = "7"
    assert not form.submit_button.disabled and form.code.endswith("latitude=45, longitude=7)")

    # Claid's operations: a JSON editor checked by Claid's validator, as edit() checks them (nothing sent)
    edit = ws.form("claid", "edit")
    assert edit.fields["operations"].message == ""
    edit.fields["operations"].widget.value = '{"resizing": {"widht": 800}}'
    with pytest.raises(PreflightError) as refused:
        ws.claid.edit(folder, {"resizing": {"widht": 800}})
    assert edit.fields["operations"].message == str(refused.value) and "did you mean 'width'" in str(refused.value)
    assert edit.submit_button.disabled  # flagged before any image is given
    edit.inputs["images"].value = str(folder)
    assert edit.fields["operations"].message == str(refused.value) and edit.submit_button.disabled
    edit.fields["operations"].widget.value = "{not json"
    assert "not JSON" in edit.fields["operations"].message and edit.submit_button.disabled
    edit.fields["operations"].widget.value = '{"resizing": {"width": 800}}'
    assert edit.fields["operations"].message == "" and not edit.submit_button.disabled
    assert edit.code == f'ws.claid.edit("{folder}", operations={{"resizing": {{"width": 800}}}})'
    assert created(ws.sandbox, "claid") == 0 and created(ws.sandbox) == 0  # checking sent nothing


def test_the_preflight_line_counts_what_would_be_sent_as_the_user_types(ws, tmp_path):
    folder = write_images(tmp_path / "camera_traps", 5)
    (folder / "labels.csv").write_text("file,label\n")
    form = ws.form("animaldetect", "detect")
    assert "give images" in form.preflight_line.value
    form.inputs["images"].value = str(folder)
    assert "5 images, 1 skipped (labels.csv is not an image" in form.preflight_line.value
    form.inputs["images"].value = str(folder / "cam-00[0-2].jpg")
    assert ">3 images<" in form.preflight_line.value
    form.inputs["images"].value = str(tmp_path / "nowhere")
    assert "nothing to send" in form.preflight_line.value and form.submit_button.disabled
    assert ws.ledger.batches() == [] and created(ws.sandbox) == 0  # nothing recorded, nothing sent


def test_submit_makes_the_python_call_and_the_monitor_takes_the_forms_place(ws, tmp_path, monkeypatch):
    folder = write_images(tmp_path / "data" / "camera_traps", 6)
    (folder / "labels.csv").write_text("file,label\n")
    monkeypatch.chdir(tmp_path)
    form = ws.form("animaldetect", "detect")
    form.inputs["images"].value = "data/camera_traps"
    form.fields["threshold"].widget.value = 0.5
    assert form.code == 'ws.animaldetect.detect("data/camera_traps", threshold=0.5)'  # defaults left out
    form.submit_button.click()  # labels.csv is skipped and counted, not a warning
    batch = form.batch
    assert batch is not None and [p.rsplit("/", 1)[-1] for p in batch.skipped] == ["labels.csv"]
    assert batch is not None and form.widget.children[0] is monitor_for(batch).widget
    assert "navigator.clipboard.writeText" in form.code_view.value and "threshold=0.5" in form.code_view.value
    batch.wait(timeout=120, progress=False)
    assert batch.status_counts()["succeeded"] == 6 and created(ws.sandbox) == 6
    assert "6 succeeded" in monitor_for(batch).header.value

    python = ws.animaldetect.detect("data/camera_traps", threshold=0.5)
    assert sorted(j.key for j in python.jobs) == sorted(j.key for j in batch.jobs) and python.id == batch.id
    again = ws.form("animaldetect", "detect")  # the same form filled in again: re-attaches
    again.inputs["images"].value = "data/camera_traps"
    again.fields["threshold"].widget.value = 0.5
    assert again.submit().id == batch.id
    exec(form.code, {"ws": ws})  # the code it stands for, run as a cell
    exec(form.code, {"ws": Workspace(tmp_path / "ws", sandbox=ws.sandbox, quiet=True)})  # a fresh kernel
    assert created(ws.sandbox) == 6  # 0 new jobs at the sandbox


def test_uploads_are_kept_in_the_workspace_by_content_and_are_the_same_input_twice(ws, tmp_path):
    content = scene_image(3, size=(96, 72), objects=1)
    upload = {
        "name": "far away.jpg",
        "type": "image/jpeg",
        "size": len(content),
        "last_modified": datetime.datetime(2024, 6, 1),
    }
    form = ws.form("animaldetect", "detect")
    form.upload.value = ({**upload, "content": memoryview(content)},)
    (path,) = form.uploaded
    assert Path(path).read_bytes() == content and Path(path).parent.parent == ws.path / "uploads"
    assert re.fullmatch(r"[0-9a-f]{16}", Path(path).parent.name) and Path(path).name == "far away.jpg"
    assert ">1 images<" in form.preflight_line.value and not form.submit_button.disabled
    first = form.submit().wait(timeout=60, progress=False)
    second = ws.form("animaldetect", "detect")
    second.upload.value = ({**upload, "content": memoryview(content)},)
    assert second.uploaded == [path]
    assert second.submit().id == first.id and created(ws.sandbox) == 1


def test_plan_shows_the_dry_run_where_the_operation_has_one(ws, tmp_path):
    folder = write_images(tmp_path / "imgs", 2)
    form = ws.form("animaldetect", "detect")
    out = io.StringIO()
    with redirect_stdout(out):  # outside a kernel an Output widget lets prints through
        assert form.plan() is None
    assert "nothing to plan yet" in out.getvalue()
    form.inputs["images"].value = str(folder)
    with redirect_stdout(io.StringIO()):
        plan = form.plan()
    if form.call().accepts("dry_run"):  # dry_run is added in parallel (issue 22 item 0)
        assert plan is not None
    else:
        assert plan is None
    assert created(ws.sandbox) == 0 and ws.ledger.batches() == []


def test_ws_form_chooses_provider_and_operation_and_the_repr_says_how(ws, tmp_path):
    form = ws.form()
    assert list(form.provider_picker.options) == registry.names()
    form.provider_picker.value = "sateais"
    assert form.operation == "ship" and "date" in form.fields and list(form.inputs) == ["aoi"]
    form.fields["date"].widget.value = datetime.date(2024, 6, 1)
    form.fields["date_direction"].widget.value = "after"
    form.inputs["aoi"].value = "POLYGON ((14.5 35.88, 14.53 35.88, 14.53 35.9, 14.5 35.9, 14.5 35.88))"
    assert form.code.endswith(', date="2024-06-01", date_direction="after")')
    form.operation_picker.value = "timeseries"
    assert "date_start" in form.fields and "date" not in form.fields
    with pytest.raises(InvalidOption, match="no operation 'shp'"):
        ws.form("sateais", "shp")
    assert "ws.form()" in ws._repr_html_() and 'ws.form("sateais", "ship")' in ws._repr_html_()
    assert isinstance(form, Form)
