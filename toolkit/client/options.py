"""Options checked by name: an unknown keyword is an ``InvalidOption`` saying which option was meant.

Python's own answer to ``detect(images, threshhold=0.3)`` is a bare ``TypeError`` about an unexpected keyword;
a researcher needs the option they meant, and the list of those the call has. Every provider operation is
wrapped with ``checked``; the CLI's ``-o NAME=VALUE`` options go through the same methods, so they get the same
answer.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, TypeVar

from .model import InvalidOption

F = TypeVar("F", bound=Callable[..., Any])


def checked(fn: F) -> F:
    """Wrap a client operation so an unknown keyword raises ``InvalidOption`` before anything is read or sent."""
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


def unknown_option(call: str, key: str, names: list[str]) -> InvalidOption:
    """``InvalidOption`` for ``key``, suggesting the closest of ``names``."""
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    meant = f"; did you mean {close[0]!r}?" if close else ""
    return InvalidOption(f"{call} has no option {key!r}{meant} (its options: {', '.join(names)})")
