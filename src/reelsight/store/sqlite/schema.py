"""The SQLite schema as numbered migrations, applied in order at start-up (``PRAGMA user_version``).

Sessions are clustered by ``(account_id, end_bucket, sample_key, conviva_session_id)``: within one
15-minute bucket of end times the rows lie in sample-key order, so a sample query walks each bucket
in that order and stops after ``limit`` matches (see ``reader.py``). Column names come from the
dimension table, never from input.
"""

from __future__ import annotations

import sqlite3

from reelsight.query.dimensions import SCALAR_DIMENSIONS
from reelsight.query.parse import FLAG_PARAMS
from reelsight.store.sqlite.connection import transaction


def _v1() -> list[str]:
    flag_cols = ",\n  ".join(f"{name} INTEGER NOT NULL" for name in FLAG_PARAMS)
    dim_cols = ",\n  ".join(f"{d.column} TEXT NOT NULL" for d in SCALAR_DIMENSIONS)
    return [
        """CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  viewer_module INTEGER NOT NULL,
  business_error_patterns TEXT NOT NULL,
  ingest_key TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL
)""",
        """CREATE TABLE api_keys (
  key_id TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  secret_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL
)""",
        "CREATE INDEX api_keys_by_account ON api_keys(account_id)",
        """CREATE TABLE session_docs (
  id INTEGER PRIMARY KEY,
  viewer_split INTEGER NOT NULL,
  viewer_id TEXT NOT NULL,
  doc BLOB NOT NULL
)""",
        f"""CREATE TABLE sessions (
  account_id INTEGER NOT NULL,
  end_bucket INTEGER NOT NULL,
  sample_key INTEGER NOT NULL,
  conviva_session_id TEXT NOT NULL,
  doc_id INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  is_ended INTEGER NOT NULL,
  session_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  cdn TEXT NOT NULL,
  {flag_cols},
  {dim_cols},
  PRIMARY KEY (account_id, end_bucket, sample_key, conviva_session_id)
) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX sessions_by_conviva_id ON sessions(account_id, conviva_session_id)",
        "CREATE INDEX sessions_by_session_id ON sessions(account_id, session_id, end_ms)",
        "CREATE INDEX sessions_by_client_id ON sessions(account_id, client_id, end_ms)",
        """CREATE TABLE session_tags (
  doc_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (doc_id, key)
) WITHOUT ROWID""",
    ]


def _v2() -> list[str]:
    """Live sessions: the ingest log that makes acknowledged events durable, and account privacy."""
    return [
        "ALTER TABLE accounts ADD COLUMN ip_privacy TEXT NOT NULL DEFAULT 'full'",
        """CREATE TABLE live_sessions (
  account_id INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  enrichment BLOB NOT NULL,
  last_heard_ms INTEGER NOT NULL,
  PRIMARY KEY (account_id, client_id, session_id)
) WITHOUT ROWID""",
        """CREATE TABLE live_events (
  account_id INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY (account_id, client_id, session_id, seq)
) WITHOUT ROWID""",
    ]


def _v3() -> list[str]:
    """Custom tags move inline into the sessions row (one delimited text column, matched with instr):
    a correlated lookup per candidate row cost ~5x a dimension filter. And an end-time index, so the
    retention purge reads only what it deletes."""
    return [
        "ALTER TABLE sessions ADD COLUMN tags TEXT NOT NULL DEFAULT ''",
        """UPDATE sessions SET tags = (
  SELECT char(31) || group_concat(key || char(30) || value, char(31)) || char(31)
  FROM session_tags t WHERE t.doc_id = sessions.doc_id
) WHERE EXISTS (SELECT 1 FROM session_tags t WHERE t.doc_id = sessions.doc_id)""",
        "DROP TABLE session_tags",
        "CREATE INDEX sessions_by_end ON sessions(end_ms)",
    ]


MIGRATIONS: tuple[list[str], ...] = (_v1(), _v2(), _v3())
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    pass


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the file's ``user_version``; return the final version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(f"the database has schema version {current}; this Reelsight knows up to {SCHEMA_VERSION}")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with transaction(conn):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
    return SCHEMA_VERSION
