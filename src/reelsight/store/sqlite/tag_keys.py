"""The custom tag keys an account's sessions have, per UTC day of their end: what the dimensions list reads.

``tag_keys (account_id, day, key, last_end_ms)`` gets a row the first time a key appears among the
sessions of an account ending on a day, and ``last_end_ms`` follows the latest such session; both in
the transaction that writes the session. The list for a retention window then reads at most
``days x keys`` small rows of one account, never the sessions (a month may hold millions).
"""

from __future__ import annotations

import sqlite3

from reelsight.store.records import SessionRecord

DAY_MS = 86_400_000

_UPSERT = (
    "INSERT INTO tag_keys (account_id, day, key, last_end_ms) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (account_id, day, key) DO UPDATE SET last_end_ms = excluded.last_end_ms"
    " WHERE excluded.last_end_ms > tag_keys.last_end_ms"
)


def note(conn: sqlite3.Connection, account_id: int, r: SessionRecord) -> None:
    """Inside a write transaction: the keys of one session being written."""
    if r.custom_tags:
        day = r.end_ms // DAY_MS
        conn.executemany(_UPSERT, [(account_id, day, key, r.end_ms) for key, _value in r.custom_tags])


def since(conn: sqlite3.Connection, account_id: int, since_ms: int, limit: int) -> list[str]:
    rows = conn.execute(
        "SELECT key FROM tag_keys WHERE account_id = ? AND day >= ? AND last_end_ms >= ?"
        " GROUP BY key ORDER BY key LIMIT ?",
        (account_id, since_ms // DAY_MS, since_ms, limit),
    ).fetchall()
    return [row[0] for row in rows]


def purge_before(conn: sqlite3.Connection, account_id: int, cutoff_ms: int) -> None:
    """Inside a write transaction: forget one account's keys whose latest session ended before ``cutoff_ms``."""
    conn.execute(
        "DELETE FROM tag_keys WHERE account_id = ? AND day <= ? AND last_end_ms < ?",
        (account_id, cutoff_ms // DAY_MS, cutoff_ms),
    )
