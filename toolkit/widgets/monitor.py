"""The live job monitor a ``Batch`` shows in Jupyter, and the display glue around it.

Threading: ``Batch`` calls listeners on its background loop thread for every job change. The listener here
only marks the monitor dirty (amortised O(1)); one flush per ``interval`` (and a 1 s heartbeat for the
clock) recomputes the ``Snapshot`` and sets the widget traits, so a 10,000-job batch costs a few flushes per
second, not one per event. The last change (every job settled) is flushed at once, on that thread, so the
final state is sent before ``wait()`` returns.

Flushes run in an empty ``contextvars.Context``: ipykernel (6 and 7) then tags the messages with the request
that is executing now instead of the cell that started the batch (asyncio tasks inherit that cell's
context). Frontends route widget messages by comm id either way; nbclient keeps only messages whose parent
is the executing cell, so this is what lets it store the final widget state and output.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import threading
import time
from typing import Any

import ipywidgets as W

from ..client import runtime
from ..client.model import Status
from ..client.settled import settled
from .labels import CANCEL_BUTTON, CANCEL_TOOLTIP, cancel_message, retry_message
from .notice import kernel_shell as _kernel_shell
from .render import BatchLike, Snapshot, failures_html, header_html, render_html, render_text, snapshot

_ATTR = "_toolkit_monitor"  # where a batch keeps its monitor (one widget model per batch)
_NO_INPUTS = "the failed inputs are not held in this session: re-run the submitting call to retry them"


class Monitor:
    """Live ipywidgets view of one batch: coloured counts, progress bar, timing, failures, cancel/retry.

    ``interval`` is the minimum time between two widget updates (the throttle); ``heartbeat`` refreshes
    the clock while nothing changes. ``updates`` counts the flushes (each sets the widget traits once).
    """

    def __init__(
        self, batch: BatchLike, *, interval: float = 0.25, heartbeat: float = 1.0, max_failures: int = 5
    ) -> None:
        self.batch = batch
        self.interval = interval
        self.heartbeat = heartbeat
        self.max_failures = max_failures
        self.updates = 0
        self.retried: list[BatchLike] = []
        self.snapshot: Snapshot = snapshot(batch, max_failures)
        self.display_id = f"toolkit-monitor-{batch.id}-{id(self):x}"
        self._displayed = False
        self._final_published = False
        self._lock = threading.Lock()  # scheduling state
        self._flush_lock = threading.Lock()  # one flush at a time
        self._due: float | None = None
        self._token = 0
        self._last = 0.0
        self._first_open = 0  # every job before this index is settled (monotone)
        self._acting = threading.Lock()  # held while a button's action runs

        self.header = W.HTML()
        self.bar = W.IntProgress(
            min=0,
            max=max(1, self.snapshot.total),
            value=0,
            layout=W.Layout(width="320px", height="18px", margin="2px 8px 2px 0"),
        )
        self.stats = W.HTML(layout=W.Layout(margin="0"))
        self.failures = W.HTML()
        self.cancel_button = W.Button(
            description=CANCEL_BUTTON,
            icon="stop",
            tooltip=CANCEL_TOOLTIP,
            layout=W.Layout(width="auto", height="26px"),
        )
        self.retry_button = W.Button(
            description="Retry failed", icon="redo", layout=W.Layout(width="auto", height="26px")
        )
        self.note = W.HTML(layout=W.Layout(margin="0 0 0 8px"))
        self.retries = W.VBox(layout=W.Layout(margin="4px 0 0 16px"))
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.retry_button.on_click(lambda _b: self.retry())
        self.widget = W.VBox(
            [
                self.header,
                W.HBox([self.bar, self.stats], layout=W.Layout(align_items="center")),
                self.failures,
                W.HBox([self.cancel_button, self.retry_button, self.note], layout=W.Layout(align_items="center")),
                self.retries,
            ],
            layout=W.Layout(padding="2px 0", max_width="780px"),
        )
        self.widget.add_class("toolkit-monitor")
        if not self.can_cancel:
            self.cancel_button.tooltip = f"{batch.client.name}'s API cannot cancel jobs"
        self._apply(self.snapshot)
        batch.on_change(self._on_change)
        if not self.snapshot.finished:
            self._schedule(self.heartbeat)

    # -- what users call ----------------------------------------------------------------------------
    @property
    def can_cancel(self) -> bool:
        """Whether the batch's provider can cancel jobs (the batch says: ``Batch.can_cancel``)."""
        return bool(self.batch.can_cancel)

    @property
    def can_retry(self) -> bool:
        """Whether the batch can retry its failures here (``Batch.can_retry``)."""
        return bool(self.batch.can_retry)

    def cancel(self) -> int:
        """Cancel the jobs that have not started (where the API can); shows what happened, returns how many."""
        if not self.can_cancel:
            self._say(f"{self.batch.client.name}'s API cannot cancel jobs; they will run to the end.")
            return 0
        if not self._acting.acquire(blocking=False):
            return 0  # a second click while the first one's action runs
        self.cancel_button.disabled = True
        try:
            before = _counts(self.batch)
            try:
                n = self.batch.cancel()
            except Exception as e:  # shown in the widget: a click handler has nowhere else to report
                self._say(f"cancel failed: {e}", error=True)
                return 0
            self._say(cancel_message(n, before, _counts(self.batch)))
            return n
        finally:
            self._acting.release()
            self.refresh()

    def retry(self) -> BatchLike | None:
        """Submit the failed inputs again as a new batch, shown below this monitor; returns it (None when
        nothing was sent again: no failure, the inputs are not held here, or every failed job resumed as it is)."""
        running = self._retry_running()
        if running is not None or not self._acting.acquire(blocking=False):  # a second click while it runs
            self._say(f"a retry is already running (batch {running.id if running else '...'}): wait for it")
            return None
        self.retry_button.disabled = True  # until the retry's jobs settle (``_apply``)
        try:
            failed = len(self.batch._failed_jobs())
            try:
                new = self.batch.retry_failed()
            except Exception as e:
                self._say(f"retry failed: {e}", error=True)
                return None
            resumed = failed - len(self.batch._failed_jobs())  # reopened: their failure was outside the job
            if new is self.batch:
                self._say(retry_message(failed, 0, None, resumed))
                return None
            if all(b.id != new.id for b in self.retried):
                self.retried.append(new)
                child = monitor_for(new)
                self.retries.children = (*self.retries.children, child.widget)
            self._say(retry_message(failed, len(new.jobs), new.id, resumed))
            return new
        finally:
            self._acting.release()
            self.refresh()

    def _retry_running(self) -> BatchLike | None:
        """The retry batch started here that still has unsettled jobs, if any."""
        return next((b for b in self.retried if not all(settled(j) for j in b.jobs)), None)

    def refresh(self) -> Snapshot:
        """Recompute and show the state now (normally the batch's changes do this, throttled)."""
        self._flush()
        return self.snapshot

    def mimebundle(self, snap: Snapshot | None = None) -> dict[str, Any]:
        """Widget view plus static HTML/text of ``snap`` (default: the current state)."""
        snap = snap or self.snapshot
        data = dict(self.widget._repr_mimebundle_() or {})
        data["text/plain"] = render_text(snap)
        data["text/html"] = render_html(snap)
        return data

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _filter(self.mimebundle(), include, exclude)

    # -- the throttle -------------------------------------------------------------------------------
    def _on_change(self, batch: BatchLike) -> None:
        """Batch listener (loop thread, every job change): mark dirty; flush at once only when all settled."""
        if self._all_settled():
            self._flush()
        else:
            self._schedule(max(0.0, self._last + self.interval - time.monotonic()))

    def _all_settled(self) -> bool:
        # Settled jobs never become unsettled, so the scan resumes where it stopped: O(1) amortised per event.
        jobs = self.batch.jobs
        i = self._first_open
        while i < len(jobs) and settled(jobs[i]):
            i += 1
        self._first_open = i
        return i == len(jobs)

    def _schedule(self, delay: float) -> None:
        """One pending flush at a time, at the earliest time anyone asked for."""
        with self._lock:
            due = time.monotonic() + delay
            if self._due is not None and self._due <= due:
                return
            self._due = due
            self._token += 1
            token = self._token
        loop = runtime.loop()
        if _on_thread_of(loop):
            loop.call_later(delay, self._fire, token)
        else:
            loop.call_soon_threadsafe(loop.call_later, delay, self._fire, token)

    def _fire(self, token: int) -> None:
        with self._lock:
            if token != self._token:
                return  # superseded by an earlier request
            self._due = None
        self._flush()

    def _flush(self) -> None:
        with self._flush_lock:
            snap = snapshot(self.batch, self.max_failures)
            self._last = time.monotonic()
            contextvars.Context().run(self._apply, snap)
            if snap.finished and not self._final_published:
                self._final_published = True
                if self._displayed:
                    contextvars.Context().run(_update_display, self.mimebundle(snap), self.display_id)
        if not snap.finished:
            self._schedule(self.heartbeat)

    def _apply(self, s: Snapshot) -> None:
        """Set the widget traits from a snapshot; ipywidgets sends only the traits that changed."""
        self.snapshot = s
        self.header.value = header_html(s)
        self.bar.max = max(1, s.total)
        self.bar.value = s.terminal
        bad = s.failed_total or s.counts.get("cancelled") or s.counts.get("expired")
        self.bar.bar_style = ("warning" if bad else "success") if s.finished else "info"
        self.stats.value = (
            f'<span style="font-size:12px;opacity:.8;white-space:nowrap">{s.terminal}/{s.total}'
            f" done{' · ' + s.timing if s.timing else ''}</span>"
        )
        self.failures.value = failures_html(s)
        waiting = s.counts.get("draft", 0) + s.counts.get("queued", 0)
        self.cancel_button.disabled = s.finished or not self.can_cancel or not waiting or self._acting.locked()
        can_retry = not s.failed_total or self.can_retry  # asked of the batch only when something failed
        # once retried, the retry's own monitor (below) carries on: its button retries what fails there
        self.retry_button.disabled = not s.failed_total or not can_retry or self._acting.locked() or bool(self.retried)
        self.retry_button.tooltip = (
            f"retried as batch {self.retried[-1].id} (below)" if self.retried else "" if can_retry else _NO_INPUTS
        )
        self.updates += 1

    def _say(self, text: str, error: bool = False) -> None:
        color = "#a40e26" if error else "inherit"
        self.note.value = f'<span style="font-size:12px;color:{color}">{html.escape(text)}</span>'


# -- display glue -------------------------------------------------------------------------------------
def monitor_for(batch: BatchLike) -> Monitor:
    """The batch's monitor, created on first use (re-displaying a batch shows the same live widget)."""
    m = batch.__dict__.get(_ATTR)
    if m is None:
        m = Monitor(batch)
        setattr(batch, _ATTR, m)
    return m


def batch_mimebundle(batch: BatchLike, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """What ``Batch._repr_mimebundle_`` returns: in a kernel the live widget plus HTML/text of the current
    state; elsewhere (terminal IPython, nbconvert of a stored object) only the HTML/text."""
    shell = _kernel_shell()
    if shell is None:
        snap = snapshot(batch)
        return _filter({"text/plain": render_text(snap), "text/html": render_html(snap)}, include, exclude)
    m = monitor_for(batch)
    m.refresh()
    _register_display(shell, type(batch))
    _claim_displayhook(shell, m)
    return _filter(m.mimebundle(), include, exclude)


def display_batch(batch: BatchLike) -> None:
    """Display the batch's monitor with a display id, so the output is rewritten with the final state."""
    from IPython.display import display

    m = monitor_for(batch)
    m.refresh()
    m._displayed = True
    display(m.mimebundle(), raw=True, display_id=m.display_id)


def _register_display(shell: Any, batch_type: type) -> None:
    """Route later displays of batches of this type through ``display_batch`` (a display with a display id).
    The type comes from the batch being displayed: the widgets never import the batch module."""
    formatter = shell.display_formatter.ipython_display_formatter
    formatter.for_type(batch_type, display_batch)


def _claim_displayhook(shell: Any, m: Monitor) -> None:
    """When the displayhook is formatting this batch (``b`` as a cell's last line), give its execute_result
    the monitor's display id, so the finished state can replace it (nbclient applies such updates)."""
    msg = getattr(getattr(shell, "displayhook", None), "msg", None)
    if isinstance(msg, dict) and msg.get("header", {}).get("msg_type") == "execute_result":
        transient = msg.setdefault("content", {}).setdefault("transient", {})
        if "display_id" not in transient:
            transient["display_id"] = m.display_id
            m._displayed = True


def _update_display(data: dict[str, Any], display_id: str) -> None:
    from IPython.display import update_display

    update_display(data, raw=True, display_id=display_id)


def _counts(batch: BatchLike) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in Status), 0)
    for j in batch.jobs:
        counts[j.status.value] += 1
    return counts


def _on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _filter(data: dict[str, Any], include: Any, exclude: Any) -> dict[str, Any]:
    if include:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data
