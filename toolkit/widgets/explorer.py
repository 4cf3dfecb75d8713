"""The jobs explorer: the ledger (``ws.jobs()``) as a filterable table widget, by provider, status and batch."""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any, Protocol

import ipywidgets as W

from .labels import label
from .render import COLORS, FONT, ORDER, _clip, pill, short_input

if TYPE_CHECKING:
    import pandas as pd


class WorkspaceLike(Protocol):
    """What the explorer uses of a ``toolkit.workspace.Workspace`` (not imported: the workspace imports the
    widgets for ``ws.explore()``)."""

    ledger: Any  # ``.path``, ``.batches()``

    def jobs(self, provider: str | None = None, status: Any = None, batch: str | None = None) -> "pd.DataFrame": ...


ALL = ""


class JobsExplorer:
    """Filter the workspace's ledger by provider, status and batch; shows counts and the newest ``rows`` jobs.

    Reads only the local ledger (no HTTP). ``frame()`` is the filtered DataFrame (``ws.jobs(...)``).
    """

    def __init__(
        self,
        workspace: WorkspaceLike,
        *,
        provider: str | None = None,
        status: str | None = None,
        batch: str | None = None,
        rows: int = 50,
    ) -> None:
        self.ws = workspace
        self.rows = rows
        self._batches: list[dict[str, Any]] = []
        self._quiet = False  # set while the dropdowns are rebuilt, so one change redraws once
        self.provider = W.Dropdown(
            description="provider", layout=W.Layout(width="210px"), style={"description_width": "56px"}
        )
        self.status = W.Dropdown(
            description="status",
            options=[("all", ALL)] + [(label(s), s) for s in ORDER],
            value=status or ALL,
            layout=W.Layout(width="190px"),
            style={"description_width": "46px"},
        )
        self.batch = W.Dropdown(
            description="batch", layout=W.Layout(width="380px"), style={"description_width": "40px"}
        )
        self.reload_button = W.Button(icon="refresh", tooltip="Reload the ledger", layout=W.Layout(width="36px"))
        self.summary = W.HTML()
        self.table = W.HTML()
        self._set_options(provider or ALL, batch or ALL)
        for w in (self.provider, self.status, self.batch):
            w.observe(self._changed, names="value")
        self.reload_button.on_click(lambda _b: self.refresh(reload=True))
        self.widget = W.VBox(
            [W.HBox([self.provider, self.status, self.batch, self.reload_button]), self.summary, self.table],
            layout=W.Layout(max_width="1000px"),
        )
        self.widget.add_class("toolkit-jobs-explorer")
        self.refresh()

    # -- public -------------------------------------------------------------------------------------
    def frame(self) -> "pd.DataFrame":
        """The jobs matching the current filters, one row per job (see ``Workspace.jobs``)."""
        return self.ws.jobs(
            provider=self.provider.value or None, status=self.status.value or None, batch=self.batch.value or None
        )

    def refresh(self, reload: bool = False) -> "pd.DataFrame":
        """Re-read the ledger (and, with ``reload``, the provider/batch choices) and redraw."""
        if reload:
            self._quiet = True
            try:
                self._set_options(self.provider.value, self.batch.value)
            finally:
                self._quiet = False
        df = self.frame()
        self.summary.value = summary_html(df)
        self.table.value = table_html(df, self.rows)
        return df

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        df = self.frame()
        data = dict(self.widget._repr_mimebundle_() or {})
        data["text/html"] = summary_html(df) + table_html(df, self.rows)
        data["text/plain"] = f"<JobsExplorer {self.ws.ledger.path}: {len(df)} jobs matching>"
        if include:
            data = {k: v for k, v in data.items() if k in include}
        if exclude:
            data = {k: v for k, v in data.items() if k not in exclude}
        return data

    # -- internals ----------------------------------------------------------------------------------
    def _set_options(self, provider: str, batch: str) -> None:
        self._batches = self.ws.ledger.batches()
        providers = sorted({b["provider"] for b in self._batches} | ({provider} - {ALL}))
        self.provider.options = [("all", ALL)] + [(p, p) for p in providers]
        self.provider.value = provider if provider in providers else ALL
        self._set_batch_options(batch)

    def _set_batch_options(self, batch: str) -> None:
        p = self.provider.value
        shown = [b for b in reversed(self._batches) if not p or b["provider"] == p]  # newest first
        options = [("all", ALL)] + [(_batch_label(b), b["id"]) for b in shown]
        if batch and batch not in {b["id"] for b in shown}:
            options.append((batch, batch))  # a batch id given by the caller that the ledger has not listed
        self.batch.options = options
        self.batch.value = batch if batch in {v for _, v in options} else ALL

    def _changed(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if change["owner"] is self.provider:
            self._quiet = True
            try:
                self._set_batch_options(self.batch.value)
            finally:
                self._quiet = False
        self.refresh()


def explore(workspace: WorkspaceLike, **filters: Any) -> JobsExplorer:
    """``explore(ws, provider="animaldetect", status="failed")``: a JobsExplorer over the workspace's ledger."""
    return JobsExplorer(workspace, **filters)


def summary_html(df: "pd.DataFrame") -> str:
    """Counts per status of the jobs in ``df``, as coloured pills."""
    counts: Any = df["status"].value_counts() if len(df) else {}
    pills = "".join(pill(s, int(counts[s])) for s in ORDER if s in counts)
    batches = df[_batch_column(df)].nunique() if len(df) else 0
    return (
        f'<div style="{FONT};margin:4px 0"><b>{len(df)} job{"s" if len(df) != 1 else ""}</b> '
        f'<span style="opacity:.65">in {batches} batch{"es" if batches != 1 else ""}</span>&ensp;{pills}</div>'
    )


def table_html(df: "pd.DataFrame", rows: int = 50) -> str:
    """The newest ``rows`` jobs as a compact table with coloured statuses (inline styles only)."""
    if not len(df):
        return f'<div style="{FONT};opacity:.65">No jobs match.</div>'
    recent = df.sort_values("created_at", ascending=False, kind="stable").head(rows)
    cell = "padding:1px 10px 1px 0;text-align:left;vertical-align:top"
    head = "".join(
        f'<th style="{cell};border-bottom:1px solid #d0d7de">{h}</th>'
        for h in ("input", "status", "provider", "operation", "batch", "finished", "error")
    )
    body = []
    for r, batch in zip(recent.itertuples(index=False), recent[_batch_column(recent)]):
        status = str(r.status)
        fg = COLORS.get(status, COLORS["draft"])[0]
        err = " ".join(str(x) for x in (r.error_code, r.error_message) if isinstance(x, str) and x)
        body.append(
            f'<tr><td style="{cell};white-space:nowrap">{html.escape(short_input(str(r.input), 40))}</td>'
            f'<td style="{cell};color:{fg};font-weight:600" title="{status}">{html.escape(label(status))}</td>'
            f'<td style="{cell}">{html.escape(str(r.provider))}</td>'
            f'<td style="{cell}">{html.escape(str(r.operation))}</td>'
            f'<td style="{cell};white-space:nowrap">{html.escape(str(batch))}</td>'
            f'<td style="{cell};white-space:nowrap">{_when(r.finished_at)}</td>'
            f'<td style="{cell}">{html.escape(_clip(err, 90))}</td></tr>'
        )
    more = len(df) - len(recent)
    tail = f'<div style="opacity:.65">newest {len(recent)} of {len(df)} shown</div>' if more > 0 else ""
    return (
        f'<div style="{FONT}"><table style="border-collapse:collapse;font-size:12px;margin:0">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}</div>"
    )


def _batch_label(b: dict[str, Any]) -> str:
    when = dt.datetime.fromtimestamp(b["created_at"]).strftime("%Y-%m-%d %H:%M")
    return f"{b['id']} · {b['provider']} {b['operation']} · {when}"


def _when(value: Any) -> str:
    try:
        import pandas as pd

        if value is None or pd.isna(value):
            return ""
        return pd.Timestamp(value).tz_convert(None).strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    except (TypeError, ValueError):
        return ""


def _batch_column(df: "pd.DataFrame") -> str:
    """``batch`` in the jobs table of ``toolkit.load.jobs``; ``batch_id`` in older frames."""
    return "batch" if "batch" in df.columns else "batch_id"
