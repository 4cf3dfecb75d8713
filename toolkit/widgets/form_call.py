"""What a form stands for, without widgets: the declaration of an operation, the call it makes, the code of that
call, a preflight that runs the operation's own input checks without submitting, and uploads stored in the
workspace by content."""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..client import registry
from ..client.model import PreflightError
from ..client.options import REQUIRED, Input, Operation, Option, options_of

#: declared options a form never shows: ``dry_run`` is the Plan button's, not a field
NOT_FIELDS = ("dry_run",)


def declaration(provider: str, operation: str) -> Operation:
    """The declaration of ``operation`` (``toolkit.client.options``); made up from the method's signature for a
    client that declares none (as ``toolkit submit --help`` does)."""
    info = registry.get(provider)
    method = getattr(info.client, operation, None)
    if callable(method) and getattr(method, "__operation__", None) is None:
        params = list(inspect.signature(method).parameters.values())[1:]
        positional = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
        inputs = tuple(Input(p.name) for p in positional[:1])
        options = tuple(
            Option(p.name, _type(p.default), default=REQUIRED if p.default is p.empty else p.default)
            for p in params
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in {i.name for i in inputs}
        )
        return Operation(operation, (inspect.getdoc(method) or "").split("\n\n")[0], inputs, options)
    return options_of(info.client, operation)


def _type(default: Any) -> type:
    """An undeclared option's type, from its default (a bool default gives a checkbox, not a text field)."""
    return type(default) if isinstance(default, (bool, int, float, str)) else object


@dataclass
class Call:
    """One call of a client method: ``ws.<provider>.<method>(*args, **kwargs)`` (``lead``: the task of a
    generic ``run``, e.g. Authenta's)."""

    provider: str
    operation: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """The client method called: the operation, or ``run`` for a task of it (Authenta)."""
        return self.operation if callable(getattr(registry.get(self.provider).client, self.operation, None)) else "run"

    @property
    def lead(self) -> list[Any]:
        return [] if self.method == self.operation else [self.operation]

    @property
    def name(self) -> str:
        """How the declaration's check names the call in its messages: ``animaldetect.detect()``."""
        return f"{self.provider}.{self.method}()"

    def bound(self, client: Any) -> Callable[..., Any]:
        return getattr(client, self.method)  # type: ignore[no-any-return]

    def __call__(self, client: Any, **extra: Any) -> Any:
        return self.bound(client)(*self.lead, *self.args, **self.kwargs, **extra)

    def code(self, ws: Any = None) -> str:
        """The call as Python: ``ws.animaldetect.detect("data/camera_traps", threshold=0.5)`` (``ws.client("x")``
        for a provider the workspace ``ws`` has no attribute for)."""
        named = ws is None or isinstance(getattr(type(ws), self.provider, None), property)
        target = f"ws.{self.provider}" if named else f"ws.client({literal(self.provider)})"
        parts = [literal(a) for a in [*self.lead, *self.args]] + [f"{k}={literal(v)}" for k, v in self.kwargs.items()]
        return f"{target}.{self.method}({', '.join(parts)})"

    def accepts(self, name: str) -> bool:
        """Whether the client method takes the keyword ``name`` (e.g. ``dry_run``)."""
        method = getattr(registry.get(self.provider).client, self.method)
        return name in inspect.signature(method).parameters


def literal(value: Any) -> str:
    """A Python literal of ``value``; strings in double quotes where that needs no escape."""
    if isinstance(value, str):
        return f'"{value}"' if '"' not in value and "\\" not in value and value.isprintable() else repr(value)
    if isinstance(value, Path):
        return literal(str(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


@dataclass
class Preflight:
    """What a call would submit: the inputs accepted, those refused (each a ``PreflightError``), or the error
    the operation raised before reaching its submission (``error``)."""

    accepted: int = 0
    rejected: list[PreflightError] = field(default_factory=list)
    error: Exception | None = None
    reached: bool = False  # the operation got as far as submitting

    def line(self, noun: str) -> str:
        """ "36 images, 1 skipped (labels.csv: not an image (.jpeg/.jpg/.png/.webp))"."""
        if self.error is not None:
            return str(self.error)
        text = f"{self.accepted} {noun}" if self.accepted else "nothing to send"
        if self.rejected:
            shown = "; ".join(_reason(e) for e in self.rejected[:3]) + ("; …" if len(self.rejected) > 3 else "")
            text += f", {len(self.rejected)} skipped ({shown})" if self.accepted else f": {shown}"
        return text


def _reason(e: PreflightError) -> str:
    where = Path(e.input).name if e.input else ""
    message = e.message.removeprefix("skipped: ")
    return f"{where} is {message}" if message.startswith("not ") else f"{where}: {message}"


class _Stop(Exception):
    """Raised by the preflight client where the real one would record and send."""


class _NoBatch:
    """What the preflight client's ``submit`` returns: the operation may look at it, nothing more."""

    id = ""
    jobs: list[Any] = []
    rejected: list[Any] = []
    _items: dict[str, Any] = {}


_probes: dict[type, type] = {}


def preflight(client: Any, call: Call) -> Preflight:
    """Run ``call`` through the operation's own checks and input preflight on a copy of ``client`` whose
    ``submit`` collects the items instead of recording or sending them: nothing is written or sent."""
    out = Preflight()
    cls = type(client)
    probe_cls = _probes.get(cls)
    if probe_cls is None:

        def submit(self: Any, operation: str, items: Any, **_kw: Any) -> Any:
            out_ = self._preflight
            out_.reached = True
            for it in items:
                if isinstance(it, PreflightError):
                    out_.rejected.append(it)
                else:
                    out_.accepted += it.inputs
            return _NoBatch()

        def preflight_outcome(self: Any, operation: str, rejected: Any, accepted: int, jobs: Any = None) -> None:
            self._preflight.rejected.extend(rejected)  # a merging operation (Authenta's screen) ends here
            raise _Stop

        probe_cls = type(f"Preflight{cls.__name__}", (cls,), {"submit": submit, "preflight_outcome": preflight_outcome})
        _probes[cls] = probe_cls
    probe = probe_cls(client.ledger, client.transport)
    probe._preflight = out
    try:
        call(probe)
    except _Stop:
        pass
    except Exception as e:  # the operation's refusal, in its words; after submitting, only what it did with it
        if not out.reached:
            out.error = e
    return out


def store_upload(workspace: Path, name: str, content: bytes) -> Path:
    """An uploaded file kept in the workspace at ``uploads/<sha256 prefix>/<name>``: the same upload twice is
    the same file, so the same input (and job)."""
    digest = hashlib.sha256(content).hexdigest()[:16]
    path = Path(workspace) / "uploads" / digest / (Path(name).name or "upload")
    if not (path.exists() and path.stat().st_size == len(content)):
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + f".{os.getpid()}.part")
        part.write_bytes(content)
        os.replace(part, path)
    return path
