"""The providers the toolkit knows, one ``ProviderInfo`` each: the one place the client side reads a provider's
variables, limits, auth extras, classes, loader, plots and CLI operations from.

Each built-in provider module declares ``INFO = ProviderInfo(...)``; this leaf module names those modules and
imports one the first time it is asked about it. ``register(info)`` adds a provider defined elsewhere (e.g. in a
test or a notebook) without editing the toolkit.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, Union

if TYPE_CHECKING:
    from .ledger import Ledger
    from .transport import Transport

#: A function: the callable itself, ``"module:attr"``, or a bare name in the default module.
Ref = Union[str, Callable[..., Any]]


class ClientClass(Protocol):
    """What the registry knows of a provider's client class: ``toolkit.client.batch.ProviderClient`` or a
    subclass, made from the workspace's ledger and the provider's transport. Written as a protocol because
    ``batch`` imports this leaf module, so it cannot import ``batch`` back."""

    batch_class: type[Any]  # the ``Batch`` subclass its calls return (a class this leaf module cannot name)

    def __init__(self, ledger: Ledger, transport: Transport) -> None: ...


#: The built-in providers, in the order they are listed everywhere, and the module declaring each one's INFO.
BUILTIN: dict[str, str] = {
    "animaldetect": "toolkit.client.providers.animaldetect",
    "sateais": "toolkit.client.providers.sateais",
    "authenta": "toolkit.client.providers.authenta_client",  # authenta.py holds the contract (adapter) only
    "claid": "toolkit.client.providers.claid",
    "faces": "toolkit.client.providers.faces",
}


@dataclass(frozen=True)
class ProviderInfo:
    """Everything the client side needs to know about one provider, declared once in its module.

    ``client`` is its ``ProviderClient`` subclass (``ws.<name>``) and ``batch`` the ``Batch`` subclass that
    client returns. ``loader`` names a ``toolkit.load`` function (``batch.results()``, ``load.results``),
    ``plots`` the ``toolkit.plot`` functions for its frames; both may also be callables or ``"module:attr"``.
    ``auth`` gives extra ``ProviderConfig`` fields (auth header, org ...) from the environment, or from the
    embedded sandbox when one is passed; ``extra_vars`` are the variables it reads. ``sandbox``: the embedded
    sandbox speaks this contract (a keyless provider then runs there; otherwise it needs a key).
    """

    name: str
    key_var: str
    url_var: str
    base_url: str  # production base URL; "" where there is no public default
    client: type[ClientClass]
    batch: type | None = None  # None: the client's ``batch_class``
    rate_limits: tuple[tuple[int, float], ...] = ()  # client-side (requests, window seconds)
    max_active_jobs: int | None = None  # jobs one key may run at once; more wait locally
    auth: Callable[[Any], dict[str, Any]] | None = field(default=None, compare=False)
    extra_vars: tuple[str, ...] = ()
    loader: Ref | None = None
    plots: tuple[Ref, ...] = ()
    operations: tuple[str, ...] = ()  # what ``toolkit submit <name> OPERATION`` accepts
    operations_help: str = ""  # shown by ``toolkit submit -h`` where the list is long
    sandbox: bool = False

    def limits(self) -> dict[str, Any]:
        """The client-side limits as ``ProviderConfig`` keyword arguments (only those that are set)."""
        out: dict[str, Any] = {}
        if self.rate_limits:
            out["rate_limits"] = [tuple(r) for r in self.rate_limits]
        if self.max_active_jobs is not None:
            out["max_active_jobs"] = self.max_active_jobs
        return out

    def auth_extras(self, sandbox: Any = None) -> dict[str, Any]:
        """Extra ``ProviderConfig`` fields (e.g. ``auth_header``, ``extra``); {} for plain key auth."""
        return self.auth(sandbox) if self.auth is not None else {}

    def batch_class(self) -> type:
        return self.batch if self.batch is not None else self.client.batch_class

    def loader_function(self) -> Callable[..., Any]:
        if self.loader is None:
            raise TypeError(f"{self.name} declares no results loader")
        return resolve(self.loader, "toolkit.load")

    def load(self, source: Any) -> Any:
        """The provider's natural results frame of ``source`` (a Batch, raw results or files)."""
        return self.loader_function()(source)

    def plot_functions(self) -> dict[str, Callable[..., Any]]:
        """The plot functions for this provider's frames, by name."""
        fns = [resolve(p, "toolkit.plot") for p in self.plots]
        return {getattr(f, "__name__", str(p)): f for p, f in zip(self.plots, fns)}


_registered: dict[str, ProviderInfo] = {}


def resolve(ref: Ref, module: str) -> Callable[..., Any]:
    """A callable from a ``Ref``: itself, ``"module:attr"``, or ``attr`` of ``module``."""
    if callable(ref):
        return ref
    mod, sep, attr = ref.rpartition(":")
    return getattr(importlib.import_module(mod if sep else module), attr)


def register(info: ProviderInfo, *, replace: bool = False) -> ProviderInfo:
    """Add a provider (a new name, or with ``replace`` one already known). Workspaces created afterwards,
    ``toolkit.load.results``, ``toolkit.plot.for_provider`` and the CLI see it."""
    if not replace and info.name in names():
        raise ValueError(f"provider {info.name!r} is already registered (register(..., replace=True))")
    _registered[info.name] = info
    return info


def unregister(name: str) -> None:
    """Forget a provider added with ``register`` (a built-in is loaded again from its module on next use)."""
    _registered.pop(name, None)


def names() -> list[str]:
    """Every provider name, built-ins first (nothing is imported)."""
    return [*BUILTIN, *(n for n in _registered if n not in BUILTIN)]


def get(name: str) -> ProviderInfo:
    """One provider's info (a built-in's module is imported on first use); KeyError if unknown."""
    info = _registered.get(name)
    if info is None:
        if name not in BUILTIN:
            raise KeyError(f"unknown provider {name!r}; known: {', '.join(names())}")
        info = importlib.import_module(BUILTIN[name]).INFO
        if info.name != name:
            raise RuntimeError(f"{BUILTIN[name]}.INFO is named {info.name!r}, not {name!r}")
        _registered[name] = info
    return info


def providers() -> list[ProviderInfo]:
    """Every provider's info, in ``names()`` order (imports the built-in modules)."""
    return [get(n) for n in names()]


_SPACES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}


def flaw(value: str, *, ascii_only: bool) -> str | None:
    """What makes a configured ``value`` unusable in a header or URL (whitespace, control characters), or None.

    Shared by the workspace (keys, base URLs) and a provider's ``auth`` (its extra variables)."""
    for where, c in (("ends with", value[-1:]), ("starts with", value[:1])):
        if c.isspace():
            return f"{where} {_SPACES.get(c, 'whitespace')}"
    for c in value:
        if c.isspace():
            return f"contains {_SPACES.get(c, 'whitespace')}"
        if not c.isprintable():
            return "contains a control character"
        if ascii_only and not c.isascii():
            return "contains a non-ASCII character (an HTTP header takes ASCII only)"
    return None
