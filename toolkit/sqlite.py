"""The one way the toolkit opens SQLite (client ledger and sandbox store alike)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import quote

#: one migration step: brings a database from the version at its index in the list to the next one
Migration = Callable[[sqlite3.Connection], None]


class SchemaTooNew(Exception):
    """The database was written by a newer schema than this code knows (``found`` > ``supported``)."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(f"schema version {found}, newer than {supported}")
        self.found, self.supported = found, supported


def open_db(
    path: Path, schema: str, *, version: int = 0, migrations: Sequence[Migration] = (), read_only: bool = False
) -> sqlite3.Connection:
    """Autocommit connection usable from several threads (callers hold a lock), WAL journal, schema applied.

    With ``version``, the file's ``PRAGMA user_version`` says which schema wrote it: ``migrations[v]`` brings
    version ``v`` to ``v + 1`` (all in one transaction), a newer file raises ``SchemaTooNew`` before anything
    is written, and a new file gets ``schema`` and ``version``. ``read_only`` opens without writing anything
    (``mode=ro``, else ``immutable=1`` where even the ``-shm`` file cannot be made: a read-only disk)."""
    if read_only:
        return _open_read_only(path, version)
    # several processes share a workspace: wait for a writer (WAL keeps readers free) rather than fail
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    db.row_factory = sqlite3.Row
    if version:
        _check_version(db, version)  # before the journal mode is set: a newer file is left exactly as it was
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    if not version:
        db.executescript(schema)
        return db
    db.execute("BEGIN IMMEDIATE")  # one process migrates; the others then see the new version
    try:
        found = _check_version(db, version)
        if found < version:
            fresh = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            if not fresh:
                for step in migrations[found:version]:
                    step(db)
            for statement in _statements(schema):  # not executescript: it would COMMIT the migration half-way
                db.execute(statement)
            db.execute(f"PRAGMA user_version={int(version)}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return db


def _statements(script: str) -> list[str]:
    """``script``'s statements, split where SQLite says one is complete (a trigger's body holds ``;``)."""
    out, buf = [], ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf)
            buf = ""
    return out


def _check_version(db: sqlite3.Connection, version: int) -> int:
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > version:
        db.close()
        raise SchemaTooNew(found, version)
    return found


def _open_read_only(path: Path, version: int) -> sqlite3.Connection:
    uri = "file:" + quote(str(Path(path).resolve()))
    last: sqlite3.Error | None = None
    for mode in ("mode=ro", "mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(f"{uri}?{mode}", uri=True, check_same_thread=False, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as e:  # a WAL file needs its -shm, which a read-only folder cannot hold
            last = e
            continue
        if version:  # an older file is read as it is (it cannot be migrated): the caller checks its rows
            _check_version(db, version)
        return db
    assert last is not None
    raise last
