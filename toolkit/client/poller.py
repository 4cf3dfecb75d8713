"""When to poll a job next: the provider's documented schedule, then the runtimes this batch has observed.

Before a batch has seen a few jobs finish (and when the ledger holds no runtimes of earlier batches of the same
provider and operation), each job follows its provider's ``PollPolicy`` (first poll, then
interval x factor up to a cap, all scaled by the sandbox time scale). Afterwards the next poll of a job is
placed at the next quantile of the batch's runtime distribution beyond the job's elapsed time, so a job is
polled about when jobs like it finish rather than on a fixed clock.

The distribution is a Kaplan-Meier estimate: jobs still running count as censored observations (they have
run *at least* this long). Without that, the first jobs to finish (the short ones) would make every
estimate too short and the poller would hammer the long jobs.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np

#: quantile levels a job is polled at; fewer levels mean fewer requests and later notice
LEVELS = (0.2, 0.4, 0.6, 0.8, 0.95)
MIN_EVENTS = 5  # finished jobs needed before the estimate is trusted
REFRESH = 0.25  # seconds between re-estimates (cost is O(n log n) per estimate)


class RuntimeModel:
    """Runtimes (submit -> terminal, seconds) of one batch, finished and still running."""

    def __init__(self, running: Callable[[], Iterable[float]], prior: Iterable[float] = ()) -> None:
        self._events: list[float] = [max(0.0, t) for t in prior]  # earlier batches of the same operation
        self._running = running  # elapsed times of jobs submitted and not yet finished
        self._quantiles: np.ndarray | None = None
        self._at = 0.0
        self._stale = True

    def observe(self, runtime: float) -> None:
        self._events.append(max(0.0, runtime))
        self._stale = True

    def quantiles(self) -> np.ndarray | None:
        """Runtime at each of ``LEVELS`` (NaN where the estimate does not reach that level yet)."""
        now = time.monotonic()
        if len(self._events) < MIN_EVENTS:
            return None
        if self._quantiles is None or (self._stale and now - self._at >= REFRESH):
            self._quantiles = kaplan_meier_quantiles(self._events, list(self._running()), LEVELS)
            self._at, self._stale = now, False
        return self._quantiles

    def next_at(self, elapsed: float, gap: float) -> float | None:
        """Elapsed time of this job's next poll from the estimate, or None to fall back to the policy."""
        q = self.quantiles()
        if q is None:
            return None
        ahead = q[np.isfinite(q) & (q > elapsed + gap)]
        return float(ahead.min()) if ahead.size else None


def kaplan_meier_quantiles(events: list[float], censored: list[float], levels: Iterable[float]) -> np.ndarray:
    """Quantiles of a runtime distribution from finished (``events``) and still-running (``censored``) jobs."""
    levels = tuple(levels)
    e = np.sort(np.asarray(events, dtype=float))
    c = np.sort(np.asarray(censored, dtype=float))
    at_risk = (e.size - np.arange(e.size)) + (c.size - np.searchsorted(c, e, side="left"))
    cdf = 1.0 - np.cumprod(1.0 - 1.0 / np.maximum(at_risk, 1))
    out = np.full(len(levels), np.nan)
    for i, level in enumerate(levels):
        k = int(np.searchsorted(cdf, level, side="left"))
        if k < e.size:
            out[i] = e[k]
    return out
