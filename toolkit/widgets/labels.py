"""Words a researcher reads: status labels, rates and durations, and cancel/retry messages that agree with the counts.

The unified statuses (``toolkit.client.model.STATUS_CATEGORIES``) stay in the data; these are for display only,
shared by the monitor, the explorer and the command line. No ipywidgets here.
"""

from __future__ import annotations

import math
from typing import Mapping

from ..client.model import LABELS, ORDER, count_phrase, label

__all__ = ["LABELS", "ORDER", "count_phrase", "label"]

#: the label of the monitor's cancel button and the one thing it does
CANCEL_BUTTON = "Cancel waiting jobs"
CANCEL_TOOLTIP = "cancel the jobs the service has not started yet; running jobs finish"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``"1 job"``, ``"3 jobs"``; ``nouns`` for irregular plurals (``plural(2, "batch", "batches")``)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def sig(x: float, digits: int = 2) -> str:
    """``x`` to ``digits`` significant figures without exponent (``0.0749`` -> ``0.075``, ``452.3`` -> ``452``)."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:.0f}"
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    return f"{x:.{decimals}f}"


def fmt_rate(per_second: float) -> str:
    """A throughput in the unit that keeps it readable: ``3.1 jobs/s``, ``4.5 jobs/min``, ``12 jobs/h``."""
    for factor, unit in ((1, "s"), (60, "min"), (3600, "h")):
        if per_second * factor >= 1 or unit == "h":
            return f"{sig(per_second * factor)} jobs/{unit}"
    raise AssertionError("unreachable")


def fmt_duration(seconds: float) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def fmt_eta(seconds: float) -> str:
    """A time left, no more precise than an estimate is: ``under 1 s``, ``45 s``, ``4.5 min``, ``2.1 h``."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{sig(seconds / 60)} min"
    return f"{sig(seconds / 3600)} h"


def cancel_message(cancelled: int, before: Mapping[str, int], after: Mapping[str, int]) -> str:
    """What a cancel did, in words that agree with the counts before and after it.

    ``before``/``after``: status counts of the batch around the ``cancel()`` call that cancelled ``cancelled``.
    """
    waiting = before.get("draft", 0) + before.get("queued", 0)
    if cancelled:
        text = f"cancelled {cancelled} of the {plural(waiting, 'job')} not started yet"
        started = waiting - cancelled
        if started > 0:
            text += f"; {started} started meanwhile and will finish"
        return text
    already = before.get("cancelled", 0)
    if waiting:
        return f"nothing cancelled: the {plural(waiting, 'waiting job')} started before the cancel reached them"
    if already:
        was = "was" if already == 1 else "were"
        return f"nothing left to cancel: {already} {was} already cancelled"
    running = after.get("running", 0)
    if running:
        return f"nothing left to cancel: {running} running (a started job cannot be cancelled), the rest finished"
    return "nothing left to cancel: every job has finished"


def retry_message(failed: int, resent: int, batch_id: str | None, resumed: int = 0) -> str:
    """What a retry did: ``failed`` jobs had failed; ``resent`` inputs went out again as batch ``batch_id``,
    ``resumed`` jobs continue as they are (their failure was outside the job)."""
    if not failed:
        return "nothing to retry: no job failed"
    parts = []
    if resent:
        parts.append(f"retrying {plural(resent, 'failed input')} as batch {batch_id}")
    if resumed:
        parts.append(f"{resumed} stopped {'job continues' if resumed == 1 else 'jobs continue'} where they were")
    if parts:
        return "; ".join(parts)
    return (
        f"nothing retried: the {plural(failed, 'failed input')} {'is' if failed == 1 else 'are'} not held in this "
        "session; re-run the call that submitted them"
    )
