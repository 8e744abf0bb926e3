"""Opening SQLite connections the one way Reelsight uses them, and a transaction helper."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

SYNCHRONOUS_MODES = ("full", "normal")


def open_connection(path: str, *, readonly: bool = False, synchronous: str = "full") -> sqlite3.Connection:
    """Autocommit connection (transactions are explicit) in WAL mode with a busy timeout.

    ``synchronous``: "full" syncs the WAL at every commit, so a committed transaction survives a
    power loss; "normal" survives a crash of the process but may lose the last commits to a crash
    of the machine.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, got {synchronous!r}")
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA cache_size=-16000")  # 16 MB page cache per connection
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT; on any failure, the COMMIT's included (a full disk can refuse it),
    the transaction is rolled back if SQLite has not already done so, and the error propagates."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
