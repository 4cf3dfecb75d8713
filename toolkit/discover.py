"""Which workspace folder a call with no path means: ``$TOOLKIT_WORKSPACE``, else the project's ``.toolkit`` found
in the working folder or a parent (as git finds ``.git``), else a new ``.toolkit`` here.

Kept free of imports beyond the standard library: the command line resolves its default workspace with it
before anything heavy is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["WORKSPACE_DIR", "find_workspace"]

WORKSPACE_DIR = ".toolkit"
_LEDGER = "ledger.sqlite3"  # what makes a .toolkit folder a workspace (toolkit.client.ledger)


def find_workspace(start: str | Path | None = None) -> Path:
    """The workspace folder ``Workspace()`` opens when given none.

    ``$TOOLKIT_WORKSPACE`` when set (reproducible runs, ``make demo``/``make test``, name theirs). Otherwise the
    nearest ``.toolkit`` holding a ledger in ``start`` (default: the working folder) or one of its parents, so a
    notebook run from ``notebooks/`` and a script run from the repository's root share one ledger. The search
    stops at the repository's root (a folder holding ``.git``, which is still searched): a ``.toolkit`` beyond
    it belongs to another project, and paying there, or keeping this project's jobs there, would surprise.
    Outside a repository it goes up to the file system's root, as git does. Found in a parent, the path is
    absolute; not found, it is ``.toolkit`` (made in the working folder)."""
    env = os.environ.get("TOOLKIT_WORKSPACE")
    if env:
        return Path(env)
    here = Path(start).absolute() if start is not None else Path.cwd()
    for folder in (here, *here.parents):
        if (folder / WORKSPACE_DIR / _LEDGER).is_file():
            return Path(WORKSPACE_DIR) if start is None and folder == here else folder / WORKSPACE_DIR
        if (folder / ".git").exists():
            break
    return Path(WORKSPACE_DIR) if start is None else here / WORKSPACE_DIR
