"""The SQLite schema as numbered migrations, applied in order at start-up (``PRAGMA user_version``).

Sessions are clustered by ``(account_id, end_bucket, sample_key, conviva_session_id)``: within one
15-minute bucket of end times the rows lie in sample-key order, so a sample query walks each bucket
in that order and stops after ``limit`` matches (see ``reader.py``). Column names come from the
flag and dimension tables, never from input.

Migrations are history: each one is literal SQL, frozen once released, and never edited (a file
created at version k must stay exactly what migrations 1..k make). A new dimension or flag comes
with a new migration that adds its column to ``sessions`` and ``ad_sessions`` with a DEFAULT, so existing rows stay
valid. :func:`check_session_columns` runs at every open and refuses a file whose ``sessions`` table
lacks a column the session insert fills (the code gained a dimension or flag without a migration).
"""

from __future__ import annotations

import sqlite3

from reelsight.aggregates.inputs import FACT_COLUMNS  # for the drift check only, never a migration
from reelsight.query.dimensions import SCALAR_DIMENSIONS  # for the drift check only, never a migration
from reelsight.query.parse import FLAG_PARAMS  # for the drift check only, never a migration
from reelsight.store.sqlite.connection import transaction


def _v1() -> list[str]:
    """Accounts, API keys and ended sessions, with one column per flag and scalar dimension as of v1."""
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
        """CREATE TABLE sessions (
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
  is_exit_before_video_start INTEGER NOT NULL,
  is_video_start_failure INTEGER NOT NULL,
  is_video_start_failure_business INTEGER NOT NULL,
  is_video_start_failure_tech INTEGER NOT NULL,
  is_video_playback_failure INTEGER NOT NULL,
  is_video_playback_failure_business INTEGER NOT NULL,
  is_video_playback_failure_tech INTEGER NOT NULL,
  d_ad_creative_id TEXT NOT NULL,
  d_ad_id TEXT NOT NULL,
  d_ad_media_file_api_framework TEXT NOT NULL,
  d_ad_planned_duration TEXT NOT NULL,
  d_ad_position TEXT NOT NULL,
  d_ad_sequence TEXT NOT NULL,
  d_ad_system TEXT NOT NULL,
  d_ad_technology TEXT NOT NULL,
  d_app_version TEXT NOT NULL,
  d_asn TEXT NOT NULL,
  d_asset TEXT NOT NULL,
  d_browser_name TEXT NOT NULL,
  d_browser_version TEXT NOT NULL,
  d_cdn_edge_group TEXT NOT NULL,
  d_cdn_edge_server TEXT NOT NULL,
  d_content_category TEXT NOT NULL,
  d_content_meta_channel TEXT NOT NULL,
  d_content_meta_show_title TEXT NOT NULL,
  d_content_session_id TEXT NOT NULL,
  d_device_hardware_type TEXT NOT NULL,
  d_device_manufacturer TEXT NOT NULL,
  d_device_marketing_name TEXT NOT NULL,
  d_device_model TEXT NOT NULL,
  d_device_name TEXT NOT NULL,
  d_device_os TEXT NOT NULL,
  d_device_os_family TEXT NOT NULL,
  d_device_os_version TEXT NOT NULL,
  d_geo_city_name TEXT NOT NULL,
  d_geo_continent_name TEXT NOT NULL,
  d_geo_country_code TEXT NOT NULL,
  d_geo_country_name TEXT NOT NULL,
  d_geo_dma TEXT NOT NULL,
  d_geo_postal_code TEXT NOT NULL,
  d_geo_state_code TEXT NOT NULL,
  d_geo_state_name TEXT NOT NULL,
  d_isp TEXT NOT NULL,
  d_platform_version TEXT NOT NULL,
  d_player_framework_name TEXT NOT NULL,
  d_player_framework_version TEXT NOT NULL,
  d_player_name TEXT NOT NULL,
  d_stream_url TEXT NOT NULL,
  d_video_asset_name TEXT NOT NULL,
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


def _v4() -> list[str]:
    """Each live session keeps its seen sequence numbers (with the blocks its reports claimed), so
    a restart restores them as compact as they were; NULL (a log from before) rebuilds them."""
    return ["ALTER TABLE live_sessions ADD COLUMN seqs BLOB"]


def _v5() -> list[str]:
    """The outbox: sessions ended by the live log on their way to another session store (ClickHouse)."""
    return [
        """CREATE TABLE outbox (
  account_id INTEGER NOT NULL,
  conviva_session_id TEXT NOT NULL,
  end_ms INTEGER NOT NULL,
  doc BLOB,
  PRIMARY KEY (account_id, conviva_session_id)
)""",
    ]


def _v6() -> list[str]:
    """A smaller file: documents compressed with zstd and a dictionary trained on the store's own
    documents (``dict_id`` NULL: stored as they are, as every row written before); and two indexes
    fewer. A client's sessions are one range of ``sessions_by_conviva_id`` (``conviva_session_id`` is
    ``client_id + "." + session_id``), and the retention purge walks the primary key by account and
    end bucket."""
    return [
        "CREATE TABLE zstd_dicts (id INTEGER PRIMARY KEY, dict BLOB NOT NULL, created_ms INTEGER NOT NULL)",
        "ALTER TABLE session_docs ADD COLUMN dict_id INTEGER REFERENCES zstd_dicts(id)",
        "DROP INDEX sessions_by_client_id",
        "DROP INDEX sessions_by_end",
    ]


def _v7() -> list[str]:
    """Filter terms (``terms.py``): postings of the uncommon values of a few dimensions and of every
    custom tag, per account and day, so a selective filter reads its few sessions instead of the
    window. A file with sessions is backfilled when the store opens (``filter_terms_backfill``)."""
    return [
        """CREATE TABLE filter_terms (
  account_id INTEGER NOT NULL,
  day INTEGER NOT NULL,
  term INTEGER NOT NULL,
  end_bucket INTEGER NOT NULL,
  sample_key INTEGER NOT NULL,
  PRIMARY KEY (account_id, day, term, end_bucket, sample_key)
) WITHOUT ROWID""",
        """CREATE TABLE filter_term_overflow (
  account_id INTEGER NOT NULL,
  day INTEGER NOT NULL,
  term INTEGER NOT NULL,
  PRIMARY KEY (account_id, day, term)
) WITHOUT ROWID""",
        "CREATE TABLE filter_terms_backfill (pending INTEGER NOT NULL)",
        "INSERT INTO filter_terms_backfill SELECT 1 WHERE EXISTS (SELECT 1 FROM sessions)",
    ]


def _v8() -> list[str]:
    """Custom tag keys per account and UTC day of the sessions' end (``tag_keys.py``), for the
    dimensions list; filled here from the inline tags of the sessions already stored."""
    return [
        """CREATE TABLE tag_keys (
  account_id INTEGER NOT NULL,
  day INTEGER NOT NULL,
  key TEXT NOT NULL,
  last_end_ms INTEGER NOT NULL,
  PRIMARY KEY (account_id, day, key)
) WITHOUT ROWID""",
        # tags is char(31) || key char(30) value char(31) ... (records.encode_tags): peel one tag per step
        """WITH RECURSIVE split(account_id, end_ms, rest, key) AS (
  SELECT account_id, end_ms, substr(tags, 2), NULL FROM sessions WHERE tags != ''
  UNION ALL
  SELECT account_id, end_ms, substr(rest, instr(rest, char(31)) + 1), substr(rest, 1, instr(rest, char(30)) - 1)
  FROM split WHERE rest != ''
)
INSERT INTO tag_keys (account_id, day, key, last_end_ms)
SELECT account_id, end_ms / 86400000, key, max(end_ms) FROM split WHERE key IS NOT NULL
GROUP BY account_id, end_ms / 86400000, key""",
    ]


def _v9() -> list[str]:
    """Ad sessions and the viewer lookup.

    - ``accounts.ad_insights``: the permission for the ad sessions endpoint.
    - ``ad_sessions``: ad sessions, a table of their own with the layout of ``sessions`` (the same
      columns, key and id indexes), so a content sample never walks past ad rows. Sessions already
      stored that name a content session (``d_content_session_id``) are ad sessions: they move.
    - ``viewer_sessions``: one row per content session and lookup key (a 64-bit hash of ``v:`` + viewer
      id, or of ``i:`` + client address) per account and UTC day of its end (``viewers.py``); filled for the sessions
      already stored when the store opens (``viewer_sessions_backfill``), as the addresses are inside
      the compressed documents."""
    return [
        "ALTER TABLE accounts ADD COLUMN ad_insights INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE ad_sessions (
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
  is_exit_before_video_start INTEGER NOT NULL,
  is_video_start_failure INTEGER NOT NULL,
  is_video_start_failure_business INTEGER NOT NULL,
  is_video_start_failure_tech INTEGER NOT NULL,
  is_video_playback_failure INTEGER NOT NULL,
  is_video_playback_failure_business INTEGER NOT NULL,
  is_video_playback_failure_tech INTEGER NOT NULL,
  d_ad_creative_id TEXT NOT NULL,
  d_ad_id TEXT NOT NULL,
  d_ad_media_file_api_framework TEXT NOT NULL,
  d_ad_planned_duration TEXT NOT NULL,
  d_ad_position TEXT NOT NULL,
  d_ad_sequence TEXT NOT NULL,
  d_ad_system TEXT NOT NULL,
  d_ad_technology TEXT NOT NULL,
  d_app_version TEXT NOT NULL,
  d_asn TEXT NOT NULL,
  d_asset TEXT NOT NULL,
  d_browser_name TEXT NOT NULL,
  d_browser_version TEXT NOT NULL,
  d_cdn_edge_group TEXT NOT NULL,
  d_cdn_edge_server TEXT NOT NULL,
  d_content_category TEXT NOT NULL,
  d_content_meta_channel TEXT NOT NULL,
  d_content_meta_show_title TEXT NOT NULL,
  d_content_session_id TEXT NOT NULL,
  d_device_hardware_type TEXT NOT NULL,
  d_device_manufacturer TEXT NOT NULL,
  d_device_marketing_name TEXT NOT NULL,
  d_device_model TEXT NOT NULL,
  d_device_name TEXT NOT NULL,
  d_device_os TEXT NOT NULL,
  d_device_os_family TEXT NOT NULL,
  d_device_os_version TEXT NOT NULL,
  d_geo_city_name TEXT NOT NULL,
  d_geo_continent_name TEXT NOT NULL,
  d_geo_country_code TEXT NOT NULL,
  d_geo_country_name TEXT NOT NULL,
  d_geo_dma TEXT NOT NULL,
  d_geo_postal_code TEXT NOT NULL,
  d_geo_state_code TEXT NOT NULL,
  d_geo_state_name TEXT NOT NULL,
  d_isp TEXT NOT NULL,
  d_platform_version TEXT NOT NULL,
  d_player_framework_name TEXT NOT NULL,
  d_player_framework_version TEXT NOT NULL,
  d_player_name TEXT NOT NULL,
  d_stream_url TEXT NOT NULL,
  d_video_asset_name TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (account_id, end_bucket, sample_key, conviva_session_id)
) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX ad_sessions_by_conviva_id ON ad_sessions(account_id, conviva_session_id)",
        "CREATE INDEX ad_sessions_by_session_id ON ad_sessions(account_id, session_id, end_ms)",
        "INSERT INTO ad_sessions SELECT * FROM sessions WHERE d_content_session_id != ''",
        "DELETE FROM sessions WHERE d_content_session_id != ''",
        """CREATE TABLE viewer_sessions (
  account_id INTEGER NOT NULL,
  day INTEGER NOT NULL,
  lookup INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  sample_key INTEGER NOT NULL,
  PRIMARY KEY (account_id, day, lookup, end_ms, sample_key)
) WITHOUT ROWID""",
        "CREATE TABLE viewer_sessions_backfill (pending INTEGER NOT NULL)",
        "INSERT INTO viewer_sessions_backfill SELECT 1 WHERE EXISTS (SELECT 1 FROM sessions)",
    ]


def _v10() -> list[str]:
    """Aggregates (``aggregates.py``): the integer inputs of the metrics as columns of every session
    (``a_*``, from ``aggregates/inputs.py``), so that a sum never decompresses a document; and per-minute
    sums of the ended content sessions per account (``aggregate_minutes``), so that an unfiltered series
    over a month reads at most 44,640 small rows instead of the month's sessions. A file with sessions
    fills both when the store opens (``aggregate_backfill``): the inputs are inside the documents."""
    return [
        "ALTER TABLE sessions ADD COLUMN a_start_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_playing_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_rebuffering_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_cir_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_paused_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_bitrate_bps_s INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_bitrate_weight_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_framerate_fps_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_framerate_weight_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_complete_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_length_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_restart_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN a_restarts INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_start_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_playing_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_rebuffering_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_cir_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_paused_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_bitrate_bps_s INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_bitrate_weight_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_framerate_fps_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_framerate_weight_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_complete_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_length_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_restart_time_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ad_sessions ADD COLUMN a_restarts INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE aggregate_minutes (
  account_id INTEGER NOT NULL,
  minute INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  is_exit_before_video_start INTEGER NOT NULL,
  is_video_start_failure INTEGER NOT NULL,
  is_video_start_failure_business INTEGER NOT NULL,
  is_video_start_failure_tech INTEGER NOT NULL,
  is_video_playback_failure INTEGER NOT NULL,
  is_video_playback_failure_business INTEGER NOT NULL,
  is_video_playback_failure_tech INTEGER NOT NULL,
  a_start_time_ms INTEGER NOT NULL,
  a_playing_time_ms INTEGER NOT NULL,
  a_rebuffering_time_ms INTEGER NOT NULL,
  a_cir_time_ms INTEGER NOT NULL,
  a_paused_time_ms INTEGER NOT NULL,
  a_bitrate_bps_s INTEGER NOT NULL,
  a_bitrate_weight_ms INTEGER NOT NULL,
  a_framerate_fps_ms INTEGER NOT NULL,
  a_framerate_weight_ms INTEGER NOT NULL,
  a_complete_ms INTEGER NOT NULL,
  a_length_ms INTEGER NOT NULL,
  a_restart_time_ms INTEGER NOT NULL,
  a_restarts INTEGER NOT NULL,
  PRIMARY KEY (account_id, minute)
) WITHOUT ROWID""",
        "CREATE TABLE aggregate_backfill (pending INTEGER NOT NULL)",
        "INSERT INTO aggregate_backfill SELECT 1"
        " WHERE EXISTS (SELECT 1 FROM sessions) OR EXISTS (SELECT 1 FROM ad_sessions)",
    ]


def _v11() -> list[str]:
    """Session timelines (``sessions/timeline_codec.py``): beside each document its timeline, NULL for a
    session without one (imported, or stored before); the outbox carries it to another session store.
    In ``session_docs``, so a rewrite or the retention purge removes it with the document."""
    return [
        "ALTER TABLE session_docs ADD COLUMN timeline BLOB",
        "ALTER TABLE outbox ADD COLUMN timeline BLOB",
    ]


def _v12() -> list[str]:
    """The live log's event rows in commit order (``live_log.py``): a rowid table, so a round appends its
    rows to the table's last pages instead of splitting one random leaf per session (a session's rows are
    found through the unique index). Each row also carries its session's last-heard time and seen
    sequence numbers as of its round, so a round no longer rewrites every heard session's
    ``live_sessions`` row: about 4 WAL pages per heartbeat became about 2."""
    return [
        """CREATE TABLE live_events_v12 (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  body BLOB NOT NULL,
  last_heard_ms INTEGER,
  seqs BLOB
)""",
        "INSERT INTO live_events_v12 (account_id, client_id, session_id, seq, body)"
        " SELECT account_id, client_id, session_id, seq, body FROM live_events"
        " ORDER BY account_id, client_id, session_id, seq",
        "DROP TABLE live_events",
        "ALTER TABLE live_events_v12 RENAME TO live_events",
        "CREATE UNIQUE INDEX live_events_by_session ON live_events(account_id, client_id, session_id, seq)",
    ]


# Append only: a released migration is never edited, reordered or removed.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    tuple(_v1()),
    tuple(_v2()),
    tuple(_v3()),
    tuple(_v4()),
    tuple(_v5()),
    tuple(_v6()),
    tuple(_v7()),
    tuple(_v8()),
    tuple(_v9()),
    tuple(_v10()),
    tuple(_v11()),
    tuple(_v12()),
)
SCHEMA_VERSION = len(MIGRATIONS)

# The columns of ``sessions`` that are not a flag or a dimension, in the order the insert lists them.
_SESSION_BASE_COLUMNS: tuple[str, ...] = (
    "account_id",
    "end_bucket",
    "sample_key",
    "conviva_session_id",
    "doc_id",
    "start_ms",
    "end_ms",
    "is_ended",
    "session_id",
    "client_id",
    "cdn",
    "tags",
)


class SchemaTooNew(RuntimeError):
    pass


class SchemaDrift(RuntimeError):
    """The code and the file's schema disagree: the code changed without a migration."""


def session_columns() -> tuple[str, ...]:
    """Every column the session insert (``store.py``) fills, from today's flag and dimension tables."""
    return (*_SESSION_BASE_COLUMNS, *FLAG_PARAMS, *(d.column for d in SCALAR_DIMENSIONS), *FACT_COLUMNS)


SESSION_TABLES = ("sessions", "ad_sessions")  # content and ad sessions: one layout, one insert


def check_session_columns(conn: sqlite3.Connection) -> None:
    """Raise :class:`SchemaDrift` unless ``sessions`` and ``ad_sessions`` can take the session insert
    as the code writes it.

    Every column the insert fills must exist, and every other column must have a DEFAULT or allow
    NULL (the insert leaves it out). One ``PRAGMA table_info`` per table.
    """
    for name in SESSION_TABLES:
        _check_table_columns(conn, name)


def _check_table_columns(conn: sqlite3.Connection, name: str) -> None:
    table = {row[1]: row for row in conn.execute(f"PRAGMA table_info({name})")}
    expected = session_columns()
    missing = [c for c in expected if c not in table]
    if missing:
        raise SchemaDrift(
            f"the {name} table (schema version {SCHEMA_VERSION}) lacks column(s) {', '.join(missing)} that the"
            " session insert fills: a new flag or dimension needs a new migration that adds its column"
            " (with a DEFAULT)"
        )
    # table_info rows: cid, name, type, notnull, dflt_value, pk
    unfilled = [name for name, row in table.items() if name not in expected and row[3] and row[4] is None]
    if unfilled:
        raise SchemaDrift(
            f"the {name} table has NOT NULL column(s) {', '.join(unfilled)} without a DEFAULT that the session"
            " insert does not fill: a removed flag or dimension needs a new migration for its column"
        )


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the file's ``user_version``; return the final version.

    Then check that the schema fits the code (:func:`check_session_columns`).
    """
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(f"the database has schema version {current}; this Reelsight knows up to {SCHEMA_VERSION}")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with transaction(conn):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
    check_session_columns(conn)
    return SCHEMA_VERSION
