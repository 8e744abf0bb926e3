"""The SQLite store's own layout: replace-on-write and purge leave no rows behind, migrations, WAL,
read-only readers (the contract itself, on every backend: ``test_store_contract.py``)."""

from __future__ import annotations

import sqlite3

import pytest

from reelsight.query.parse import SessionQuery
from reelsight.query.selection import selection
from reelsight.store.records import to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.store.sqlite.schema import SCHEMA_VERSION, SchemaTooNew
from tests.conftest import NOW_MS, add_account
from tests.factories import make_doc

DAY = 86_400_000
WINDOW = selection(SessionQuery(start_ms=NOW_MS - 3 * 3_600_000, end_ms=NOW_MS, limit=1500))


def test_writing_the_same_session_again_replaces_it(store: SqliteStore, db_path: str) -> None:
    acme = add_account(store, "acme")
    store.write_sessions(acme.account.id, [to_record(make_doc(end_ms=NOW_MS - 5000, custom_tags={"a": "1"}))])
    store.write_sessions(acme.account.id, [to_record(make_doc(end_ms=NOW_MS - 9000, custom_tags={"b": "2"}))])
    (only,) = store.sample_sessions(acme.account.id, WINDOW)
    assert only.end_ms == NOW_MS - 9000
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM session_docs").fetchone() == (1,)
        assert conn.execute("SELECT tags FROM sessions").fetchall() == [("\x1fb\x1e2\x1f",)]


def test_purge_removes_only_sessions_older_than_the_cutoff(store: SqliteStore, db_path: str) -> None:
    acme = add_account(store, "acme")
    old = make_doc(session_id="1", end_ms=NOW_MS - 32 * DAY, custom_tags={"x": "1"})
    kept = make_doc(session_id="2", end_ms=NOW_MS - 30 * DAY, custom_tags={"x": "2"})
    store.write_sessions(acme.account.id, [to_record(old), to_record(kept)])
    assert store.purge_ended_before(NOW_MS - 31 * DAY) == 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT session_id FROM sessions").fetchall() == [("2",)]
        assert conn.execute("SELECT count(*) FROM session_docs").fetchone() == (1,)
        assert conn.execute("SELECT tags FROM sessions").fetchall() == [("\x1fx\x1e2\x1f",)]
    assert store.purge_ended_before(NOW_MS - 31 * DAY) == 0


def test_migrations_are_applied_once_and_recorded(db_path: str, store: SqliteStore) -> None:
    add_account(store, "acme")
    again = SqliteStore(db_path)  # reopening applies nothing and keeps the data
    assert [a.name for a in again.list_accounts()] == ["acme"]
    again.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_newer_schema_is_refused(db_path: str, store: SqliteStore) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        SqliteStore(db_path)


def test_readers_cannot_write(store: SqliteStore) -> None:
    with store.reading() as conn, pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM accounts")


def test_the_server_purges_expired_sessions_while_running(db_path: str, store: SqliteStore, clock: object) -> None:
    import time

    from reelsight.clock import FakeClock
    from reelsight.settings import Settings
    from tests.conftest import LiveServer

    assert isinstance(clock, FakeClock)
    acme = add_account(store, "acme")
    store.write_sessions(acme.account.id, [to_record(make_doc(session_id="1", end_ms=NOW_MS - 20 * DAY))])
    settings = Settings(db=db_path, retention_days=31, purge_interval_s=1)
    with LiveServer(settings, store, clock):
        clock.advance(12 * 86_400)  # the session is now 32 days old
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sqlite3.connect(db_path) as conn:
                if conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,):
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the session was not purged")


def test_migration_3_moves_existing_tags_inline(db_path: str) -> None:
    from reelsight.store.sqlite.connection import open_connection
    from reelsight.store.sqlite.schema import MIGRATIONS

    conn = open_connection(db_path)
    for version, statements in enumerate(MIGRATIONS[:2], start=1):  # a file as version 2 left it
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO accounts VALUES (1, 'a', 0, '[]', 'ik', 0, 'full')")
    conn.execute("INSERT INTO session_docs VALUES (7, 0, '', x'7b7d')")
    columns = [c[1] for c in conn.execute("PRAGMA table_info(sessions)")]
    values = {c: "" for c in columns} | {
        "account_id": 1, "end_bucket": 1, "sample_key": 1, "conviva_session_id": "1.1.1.1.1", "doc_id": 7,
        "start_ms": 0, "end_ms": 1, "is_ended": 1,
    }  # fmt: skip
    values.update({c: 0 for c in columns if c.startswith("is_")})
    conn.execute(
        f"INSERT INTO sessions ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",  # noqa: S608
        list(values.values()),
    )
    conn.executemany("INSERT INTO session_tags VALUES (7, ?, ?)", [("tier", "gold"), ("exp", "")])
    conn.close()
    store = SqliteStore(db_path)
    store.close()
    with sqlite3.connect(db_path) as check:
        (tags,) = check.execute("SELECT tags FROM sessions").fetchone()
        assert sorted(tags.strip("\x1f").split("\x1f")) == ["exp\x1e", "tier\x1egold"]
        assert check.execute("SELECT name FROM sqlite_master WHERE name = 'session_tags'").fetchall() == []
