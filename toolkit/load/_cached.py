"""``df.attrs["raw"]`` of a columnar load: the raw results, read from the cache on first use."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

from .export import RawResults

if TYPE_CHECKING:
    from ..client.ledger import Ledger

__all__ = ["CachedResults"]

_UNFILLED = object()


class CachedResults(RawResults):
    """``df.attrs["raw"]`` of a columnar load: read from the cache on first use, not on every load."""

    def __init__(self, ledger: "Ledger", digests: dict[str, str], keep: Callable[[Any], bool] | None = None) -> None:
        super().__init__()
        self._pending: tuple[Any, dict[str, str], Any] | None = (ledger, digests, keep)
        # never empty underneath until filled: C code that sees an empty dict (json's encoder, which pandas uses
        # to write attrs into Parquet) skips the methods below that fill it
        dict.__setitem__(self, _UNFILLED, None)

    def _fill(self) -> None:
        if self._pending is None:
            return
        ledger, digests, keep = self._pending
        self._pending = None
        dict.pop(self, _UNFILLED, None)
        for k, digest in digests.items():
            data = ledger.get_result(digest)
            result = json.loads(data) if data is not None else None
            if result is not None and (keep is None or keep(result)):
                dict.__setitem__(self, k, result)

    def __getitem__(self, k: Any) -> Any:
        self._fill()
        return dict.__getitem__(self, k)

    def __iter__(self) -> Any:
        self._fill()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._fill()
        return dict.__len__(self)

    def __contains__(self, k: object) -> bool:
        self._fill()
        return dict.__contains__(self, k)

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        self._fill()
        return dict.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def keys(self) -> Any:
        self._fill()
        return dict.keys(self)

    def values(self) -> Any:
        self._fill()
        return dict.values(self)

    def items(self) -> Any:
        self._fill()
        return dict.items(self)

    def get(self, k: Any, default: Any = None) -> Any:
        self._fill()
        return dict.get(self, k, default)

    def __repr__(self) -> str:
        n = len(self._pending[1]) if self._pending is not None else dict.__len__(self)
        return f"<RawResults: {n} results>"
