"""The outbox: ended sessions on their way from the local live-session log to another session store.

When the sessions live elsewhere (ClickHouse), the live log's commit that ends a session puts its
document in ``outbox`` in the same SQLite transaction that removes it from the log, so the end is
durable exactly once. :meth:`Outbox.drain` then writes the waiting documents to the session store
in batches and marks them drained; a crash between the two re-sends them, and the store's
replace-on-write (same account and ``conviva_session_id``) makes that a no-op. Drained rows keep
their key (without the document) for ``ENDED_MEMORY_MS``, so a late report of an ended session is
recognized as late after a restart, as with the SQLite sessions table.
"""

from __future__ import annotations

import collections
import logging
import sqlite3

from reelsight.errors import StorageFailure
from reelsight.sessions.document import SessionDocument, decode_document
from reelsight.store.base import SessionStore
from reelsight.store.records import to_record
from reelsight.store.sqlite.store import SqliteStore

log = logging.getLogger("reelsight.store")
DRAIN_BATCH = 5000
ENDED_MEMORY_MS = 2 * 86_400_000  # longer than any report may lag (24 h) plus a session timeout
_ENCODER_DOC = "json"


class Outbox:
    def __init__(self, local: SqliteStore, sessions: SessionStore) -> None:
        self._local = local
        self.sessions = sessions

    @staticmethod
    def add(
        conn: sqlite3.Connection, account_id: int, doc: SessionDocument, body: bytes, timeline: bytes | None = None
    ) -> None:
        """Inside the live log's commit: the ended session (and its timeline) waits here for the session store."""
        conn.execute(
            "INSERT OR REPLACE INTO outbox (account_id, conviva_session_id, end_ms, doc, timeline)"
            " VALUES (?, ?, ?, ?, ?)",
            (account_id, doc.conviva_session_id, doc.timestamps.end.epoch_ms, body, timeline),
        )

    def is_ended(self, account_id: int, conviva_session_id: str) -> bool:
        with self._local.reading() as conn:
            row = conn.execute(
                "SELECT 1 FROM outbox WHERE account_id = ? AND conviva_session_id = ?", (account_id, conviva_session_id)
            ).fetchone()
        return row is not None

    def waiting(self) -> int:
        with self._local.reading() as conn:
            ((count,),) = conn.execute("SELECT count(*) FROM outbox WHERE doc IS NOT NULL").fetchall()
        return int(count)

    def drain(self, now_ms: int) -> int:
        """Write up to ``DRAIN_BATCH`` waiting sessions to the session store; how many were written.
        Raises ``StorageFailure`` (they stay waiting) when either side refuses."""
        with self._local.reading() as conn:
            rows = conn.execute(
                "SELECT rowid, account_id, doc, timeline FROM outbox WHERE doc IS NOT NULL ORDER BY rowid LIMIT ?",
                (DRAIN_BATCH,),
            ).fetchall()
        by_account: dict[int, list[tuple[bytes, bytes | None]]] = collections.defaultdict(list)
        for _rowid, account_id, body, timeline in rows:
            by_account[account_id].append((body, timeline))
        for account_id, bodies in by_account.items():
            self.sessions.write_sessions(account_id, (to_record(decode_document(b), t) for b, t in bodies))
        with self._local.writing() as conn:
            conn.executemany(
                "UPDATE outbox SET doc = NULL, timeline = NULL WHERE rowid = ?", [(row[0],) for row in rows]
            )
            conn.execute("DELETE FROM outbox WHERE doc IS NULL AND end_ms < ?", (now_ms - ENDED_MEMORY_MS,))
        return len(rows)

    def drain_all(self, now_ms: int) -> int:
        """Drain until nothing waits (at shutdown); stops at the first failure, logging it."""
        total = 0
        try:
            while moved := self.drain(now_ms):
                total += moved
        except StorageFailure as exc:
            log.warning("%d ended sessions stay in the outbox for the next start: %s", self.waiting(), exc)
        return total
