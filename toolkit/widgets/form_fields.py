"""One widget per declared option (``toolkit.client.options.Option``), chosen from the declaration alone.

bool -> Checkbox (a dropdown None/True/False where the default is None), choices -> Dropdown, a number with a
range and a default -> BoundedFloatText/BoundedIntText, a date (``datetime.date`` accepted, or help that starts
"YYYY-MM-DD") -> DatePicker, a mapping or list -> a JSON Textarea, anything else -> Text read by the option's own
parser (``Option.parse``, as the command line reads ``-o NAME=VALUE``). A value is then checked by the
operation's own ``Operation.check``, so a refusal reads exactly as the ``InvalidOption`` of the call.
"""

from __future__ import annotations

import datetime
import html
import json
from typing import Any

import ipywidgets as W

from ..client.model import InvalidOption
from ..client.options import REQUIRED, Operation, Option

#: what ``Field.read`` returns for a required option left empty
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

_NUMBERS = {int, float}
_LABEL = {"description_width": "150px"}
_WIDTH = "360px"


def kind_of(option: Option) -> str:
    """The widget kind of an option: "choice", "checkbox", "number", "date", "json" or "text"."""
    types = set(option.types) - {type(None)}
    if option.choices is not None or (types == {bool} and option.default is None):
        return "choice"
    if types == {bool}:
        return "checkbox"
    if types and types <= _NUMBERS and option.range is not None and isinstance(option.default, (int, float)):
        return "number"
    if datetime.date in types or option.help.startswith("YYYY-MM-DD"):
        return "date"
    if types and types <= {dict, list, tuple}:
        return "json"
    return "text"


def choices_of(option: Option) -> tuple[Any, ...]:
    """The values a "choice" field offers: the declared choices (or True/False), with None first when the
    default is None."""
    values = option.choices if option.choices is not None else (True, False)
    return ((None,) if option.default is None else ()) + tuple(values)


class Field:
    """The widget of one option, its help beside it, and the reason its value is refused (``problem``)."""

    def __init__(self, option: Option, spec: Operation, call: str) -> None:
        self.option, self.spec, self.call = option, spec, call
        self.kind = kind_of(option)
        self.widget = self._make()
        self.widget.tooltip = option.describe()
        self.help = W.HTML(f'<span style="color:#666;font-size:12px">{html.escape(_help(option))}</span>')
        self.problem = W.HTML()
        self.problem.add_class("toolkit-form-problem")
        self.box = W.HBox([self.widget, self.help, self.problem], layout=W.Layout(align_items="center"))

    @property
    def name(self) -> str:
        return self.option.name

    def _make(self) -> W.ValueWidget:
        o, default = self.option, self.option.default
        common: dict[str, Any] = {"description": o.name, "style": _LABEL, "layout": W.Layout(width=_WIDTH)}
        if self.kind == "choice":
            options = [("(default: none)" if c is None else str(c), c) for c in choices_of(o)]
            # by index: a Dropdown shows value None as no selection at all
            return W.Dropdown(options=options, index=[v for _, v in options].index(default), **common)
        if self.kind == "checkbox":
            return W.Checkbox(value=bool(default), indent=False, description=o.name)
        if self.kind == "number":
            lo, hi = o.range or (0, 0)
            if float in o.types:
                return W.BoundedFloatText(value=default, min=lo, max=hi, step=_step(lo, hi), **common)
            return W.BoundedIntText(value=default, min=int(lo), max=int(hi), **common)
        if self.kind == "date":
            value = datetime.date.fromisoformat(default) if isinstance(default, str) else None
            return W.DatePicker(value=value, **common)
        text = "" if default is None or default is REQUIRED else _text(default, self.kind)
        if self.kind == "json":
            area = W.Textarea(value=text, placeholder="JSON", continuous_update=False, **common)
            area.layout.height = "70px"
            return area
        return W.Text(value=text, placeholder=o.accepts(), continuous_update=False, **common)

    def read(self) -> Any:
        """The field's value as the call takes it (MISSING for an empty required option), and sets
        ``problem``; raises nothing."""
        value, problem = self._read()
        self.flag(problem)
        return value

    def _read(self) -> tuple[Any, str]:
        raw = self.widget.value
        if self.kind == "date":
            value: Any = raw.isoformat() if raw is not None else self.option.default
        elif self.kind in ("json", "text"):
            text = raw.strip()
            if not text:
                value = self.option.default
            elif self.kind == "json":
                try:
                    value = json.loads(text)
                except ValueError as e:
                    return MISSING, f"{self.name}: not JSON ({getattr(e, 'msg', e)})"
            else:
                value = self.option.parse(text)
        else:
            value = raw
        if value is REQUIRED:  # not a refusal: the form's line asks for it
            return MISSING, ""
        try:
            self.spec.check(self.call, {self.name: value})  # the operation's own check: InvalidOption's words
        except InvalidOption as e:
            return value, str(e)
        return value, ""

    def flag(self, message: str) -> None:
        """Show ``message`` beside the field ("" clears it)."""
        self.problem.value = f'<span style="color:#b00020">{html.escape(message)}</span>' if message else ""

    @property
    def message(self) -> str:
        """The refusal shown beside the field, as plain text ("" when none)."""
        return html.unescape(self.problem.value.split(">", 1)[1].rsplit("<", 1)[0]) if self.problem.value else ""


def _help(option: Option) -> str:
    accepts = "" if option.types == (object,) and option.choices is None else option.accepts()
    return " · ".join(t for t in (accepts, option.help) if t)


def _step(lo: float, hi: float) -> float:
    span = hi - lo
    return 0.01 if span <= 1 else 0.1 if span <= 10 else 1.0


def _text(value: Any, kind: str) -> str:
    return value if isinstance(value, str) and kind == "text" else json.dumps(value)
