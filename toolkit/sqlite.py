"""The one way the toolkit opens SQLite (client ledger and sandbox store alike)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_db(path: Path, schema: str) -> sqlite3.Connection:
    """Autocommit connection usable from several threads (callers hold a lock), WAL journal, schema applied."""
    # several processes share a workspace: wait for a writer (WAL keeps readers free) rather than fail
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
