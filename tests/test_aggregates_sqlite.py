"""SQLite only: the aggregate inputs and rollup of a file from before migration 10 are backfilled at open."""

from __future__ import annotations

import sqlite3

from reelsight.aggregates.inputs import FACT_COLUMNS, SUM_FIELDS
from reelsight.query.aggregates import parse_metrics_query
from reelsight.store.base import Store
from reelsight.store.sqlite import SqliteStore
from tests.conftest import NOW_MS, add_account
from tests.test_aggregates_api import T0, H, joined, put, window


def test_a_sqlite_file_from_before_migration_10_is_backfilled_at_open(store: Store, db_path: str) -> None:
    """The inputs are inside the documents of such a file: the store fills the columns and the rollup once."""
    creds = add_account(store, "old")
    put(store, creds, joined(T0 + 1, playing_ms=120_000), joined(T0 + H + 1, playing_ms=60_000))
    items = [("metric", "minutes-played"), ("metric", "attempts"), *((k, str(v)) for k, v in window().items())]
    query = parse_metrics_query(items, NOW_MS,
                                metric="custom-selection").aggregate  # fmt: skip
    before = sorted(store.aggregate(creds.account.id, query), key=lambda r: r.bucket)
    store.close()
    with sqlite3.connect(db_path) as conn:  # as migration 10 leaves an older file: zeros, no rollup, pending
        conn.execute("UPDATE sessions SET " + ", ".join(f"{c} = 0" for c in FACT_COLUMNS))  # noqa: S608
        conn.execute("DELETE FROM aggregate_minutes")
        conn.execute("INSERT INTO aggregate_backfill VALUES (1)")
    reopened = SqliteStore(db_path, readers=1)
    try:
        assert sorted(reopened.aggregate(creds.account.id, query), key=lambda r: r.bucket) == before
        assert before[0].sums[SUM_FIELDS.index("playing_time_ms")] == 120_000
    finally:
        reopened.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM aggregate_backfill").fetchone() == (0,)
        assert conn.execute("SELECT sum(attempts) FROM aggregate_minutes").fetchone() == (2,)
