"""Options checked by name, type and range, from one declaration per operation.

Each provider operation is declared once, above its method::

    @operation(
        Input("images", "paths, globs or folders of JPEG/PNG/WebP images"),
        Option("threshold", float, range=(0.01, 0.99), help="lowest confidence kept"),
        FORCE,
    )
    def detect(self, images, *, threshold=0.2, force=False): ...

The declaration must name every parameter of the method (checked at import; defaults come from the signature)
and is then the one source of: the check of every call (an unknown keyword is an ``InvalidOption`` naming the
option meant; a value of the wrong type or outside its range is an ``InvalidOption`` naming the option, the value
and what is accepted), all before anything is read or sent; the "Inputs"/"Options" section of the method's
docstring; and what the CLI shows and parses (``options_of(client, operation)``).
"""

from __future__ import annotations

import builtins
import difflib
import functools
import inspect
import json
import math
import os
from dataclasses import dataclass, field, replace
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from .model import InvalidOption, PreflightError

F = TypeVar("F", bound=Callable[..., Any])

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()  # a parameter without default
_FROM_SIGNATURE: Any = type("FromSignature", (), {"__repr__": lambda self: "<from the signature>"})()

#: What each accepted Python type is called in messages and help.
_TYPE_NAMES: dict[Any, str] = {
    float: "number",
    int: "whole number",
    bool: "true/false",
    str: "text",
    dict: "mapping",
    list: "list",
    os.PathLike: "path",
    Path: "path",
}


@dataclass(frozen=True)
class Input:
    """A positional input of an operation (files, AOIs, a roster): CLI arguments rather than ``-o`` options."""

    name: str
    help: str = ""


@dataclass(frozen=True)
class Option:
    """One option of an operation: its name, accepted types, default, range or choices, and help.

    ``type`` is a type or tuple of types (``float`` accepts any real number, ``int`` whole numbers, neither
    accepts True/False; ``object`` accepts anything). None is accepted when the default is None. ``range`` is
    inclusive; ``check(value)`` may return a further reason to refuse a value.
    """

    name: str
    type: type | tuple[type, ...] = object
    default: Any = _FROM_SIGNATURE
    range: tuple[float, float] | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    @property
    def types(self) -> tuple[builtins.type, ...]:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def accepts(self) -> str:
        """What the option accepts, in words: "a number in 0.01..0.99", "one of 'before', 'after'"."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            kinds = [_TYPE_NAMES.get(t, t.__name__) for t in self.types if t is not object]
            text = " or ".join(kinds) if kinds else "any value"
            if self.range is not None:
                text += f" in {self.range[0]:g}..{self.range[1]:g}"
        return text + (" or None" if self.default is None else "")

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is refused, or None when it is accepted."""
        if value is None:
            return None if self.default is None or type(None) in self.types else "is not allowed to be None"
        if not any(_is(value, t) for t in self.types):
            return f"is a {type(value).__name__}, not a {self.accepts()}"
        if self.choices is not None and value not in self.choices:
            return "is not " + self.accepts() + did_you_mean(value, self.choices)
        if self.range is not None and isinstance(value, Real) and not isinstance(value, bool):
            lo, hi = self.range
            if not (math.isfinite(float(value)) and lo <= float(value) <= hi):
                return f"is outside {lo:g}..{hi:g}"
        return self.check(value) if self.check is not None else None

    def parse(self, text: str) -> Any:
        """A command-line value (``-o NAME=TEXT``) as this option's type: text stays text where text is
        accepted, numbers and true/false are read as such, anything else is JSON where it parses."""
        types = set(self.types)
        if text.lower() in ("none", "null") and self.default is None:
            return None
        if bool in types and text.lower() in ("true", "false", "yes", "no", "1", "0"):
            return text.lower() in ("true", "yes", "1")
        if types & {str, os.PathLike, Path} and self.choices is None:
            return text
        try:
            return json.loads(text)
        except ValueError:
            return text

    def describe(self) -> str:
        """One line of help: ``threshold (number in 0.01..0.99, default 0.2): lowest confidence kept``."""
        default = "required" if self.required else f"default {self.default!r}"
        accepts = "" if self.types == (object,) and self.choices is None else f"{self.accepts()}, "
        return f"{self.name} ({accepts}{default})" + (f": {self.help}" if self.help else "")


def _is(value: Any, t: type) -> bool:
    if t is object:
        return True
    if t is float:
        return isinstance(value, Real) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, Integral) and not isinstance(value, bool)
    return isinstance(value, t)


#: Shared by every submitting operation.
FORCE = Option("force", bool, help="submit new jobs even where the same inputs ran before (they are paid again)")
DRY_RUN = Option(
    "dry_run",
    bool,
    help="return the call's Plan (new, re-attached, finished, paid again, refused; credits) and send nothing",
)


@dataclass(frozen=True)
class Operation:
    """The declaration of one operation: its inputs and options (defaults resolved from the signature)."""

    name: str
    summary: str
    inputs: tuple[Input, ...]
    options: tuple[Option, ...]

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.options]

    def option(self, name: str, call: str = "") -> Option:
        """The option called ``name``; an ``InvalidOption`` saying which was meant when there is none."""
        for o in self.options:
            if o.name == name:
                return o
        raise unknown_option(call or f"{self.name}()", name, self.names, [i.name for i in self.inputs])

    def check(self, call: str, values: dict[str, Any]) -> None:
        """Raise ``InvalidOption`` for the first value in ``values`` (name -> value) that is refused."""
        for name, value in values.items():
            problem = self.option(name, call).problem(value)
            if problem:
                raise InvalidOption(f"{call}: {name}={value!r} {problem}")

    def parse(self, name: str, text: str, call: str = "") -> Any:
        """A command-line ``-o NAME=TEXT``, parsed by the option's type and checked; unknown names raise."""
        option = self.option(name, call)
        value = option.parse(text)
        self.check(call or f"{self.name}()", {name: value})
        return value

    def help_text(self) -> str:
        """The docstring section (and ``--help`` body): one line per input and per option."""
        lines = []
        if self.inputs:
            lines += ["Inputs:", *(f"    {i.name}: {i.help}" if i.help else f"    {i.name}" for i in self.inputs)]
        if self.options:
            lines += ["Options:", *(f"    {o.describe()}" for o in self.options)]
        return "\n".join(lines)


def operation(*declared: Input | Option) -> Callable[[F], F]:
    """Declare a client operation's inputs and options; the method is then checked on every call (before
    anything is read or sent) and documented from the declaration. Every parameter must be declared."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        params = {n: p for n, p in list(sig.parameters.items())[1:]}  # without self
        names = [d.name for d in declared]
        missing, extra = [n for n in params if n not in names], [n for n in names if n not in params]
        if missing or extra or len(set(names)) != len(names):
            raise TypeError(f"{fn.__qualname__}: undeclared parameters {missing}, declared but absent {extra}")
        options: list[Option] = []
        for d in declared:
            if isinstance(d, Option):
                p = params[d.name]
                default = REQUIRED if p.default is inspect.Parameter.empty else p.default
                if d.default is not _FROM_SIGNATURE and d.default != default:
                    raise TypeError(f"{fn.__qualname__}: {d.name} defaults to {default!r}, declared {d.default!r}")
                options.append(replace(d, default=default))
        doc = inspect.cleandoc(fn.__doc__ or "")
        spec = Operation(
            fn.__name__, doc.split("\n\n")[0], tuple(d for d in declared if isinstance(d, Input)), tuple(options)
        )

        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = f"{getattr(self, 'name', type(self).__name__)}.{fn.__name__}()"
            for key in kwargs:
                if key not in params:
                    raise unknown_option(call, key, spec.names, [i.name for i in spec.inputs])
            try:
                bound = sig.bind(self, *args, **kwargs)
            except TypeError:
                absent = _absent(sig, self, args, kwargs)
                if not absent:
                    raise  # e.g. too many positional arguments: Python's own message says it
                helps = {d.name: d.help for d in declared}
                need = "; ".join(f"{n}" + (f" ({helps[n]})" if helps[n] else "") for n in absent)
                raise InvalidOption(f"{call} needs {need}") from None
            given = {k: v for k, v in bound.arguments.items() if k in spec.names}
            spec.check(call, given)
            try:
                return fn(self, *args, **kwargs)
            except (PreflightError, InvalidOption) as err:
                # the user's mistake, fully said by the message: show it at their call, not five frames deep
                raise err.with_traceback(None) from None

        wrapper.__doc__ = (doc + "\n\n" if doc else "") + spec.help_text()
        wrapper.__operation__ = spec  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _absent(sig: inspect.Signature, self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """The required parameters a call left out ([] when its arguments are wrong in another way)."""
    try:
        partial = sig.bind_partial(self, *args, **kwargs)
    except TypeError:
        return []
    return [n for n, p in sig.parameters.items() if p.default is p.empty and n not in partial.arguments]


def declared(method: Any) -> Operation | None:
    """The declaration of a client method (None for a method declared without ``@operation``)."""
    return getattr(method, "__operation__", None)


def operations_of(client: Any) -> dict[str, Operation]:
    """Every declared operation of a client (class, instance or provider name), by method name."""
    cls = _client_class(client)
    out = {}
    for name in dir(cls):
        spec = declared(getattr(cls, name, None))
        if spec is not None and not name.startswith("_"):
            out[name] = spec
    return out


def options_of(client: Any, operation: str) -> Operation:
    """The declaration of ``operation`` of a client (class, instance or provider name such as "sateais").

    An operation that is not a method of the client is a task of its ``run`` (Authenta: ``toolkit submit
    authenta ai-image-detection``): ``run``'s declaration is returned under that name, without its ``task``.
    Raises ``InvalidOption`` (with the nearest name) for an operation the client does not have."""
    cls = _client_class(client)
    spec = declared(getattr(cls, operation, None))
    if spec is not None:
        return spec
    run = declared(getattr(cls, "run", None))
    if run is not None:
        return replace(run, name=operation, inputs=tuple(i for i in run.inputs if i.name != "task"))
    known = list(operations_of(cls))
    close = difflib.get_close_matches(operation, known, n=1, cutoff=0.6)
    meant = f"; did you mean {close[0]!r}?" if close else ""
    raise InvalidOption(f"{cls.__name__} has no operation {operation!r}{meant} (its operations: {', '.join(known)})")


def _client_class(client: Any) -> type:
    if isinstance(client, str):
        from . import registry

        return registry.get(client).client
    return client if isinstance(client, type) else type(client)


def checked(fn: F) -> F:
    """Signature-only check, for clients defined outside the toolkit without a declaration: an unknown keyword
    raises ``InvalidOption`` saying which was meant. Built-in operations use ``operation(...)``."""
    params = list(inspect.signature(fn).parameters.values())[1:]  # without self
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return fn
    names = [
        p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        for key in kwargs:
            if key not in names:
                raise unknown_option(f"{getattr(self, 'name', type(self).__name__)}.{fn.__name__}()", key, names)
        return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def did_you_mean(value: Any, valid: Iterable[Any]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``valid`` to ``value`` (case-insensitive), else ``""``."""
    names = {str(v).lower(): str(v) for v in valid}
    close = difflib.get_close_matches(str(value).strip().lower(), list(names), n=1, cutoff=0.6)
    return f"; did you mean {names[close[0]]!r}?" if close else ""


def unknown_name(what: str, value: Any, valid: Iterable[Any], error: type[Exception] = InvalidOption) -> Exception:
    """The error of a wrong name (a task, a status, a provider, a column): the value, the nearest valid one and
    every valid one."""
    valid = [str(v) for v in valid]
    return error(f"unknown {what} {value!r}{did_you_mean(value, valid)} (valid: {', '.join(valid)})")


def unknown_option(call: str, key: str, names: list[str], inputs: list[str] | None = None) -> InvalidOption:
    """``InvalidOption`` for ``key``, suggesting the closest of ``names`` (or of the ``inputs``)."""
    meant = did_you_mean(key, [*names, *(inputs or [])])
    return InvalidOption(f"{call} has no option {key!r}{meant} (its options: {', '.join(names)})")
