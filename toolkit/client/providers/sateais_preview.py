"""SateAIs' free preview (``POST /analyze/{type}/preview``) as a small typed object.

The shape follows the official SDK (sateais 0.2.0, ``_http._preview_from_dict``), the only evidence of it:
``coverage {method, requested_area_sqkm, ratio, polygon}``, ``credits {estimated, balance, sufficient}`` and
``warnings [{code, message}]``. Read leniently, like the SDK: a missing or malformed part becomes None (never a
guessed value: "no coverage information" is not "100 % covered"), a warning without a code is dropped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

if TYPE_CHECKING:
    from ..plan import Plan
    from .base import Item

COVERAGE_METHODS = ("measured", "estimated")


@dataclass(frozen=True)
class PreviewWarning:
    """Something the service knows before a job runs (e.g. ``LOW_AOI_COVERAGE``); the job would not fail."""

    code: str
    message: str


@dataclass(frozen=True)
class Preview:
    """What one analysis would cover and cost, before sending it. No job is created, no credit spent.

    ``coverage_ratio`` is the share of the requested AOI that would be analysed (None: the service could not
    tell); ``coverage_method`` is ``measured``, ``estimated`` or ``unknown`` (a value this client does not know),
    None without coverage. ``credits_sufficient`` is None when the cost is not known before the job runs.
    """

    type: str
    input: str
    area_sqkm: float | None
    coverage_method: str | None
    coverage_ratio: float | None
    requested_area_sqkm: float | None
    coverage_polygon: str | None  # WKT of what would be analysed, usable as the next request's polygon
    credits_estimated: float | None
    credits_balance: float | None
    credits_sufficient: bool | None
    warnings: tuple[PreviewWarning, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_response(cls, body: Any, *, type: str, input: str) -> "Preview":
        body = body if isinstance(body, dict) else {}
        coverage = body.get("coverage") if isinstance(body.get("coverage"), dict) else None
        credits = body.get("credits") if isinstance(body.get("credits"), dict) else {}
        method = None
        if coverage is not None:
            raw_method = coverage.get("method")
            method = raw_method if raw_method in COVERAGE_METHODS else "unknown"
        warnings = tuple(
            PreviewWarning(w["code"], message if isinstance(message := w.get("message"), str) else "")
            for w in body.get("warnings") or ()
            if isinstance(w, dict) and isinstance(w.get("code"), str)
        )
        return cls(
            type=str(body.get("endpoint_id") or type),
            input=input,
            area_sqkm=_number(body.get("area_sqkm")),
            coverage_method=method,
            coverage_ratio=_number((coverage or {}).get("ratio")),
            requested_area_sqkm=_number((coverage or {}).get("requested_area_sqkm")),
            coverage_polygon=_text((coverage or {}).get("polygon")),
            credits_estimated=_number(credits.get("estimated")),
            credits_balance=_number(credits.get("balance")),
            credits_sufficient=credits.get("sufficient") if isinstance(credits.get("sufficient"), bool) else None,
            warnings=warnings,
            raw=body,
        )

    @property
    def credits_shortfall(self) -> float | None:
        """How many credits are missing (0.0 when they suffice), None when it cannot be told."""
        if self.credits_estimated is None or self.credits_balance is None:
            return None
        return max(0.0, self.credits_estimated - self.credits_balance)

    def _rows(self) -> list[tuple[str, str]]:
        ratio = "unknown" if self.coverage_ratio is None else f"{self.coverage_ratio:.0%}"
        requested = "" if self.requested_area_sqkm is None else f" of {self.requested_area_sqkm:,.1f} km²"
        method = f" ({self.coverage_method})" if self.coverage_method else ""
        suffice = {True: "yes", False: "no", None: "unknown"}[self.credits_sufficient]
        estimate = "not known before the job" if self.credits_estimated is None else f"{self.credits_estimated:g}"
        balance = "" if self.credits_balance is None else f", balance {self.credits_balance:g}"
        return [
            ("coverage", f"{ratio}{requested}{method}"),
            ("credits", f"{estimate}{balance}; enough: {suffice}"),
            *[(f"warning {w.code}", w.message) for w in self.warnings],
        ]

    def __repr__(self) -> str:
        rows = "; ".join(f"{k}: {v}" for k, v in self._rows())
        return f"<SateAIs preview {self.type} {self.input}: {rows}>"

    def _repr_html_(self) -> str:
        left = "style='text-align:left'"
        cells = "".join(
            f"<tr><th {left}>{html.escape(k)}</th><td {left}>{html.escape(v)}</td></tr>" for k, v in self._rows()
        )
        title = html.escape(f"SateAIs preview: {self.type}, {self.input}")
        return f"<table><caption {left}><b>{title}</b></caption>{cells}</table>"


def price(plan: "Plan", work: dict[str, "Item"], preview: Callable[[str, "Item"], Awaitable[Preview]]) -> None:
    """Add to ``plan`` the preview of each new job: its credits, coverage and warnings. A preview the service
    refuses is said on its row; the plan is still returned."""
    from .. import runtime
    from ..model import JobError
    from ..plan import AGAIN, NEW

    rows = [r for r in plan.rows if r.outcome in (NEW, AGAIN) and r.key in work]

    async def run() -> list[Preview | JobError]:
        out: list[Preview | JobError] = []
        for r in rows:
            try:
                out.append(await preview(plan.operation, work[str(r.key)]))
            except JobError as e:
                out.append(e)
        return out

    for row, p in zip(rows, runtime.run(run()) if rows else []):
        if isinstance(p, JobError):
            row.detail = "; ".join(filter(None, [row.detail, f"preview refused: {p}"]))
            continue
        row.credits = p.credits_estimated
        ratio = "" if p.coverage_ratio is None else f"coverage {p.coverage_ratio:.0%}"
        row.detail = "; ".join(filter(None, [row.detail, ratio]))
        plan.notes += [f"{row.input}: {w.code}: {w.message}" for w in p.warnings]
        if p.credits_sufficient is False:
            plan.notes.append(f"{row.input}: credits not sufficient (balance {p.credits_balance})")


def _number(value: Any) -> float | None:
    """A JSON number as float; None for null, booleans (``true`` is no 1.0) and anything else."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
