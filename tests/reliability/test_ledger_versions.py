"""The ledger carries its schema version (issue 21, item 9): a ledger from an older toolkit is migrated and its
results load; one from a newer toolkit is refused, naming both versions, and left unchanged; a row this toolkit
cannot read is a ``LedgerError`` naming the file, never a raw ``KeyError``/``TypeError``/``ValueError``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.reliability.test_ledger_trust import client_ws, images
from toolkit import load
from toolkit.client.ledger import LEDGER_VERSION, Ledger, LedgerError
from toolkit.workspace import Workspace


def finished(tmp_path: Path, sandbox, n: int = 3) -> tuple[Path, list[Path], str]:
    """A workspace whose Animal Detect batch of ``n`` images has finished and was closed."""
    paths = images(tmp_path / "in", n, seed=900)
    ws = client_ws(tmp_path / "ws", sandbox, "animaldetect")
    b = ws.animaldetect.detect(paths).wait(timeout=120, progress=False)
    assert b.status_counts()["succeeded"] == n
    ws.ledger.close()
    return tmp_path / "ws", paths, b.id


def sql(ws: Path, *statements: str) -> None:
    db = sqlite3.connect(ws / "ledger.sqlite3", isolation_level=None)
    for s in statements:
        db.execute(s)
    db.close()


def version(ws: Path) -> int:
    db = sqlite3.connect(ws / "ledger.sqlite3")
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def test_a_ledger_of_the_first_toolkit_is_migrated_and_its_results_load_with_no_request(tmp_path, sandbox):
    ws_dir, paths, batch_id = finished(tmp_path, sandbox)
    # as the first toolkit wrote it: no version, no stamp table; and an even older batches table without spec
    sql(
        ws_dir,
        *(f"DROP TRIGGER jobs_gen_{w}" for w in ("insert", "update", "delete")),  # nor the generation (v2)
        "ALTER TABLE jobs DROP COLUMN gen",
        "DROP TABLE stamp",
        "CREATE TABLE b2 (id TEXT PRIMARY KEY, provider TEXT NOT NULL, operation TEXT NOT NULL, "
        "created_at REAL NOT NULL, keys TEXT NOT NULL)",
        "INSERT INTO b2 SELECT id, provider, operation, created_at, keys FROM batches",
        "DROP TABLE batches",
        "ALTER TABLE b2 RENAME TO batches",
        "PRAGMA user_version=0",
    )
    (ws_dir / "cache" / "LEDGER").unlink()  # nor did its cache name the ledger
    assert version(ws_dir) == 0
    ws = client_ws(ws_dir, sandbox, "animaldetect")
    assert version(ws_dir) == LEDGER_VERSION >= 1
    assert ws.ledger.batch(batch_id)["spec"] == {}
    assert len(ws.jobs(provider="animaldetect")) == len(paths)
    b = ws.animaldetect.detect(paths).wait(timeout=60, progress=False)
    assert len(load.detections(b)) > 0
    assert ws.client("animaldetect").transport.requests == 0  # every result came from the cache


def test_a_ledger_of_a_newer_toolkit_is_refused_naming_both_versions_and_left_unchanged(tmp_path, sandbox):
    ws_dir, _, _ = finished(tmp_path, sandbox)
    sql(ws_dir, f"PRAGMA user_version={LEDGER_VERSION + 6}")
    before = (ws_dir / "ledger.sqlite3").read_bytes()
    with pytest.raises(LedgerError) as e:
        Workspace(ws_dir, quiet=True)
    text = str(e.value)
    assert f"ledger version {LEDGER_VERSION + 6}" in text and f"up to {LEDGER_VERSION}" in text
    assert str(ws_dir / "ledger.sqlite3") in text
    assert (ws_dir / "ledger.sqlite3").read_bytes() == before
    assert version(ws_dir) == LEDGER_VERSION + 6


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE jobs SET status='paused-by-v9'",  # a status this version does not know (ValueError)
        "UPDATE jobs SET meta='{not json'",  # JSONDecodeError
        "UPDATE jobs SET urls='[1, 2]'",  # valid JSON, not an object (TypeError later)
        "UPDATE batches SET keys='{\"a\": 1}'",
    ],
)
def test_a_row_this_toolkit_cannot_read_is_a_ledger_error_naming_the_file(tmp_path, sandbox, damage):
    ws_dir, paths, batch_id = finished(tmp_path, sandbox)
    sql(ws_dir, damage)
    with pytest.raises(LedgerError, match=r"ledger\.sqlite3 holds a row this toolkit cannot read"):
        ws = Workspace(ws_dir, quiet=True)
        ws.jobs()
        ws.ledger.batch(batch_id)


def test_a_table_missing_a_required_column_is_a_ledger_error(tmp_path):
    (tmp_path / "ws").mkdir()
    sql(
        tmp_path / "ws", "CREATE TABLE jobs (key TEXT PRIMARY KEY, provider TEXT)", "INSERT INTO jobs VALUES ('k', 'x')"
    )
    with pytest.raises(LedgerError, match=r"ledger\.sqlite3"):
        Ledger(tmp_path / "ws").jobs()
