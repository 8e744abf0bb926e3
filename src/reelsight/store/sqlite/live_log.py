"""The live-session log: acknowledged ingest events and live-session rows, durable in SQLite.

Every batch of ingest work is one transaction: new live sessions, their events, "last heard"
updates, and the sessions that ended (written to ``sessions`` and removed from the log together).
A restart reads the log back and re-folds each live session.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from reelsight.sessions.live_log import IngestCommit, LiveKey, LiveSessionRow
from reelsight.store.records import to_record
from reelsight.store.sqlite.outbox import Outbox
from reelsight.store.sqlite.store import SqliteStore

_ENCODER = msgspec.json.Encoder()


class SqliteLiveLog:
    """``outbox``: when the ended sessions belong in another session store, they leave the log
    through it (see ``outbox.py``); without one they are written to this file's sessions table."""

    def __init__(self, store: SqliteStore, outbox: Outbox | None = None) -> None:
        self._store = store
        self.outbox = outbox

    def check(self) -> None:
        self._store.check()

    def commit(self, work: IngestCommit) -> None:
        with self._store.writing() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO live_sessions"
                " (account_id, client_id, session_id, enrichment, last_heard_ms, seqs) VALUES (?, ?, ?, ?, ?, ?)",
                [(*key, enrichment, heard, seqs) for key, enrichment, heard, seqs in work.new_sessions],
            )
            # A session's row of the round carries its last-heard time and seen numbers, so only a
            # heard session without a row (every event of the round came late) rewrites live_sessions.
            heard = dict(work.heard)
            conn.executemany(
                "INSERT OR IGNORE INTO live_events (account_id, client_id, session_id, seq, body, last_heard_ms, seqs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(*key, seq, body, *heard.pop(key, (None, None))) for key, seq, body in work.events],
            )
            conn.executemany(
                "UPDATE live_sessions SET last_heard_ms = ?, seqs = ?"
                " WHERE account_id = ? AND client_id = ? AND session_id = ?",
                [(last, seqs, *key) for key, (last, seqs) in heard.items()],
            )
            for key, doc in work.ended:
                timeline = work.timelines.get(key)
                if self.outbox is None:
                    self._store.insert_record(conn, key[0], to_record(doc, timeline))
                else:
                    self.outbox.add(conn, key[0], doc, _ENCODER.encode(doc), timeline)
                conn.execute("DELETE FROM live_events WHERE account_id = ? AND client_id = ? AND session_id = ?", key)
                conn.execute("DELETE FROM live_sessions WHERE account_id = ? AND client_id = ? AND session_id = ?", key)

    def load(self) -> Iterator[LiveSessionRow]:
        """Every live session with its logged events (in seq order; the caller sorts by time), its
        latest last-heard time and every committed snapshot of its seen numbers."""
        with self._store.reading() as conn:
            conn.execute("BEGIN")
            sessions = conn.execute(
                "SELECT account_id, client_id, session_id, enrichment, last_heard_ms, seqs FROM live_sessions"
            ).fetchall()
            bodies: dict[LiveKey, list[bytes]] = {}
            latest_heard: dict[LiveKey, int] = {}
            snapshots: dict[LiveKey, list[bytes]] = {}
            for account_id, client_id, session_id, body, heard, seqs in conn.execute(
                "SELECT account_id, client_id, session_id, body, last_heard_ms, seqs FROM live_events"
                " ORDER BY account_id, client_id, session_id, seq"
            ):
                key = (account_id, client_id, session_id)
                bodies.setdefault(key, []).append(body)
                if heard is not None:
                    latest_heard[key] = max(heard, latest_heard.get(key, heard))
                if seqs is not None:
                    snapshots.setdefault(key, []).append(seqs)
        for account_id, client_id, session_id, enrichment, heard, seqs in sessions:
            key = (account_id, client_id, session_id)
            seen = snapshots.get(key, [])
            if seqs is not None:  # NULL in a log from before the seen numbers were kept
                seen.append(seqs)
            yield LiveSessionRow(key, enrichment, max(heard, latest_heard.get(key, heard)), bodies.get(key, []), seen)

    def events_of(self, key: LiveKey) -> list[bytes]:
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT body FROM live_events WHERE account_id = ? AND client_id = ? AND session_id = ? ORDER BY seq",
                key,
            ).fetchall()
        return [row[0] for row in rows]

    def is_ended(self, account_id: int, conviva_session_id: str) -> bool:
        if self.outbox is not None:
            return self.outbox.is_ended(account_id, conviva_session_id)
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT 1 FROM sessions WHERE account_id = ? AND conviva_session_id = ? AND is_ended = 1",
                (account_id, conviva_session_id),
            ).fetchone()
        return row is not None
