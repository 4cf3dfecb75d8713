"""What Tab offers: the public names of the workspace, the provider clients and batches (``__dir__``), and
the one answer to a loader called on the wrong provider's batch."""

from __future__ import annotations

from typing import Any, Iterable

from . import registry
from .model import WrongLoader


def public_dir(obj: Any, hidden: Iterable[str] = ()) -> list[str]:
    """``dir(obj)`` without private names and without ``hidden`` (machinery a user never calls)."""
    skip = set(hidden)
    return sorted(n for n in object.__dir__(obj) if not n.startswith("_") and n not in skip)


def loaders(base: type) -> dict[str, str]:
    """Loader method name -> provider, for every registered provider whose Batch class adds one to ``base``."""
    out: dict[str, str] = {}
    for info in registry.providers():
        own = set(dir(info.batch_class())) - set(dir(base))
        out.update({n: info.name for n in own if not n.startswith("_")})
    return out


def wrong_loader(batch: Any, name: str, base: type) -> AttributeError:
    """The error of ``batch.<name>`` (another provider's loader), saying which loader fits; else a plain one."""
    owner = loaders(base).get(name)
    if owner is None:
        return AttributeError(f"{type(batch).__name__!r} object has no attribute {name!r}")
    mine = [n for n, p in loaders(base).items() if p == batch.client.name]
    fits = f"batch.{mine[0]}()" if mine else "batch.results()"
    return WrongLoader(
        f"{name}() loads {owner} results; this is a {batch.client.name} batch: use {fits} (or batch.results())"
    )
