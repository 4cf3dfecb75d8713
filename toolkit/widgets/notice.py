"""Notices: information a user should see once, looking like information (not like an error).

In a Jupyter kernel a notice is a small info-styled display (HTML, with a text/plain fallback); anywhere else it
is an INFO record of the ``toolkit.notice`` logger, which the command line prints as one line on stderr.
Writing to stderr in a notebook would show as a pink error box.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

log = logging.getLogger("toolkit.notice")

_shown: set[str] = set()
_lock = threading.Lock()

_STYLE = (
    "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px;line-height:1.45;"
    "max-width:760px;margin:2px 0;padding:6px 10px;border-left:4px solid #0a4fa3;border-radius:3px;"
    "background:rgba(10,79,163,.08);color:inherit"
)


def notice(text: str, *, once: str | None = None, title: str = "toolkit", level: int = logging.INFO) -> bool:
    """Show ``text`` as a notice; with ``once``, only the first time for that key in this process. Outside
    Jupyter it is a log record at ``level`` (WARNING: printed even where logging is not set up).

    Returns whether it was shown."""
    if once is not None:
        with _lock:
            if once in _shown:
                return False
            _shown.add(once)
    if kernel_shell() is None:
        log.log(level, "%s", text)
        return True
    from IPython.display import display

    data = {
        "text/plain": f"{title}: {text}",
        "text/html": f'<div role="note" style="{_STYLE}"><b>ℹ {html.escape(title)}</b>&ensp;{html.escape(text)}</div>',
    }
    display(data, raw=True)
    return True


_WARN_STYLE = _STYLE.replace("#0a4fa3", "#b26a00").replace("rgba(10,79,163,.08)", "rgba(178,106,0,.09)")


def warning_display(kind: str, text: str) -> None:
    """A toolkit warning in a Jupyter kernel: its first line as the line, the rest (named inputs) below it."""
    from IPython.display import display

    head, _, rest = text.strip().partition("\n")
    more = f'<pre style="margin:2px 0 0;font-size:12px;white-space:pre-wrap">{html.escape(rest)}</pre>' if rest else ""
    data = {
        "text/plain": f"toolkit warning ({kind}): {text.strip()}",
        "text/html": f'<div role="alert" style="{_WARN_STYLE}"><b>⚠ {html.escape(kind)}</b>&ensp;'
        f"{html.escape(head)}{more}</div>",
    }
    display(data, raw=True)


def kernel_shell() -> Any:
    """The IPython shell when running in a Jupyter kernel (not terminal IPython), else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None
