"""A form for every operation, made from its declaration (``toolkit.client.options``), never written per provider.

``ws.form()`` chooses provider and operation from dropdowns; ``ws.form("sateais", "ship")`` opens one. Each
option is a field (``toolkit.widgets.form_fields``), each input a path/glob field (plus uploads, kept in the
workspace by content). As fields change, the operation's own preflight runs without submitting and one line
says what would be sent ("36 images, 1 skipped (labels.csv is not an image …)"); a refused value is flagged
beside its field in ``InvalidOption``'s words and Submit stays disabled. Submit makes exactly the Python call
(``form.code``), so the same form submitted twice re-attaches; the live monitor then takes the form's place,
with the code and a copy button below. ``form.batch`` is the batch.
"""

from __future__ import annotations

import html
import asyncio
import inspect
import json
import time
from typing import Any

import ipywidgets as W

from ..client import registry
from ..client.model import InvalidOption, PreflightError
from .form_call import NOT_FIELDS, Call, Preflight, declaration, preflight, store_upload
from .form_fields import MISSING, Field
from .render import BatchLike

_LABEL = {"description_width": "150px"}
PLAN_EVERY = 0.5  # seconds: a shown plan follows the fields at most this often


class Form:
    """The form of one operation (``provider``/``operation`` preselected, else the first of each)."""

    def __init__(self, ws: Any, provider: str | None = None, operation: str | None = None) -> None:
        self.ws = ws
        names = list(getattr(ws, "_providers", None) or registry.names())
        if provider is not None and provider not in names:
            raise InvalidOption(f"no provider {provider!r}; known: {', '.join(names)}")
        provider = provider or names[0]
        ops = registry.get(provider).operations
        if operation is not None and operation not in ops:
            raise InvalidOption(f"{provider} has no operation {operation!r}; it has: {', '.join(ops)}")
        self.batch: BatchLike | None = None
        self.submitted: Call | None = None
        self.preflight_result = Preflight()
        self.fields: dict[str, Field] = {}
        self.inputs: dict[str, W.Text] = {}
        self.uploaded: list[str] = []
        self._building = False
        self.planned: Any = None  # the last plan shown (a Plan), None before the Plan button
        self._plan_live = False  # once shown, the plan follows the fields (debounced, on the kernel's loop)
        self._plan_at = 0.0
        self._plan_timer: asyncio.TimerHandle | None = None

        self.provider_picker = W.Dropdown(options=names, value=provider, description="provider", style=_LABEL)
        self.operation_picker = W.Dropdown(
            options=list(ops), value=operation or ops[0], description="operation", style=_LABEL
        )
        self.summary = W.HTML()
        self.input_box = W.VBox()
        self.upload = W.FileUpload(multiple=True, description="Upload files")
        self.upload_note = W.HTML()
        self.field_box = W.VBox()
        self.preflight_line = W.HTML()
        self.preflight_line.add_class("toolkit-form-preflight")
        self.plan_button = W.Button(description="Plan", icon="list", tooltip="what the call would send and pay")
        self.submit_button = W.Button(description="Submit", icon="play", button_style="primary", disabled=True)
        self.plan_out = W.Output()
        self.code_view = W.HTML()
        self.code_view.add_class("toolkit-form-code")
        self.provider_picker.observe(self._provider_changed, names="value")
        self.operation_picker.observe(lambda _c: self._build(), names="value")
        self.upload.observe(self._uploaded, names="value")
        self.plan_button.on_click(lambda _b: self.plan())
        self.submit_button.on_click(lambda _b: self._submit_clicked())
        self.widget = W.VBox(
            [
                W.HBox([self.provider_picker, self.operation_picker]),
                self.summary,
                self.input_box,
                self.field_box,
                self.preflight_line,
                W.HBox([self.plan_button, self.submit_button]),
                self.plan_out,
            ],
            layout=W.Layout(max_width="980px"),
        )
        self.widget.add_class("toolkit-form")
        self._build()

    # -- what users call ---------------------------------------------------------------------------------
    @property
    def provider(self) -> str:
        return str(self.provider_picker.value)

    @property
    def operation(self) -> str:
        return str(self.operation_picker.value)

    @property
    def code(self) -> str:
        """The call this form stands for, as Python (the submitted one after Submit); "" while a field is refused
        or a required input is missing."""
        if self.submitted is not None:
            return self.submitted.code(self.ws)
        call = self.call()
        return call.code(self.ws) if call is not None else ""

    def call(self, empty_inputs: bool = False) -> Call | None:
        """The call of the current values (options at their defaults left out), or None while one is refused or
        a required input is missing (``empty_inputs``: given as [] instead, to check the options alone)."""
        call = Call(self.provider, self.operation)
        ok, omitted = True, False
        params = inspect.signature(call.bound(registry.get(self.provider).client)).parameters
        for name, text in self.inputs.items():
            value = self._input_value(name, text)
            if value is None and empty_inputs and params[name].default is inspect.Parameter.empty:
                value = []
            if value is None:
                omitted = True
                ok = ok and name in params and params[name].default is not inspect.Parameter.empty
            elif omitted:  # after an input left out, the others go by name
                call.kwargs[name] = value
            else:
                call.args.append(value)
        for f in self.fields.values():
            value = f.read()
            if value is MISSING or f.message:
                ok = False
            elif not _same(value, f.option.default):
                call.kwargs[f.name] = value
        return call if ok else None

    def submit(self) -> BatchLike:
        """Make the call (``form.code``) and show its live monitor in the form's place; returns the batch."""
        call = self.call()
        if call is None:
            raise InvalidOption(
                f"{self.provider}.{self.operation}: " + (self._problems() or "a required input is missing")
            )
        batch: BatchLike = call(self.ws.client(self.provider))
        self.batch, self.submitted = batch, call
        self._show_submitted(call)
        return batch

    def plan(self) -> Any:
        """What the call would do, without sending or recording anything (``dry_run=True``), shown below."""
        call = self.call()
        self._plan_live, self._plan_at, self.planned = True, time.monotonic(), None
        self.plan_out.clear_output()
        with self.plan_out:
            if call is None:
                print(f"nothing to plan yet: {self._problems() or 'a required input is missing'}")
                return None
            if not call.accepts("dry_run"):
                print(f"{call.name} has no dry_run; the preflight above says what it would send")
                return None
            result = call(self.ws.client(self.provider), dry_run=True)
            from IPython.display import display

            display(result)
        self.planned = result
        return result

    def _plan_soon(self) -> None:
        """Re-plan a shown plan after a field changed: at once when the last plan is PLAN_EVERY old, else once
        at the end of that interval, on the running loop (the kernel's thread: widget callbacks run there)."""
        if not self._plan_live or self._plan_timer is not None:
            return
        wait = self._plan_at + PLAN_EVERY - time.monotonic()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # no loop (plain Python): nothing to wait on, plan now
        if wait <= 0 or loop is None:
            self.plan()
            return

        def due() -> None:
            self._plan_timer = None
            if self._plan_live:
                self.plan()

        self._plan_timer = loop.call_later(wait, due)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)

    # -- building ----------------------------------------------------------------------------------------
    def _provider_changed(self, _change: Any) -> None:
        ops = list(registry.get(self.provider).operations)
        self._building = True  # one build for the pair, not one per dropdown
        try:
            self.operation_picker.options = ops
            self.operation_picker.value = ops[0]
        finally:
            self._building = False
        self.planned: Any = None  # the last plan shown (a Plan), None before the Plan button
        self._plan_live = False  # once shown, the plan follows the fields (debounced, on the kernel's loop)
        self._plan_at = 0.0
        self._plan_timer: asyncio.TimerHandle | None = None
        self._build()

    def _build(self) -> None:
        if self._building:
            return
        spec = declaration(self.provider, self.operation)
        call = Call(self.provider, self.operation)
        self.summary.value = f'<span style="color:#444">{html.escape(" ".join(spec.summary.split()))}</span>'
        self.inputs = {}
        for i in spec.inputs:
            self.inputs[i.name] = W.Text(
                description=i.name,
                placeholder="path, folder or glob" + (f" ({i.help})" if i.help else ""),
                tooltip=i.help,
                continuous_update=False,
                style=_LABEL,
                layout=W.Layout(width="720px"),
            )
            self.inputs[i.name].observe(lambda _c: self._refresh(), names="value")
        self.uploaded = []
        self.upload_note.value = ""
        rows: list[W.Widget] = list(self.inputs.values())
        if self.inputs:
            rows.append(W.HBox([self.upload, self.upload_note], layout=W.Layout(margin="0 0 0 154px")))
        from .aoi_map import form_rows  # SateAIs: the area drawn on a map fills the aoi field (issue 22 item 3)

        rows += form_rows(self)
        self.input_box.children = rows
        self.fields = {o.name: Field(o, spec, call.name) for o in spec.options if o.name not in NOT_FIELDS}
        for f in self.fields.values():
            f.widget.observe(lambda _c: self._refresh(), names="value")
        self.field_box.children = [f.box for f in self.fields.values()]
        self.plan_out.clear_output()
        self._plan_live, self.planned = False, None  # another operation: its plan waits for the button
        self._refresh()

    # -- checking ----------------------------------------------------------------------------------------
    def _input_value(self, name: str, text: W.Text) -> Any:
        typed = text.value.strip()
        first = next(iter(self.inputs)) == name
        uploads = self.uploaded if first else []
        if typed and uploads:
            return [typed, *uploads]
        if uploads:
            return uploads[0] if len(uploads) == 1 else list(uploads)
        return typed or None

    def _problems(self) -> str:
        return "; ".join(f.message for f in self.fields.values() if f.message)

    def _refresh(self) -> None:
        """Check every field and run the preflight; Submit is enabled only when both pass."""
        if self._building or self.submitted is not None:
            return
        call = self.call()
        first = next(iter(self.inputs), "inputs")
        noun = first if first.endswith("s") else "inputs"
        missing = [n for n, t in self.inputs.items() if not t.value.strip() and not (self.uploaded and n == first)]
        missing += [f.name for f in self.fields.values() if f.read() is MISSING]
        if call is None:
            self.preflight_result = Preflight()
            options_only = None if self._problems() else self.call(empty_inputs=True)
            if options_only is not None:  # the operation's own checks of the options (Claid's validator)
                error = preflight(self.ws.client(self.provider), options_only).error
                if isinstance(error, (InvalidOption, PreflightError)):
                    self._flag_field(error)
            self._say(self._problems() or f"give {' and '.join(missing) or 'the required fields'}", error=True)
            self.submit_button.disabled = True
            return
        result = preflight(self.ws.client(self.provider), call)
        self.preflight_result = result
        if isinstance(result.error, (InvalidOption, PreflightError)) and self._flag_field(result.error):
            self.submit_button.disabled = True
            self._say(str(result.error), error=True)
            return
        ready = result.error is None and result.accepted > 0
        self._say(result.line(noun), error=not ready)
        self.submit_button.disabled = not ready
        if ready:
            self._plan_soon()

    def _flag_field(self, error: Exception) -> bool:
        """Show an operation's refusal beside the option it names (Claid's validator names ``operations.…``)."""
        where = getattr(error, "input", None) or ""
        f = self.fields.get(where.split(".")[0].split("[")[0])
        if f is None:
            return False
        f.flag(str(error))
        return True

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        self.preflight_line.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def _uploaded(self, change: Any) -> None:
        files = change["new"] or ()
        paths = [str(store_upload(self.ws.path, f["name"], bytes(f["content"]))) for f in files]
        self.uploaded = sorted(set(paths), key=paths.index)
        self.upload_note.value = html.escape(", ".join(p.split("/")[-1] for p in self.uploaded))
        self._refresh()

    def _submit_clicked(self) -> None:
        self.submit_button.disabled = True
        try:
            self.submit()
        except Exception as e:  # the call's own refusal, shown where the user clicked
            self._say(f"{type(e).__name__}: {e}", error=True)
            self.submit_button.disabled = False

    def _show_submitted(self, call: Call) -> None:
        from .monitor import monitor_for

        code = call.code(self.ws)
        button = (
            '<button style="margin-left:8px" title="copy the code" '
            f"onclick='navigator.clipboard.writeText({html.escape(json.dumps(code), quote=True)})'>Copy</button>"
        )
        self.code_view.value = (
            '<div style="margin-top:6px"><span style="color:#666">the code this form ran:</span>'
            f'<pre style="display:inline-block;margin:0 0 0 8px;padding:2px 6px;background:#f4f4f4">'
            f"{html.escape(code)}</pre>{button}</div>"
        )
        assert self.batch is not None
        self.widget.children = [monitor_for(self.batch).widget, self.code_view]


def _same(value: Any, default: Any) -> bool:
    return value is default or (type(value) is type(default) and value == default)


def form(ws: Any, provider: str | None = None, operation: str | None = None) -> Form:
    """The form of ``provider``'s ``operation`` (dropdowns choose them when not given)."""
    return Form(ws, provider, operation)
