"""The SQLite store's filter terms (``store/sqlite/terms.py``): the postings plan returns exactly what the
bucket plan returns, across days where a value overflowed its cap and days where it did not; stale
postings of replaced sessions never show; the purge drops old days; files from before migration 7 are
backfilled."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator

import pytest

from reelsight.query.parse import SessionQuery
from reelsight.query.selection import Selection, selection
from reelsight.store.records import to_record
from reelsight.store.sqlite import SqliteStore, reader, terms
from tests.conftest import NOW_MS
from tests.factories import make_doc

DAY_MS = 86_400_000
CAP = 5  # terms.DAY_CAP in these tests: "Common" overflows on day 0 only


@pytest.fixture
def store(db_path: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
    monkeypatch.setattr(terms, "DAY_CAP", CAP)
    opened = SqliteStore(db_path, readers=1)
    try:
        yield opened
    finally:
        opened.close()


def _session(n: int, isp: str, day: int, build: str = "", account: str = "") -> tuple[str, object]:
    end_ms = NOW_MS - day * DAY_MS - 3_600_000 - n * 7_000
    tags = {"app_build": build} if build else {}
    client = f"1.2.{len(account)}.{n}"
    doc = make_doc(client, str(n), end_ms=end_ms, set_paths={"network_info.isp": isp}, custom_tags=tags)
    return doc.conviva_session_id, doc


def _write(store: SqliteStore, sessions: list[tuple[str, object]], account_id: int = 1) -> None:
    store.write_sessions(account_id, [to_record(doc) for _csid, doc in sessions])  # type: ignore[arg-type]


def _data() -> list[tuple[str, object]]:
    found = [_session(n, "Common", 0, build="1.0") for n in range(12)]  # over the cap on day 0
    found += [_session(100 + n, "Common", 1) for n in range(3)]  # under it on day 1
    found += [_session(200 + n, "Rare", d, build="2.0") for n, d in ((0, 0), (1, 1), (2, 2))]
    return found


def _ids(store: SqliteStore, query: Selection) -> list[str]:
    return [s.conviva_session_id for s in store.sample_sessions(1, query)]


def _both_plans(store: SqliteStore, monkeypatch: pytest.MonkeyPatch, query: Selection) -> tuple[list[str], bool]:
    """The sample with the postings plan allowed, whether it was used, and a check against the bucket plan."""
    used: list[bool] = []
    plan = reader._postings_plan

    def spy(*args: object) -> object:
        cursors = plan(*args)  # type: ignore[arg-type]
        used.append(cursors is not None)
        return cursors

    monkeypatch.setattr(reader, "_postings_plan", spy)
    with_postings = _ids(store, query)
    monkeypatch.setattr(reader, "_postings_plan", lambda *_args: None)
    assert with_postings == _ids(store, query), query
    monkeypatch.setattr(reader, "_postings_plan", plan)
    return with_postings, any(used)


def _query(days: int = 3, limit: int = 1500, **filters: tuple[str, ...]) -> Selection:
    dims = tuple((k, v) for k, v in filters.items() if k != "app_build")
    tags = (("app_build", filters["app_build"]),) if "app_build" in filters else ()
    return selection(SessionQuery(NOW_MS - days * DAY_MS, NOW_MS, limit=limit, dimensions=dims, tags=tags))


def test_the_postings_plan_returns_what_the_bucket_plan_returns(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, db_path: str
) -> None:
    _write(store, _data())
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        overflow = conn.execute("SELECT day, term FROM filter_term_overflow").fetchall()
    today = (NOW_MS - 3_600_000) // terms.DAY_BUCKETS // reader.BUCKET_MS
    assert (today, terms.term("d_isp", "Common")) in overflow
    assert (today, terms.term("tag:app_build", "1.0")) in overflow
    # filters, sessions in the three days, whether the postings plan serves the window of 3 days
    cases = [
        ({"isp": ("Rare",)}, 3, True),
        ({"isp": ("Common",)}, 15, False),  # overflowed on day 0: read by bucket
        ({"isp": ("Rare", "Common")}, 18, False),
        ({"isp": ("Nobody",)}, 0, True),
        ({"app_build": ("2.0",)}, 3, True),
        ({"app_build": ("2.0", "1.0")}, 15, False),
        ({"isp": ("Rare",), "app_build": ("2.0",)}, 3, True),
        ({"isp": ("Common",), "app_build": ("2.0",)}, 0, True),  # the build's postings serve it
        ({"isp": ("Common",), "device_os": ("Nothing",)}, 0, False),
    ]
    for (filters, expected, posted), days, limit in itertools.product(cases, (1, 2, 3), (1, 2, 50)):
        found, used = _both_plans(store, monkeypatch, _query(days, limit, **filters))
        assert len(found) <= limit
        if days == 3:
            assert used == posted, filters
            if limit == 50:
                assert len(found) == expected, filters
    # A window of day 1 and 2 only, where "Common" stayed under the cap: postings.
    day_1_2 = selection(SessionQuery(NOW_MS - 3 * DAY_MS, NOW_MS - DAY_MS - 3_600_000 - 100_000, limit=50,
                                     dimensions=(("isp", ("Common",)),)))  # fmt: skip
    found, used = _both_plans(store, monkeypatch, day_1_2)
    assert used
    assert len(found) == 3


def test_values_without_postings_use_the_bucket_plan(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(store, _data())
    for filters in ({"isp": ("",)}, {"app_build": ("",)}, {"device_os": ("Android",)}):
        _found, used = _both_plans(store, monkeypatch, _query(**filters))
        assert not used, filters
    monkeypatch.setattr(reader, "POSTINGS_MAX", 2)  # more candidates than that: the bucket plan
    _found, used = _both_plans(store, monkeypatch, _query(isp=("Rare",)))
    assert not used


def test_a_replaced_session_leaves_no_trace_under_its_old_value(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(store, [_session(1, "Rare", 1, build="2.0")])
    csid, moved = _session(1, "Other", 1, build="3.0")
    _write(store, [(csid, moved)])
    assert _both_plans(store, monkeypatch, _query(isp=("Rare",)))[0] == []
    assert _both_plans(store, monkeypatch, _query(app_build=("2.0",)))[0] == []
    assert _both_plans(store, monkeypatch, _query(isp=("Rare", "Other")))[0] == [csid]  # once, not twice
    assert _both_plans(store, monkeypatch, _query(app_build=("2.0", "3.0")))[0] == [csid]


def test_another_accounts_postings_never_match(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b"):
        store.create_account(name, viewer_module=False, business_error_patterns=(), ingest_key=f"ik-{name}-" + "x" * 20)
    _write(store, [_session(1, "Rare", 0, build="2.0", account="b")], account_id=2)
    assert _both_plans(store, monkeypatch, _query(isp=("Rare",)))[0] == []


def test_the_purge_drops_the_postings_of_expired_days(store: SqliteStore, db_path: str) -> None:
    _write(store, _data())
    store.purge_ended_before(NOW_MS - DAY_MS - 3_600_000 + 1)
    cutoff_day = (NOW_MS - DAY_MS - 3_600_000) // reader.BUCKET_MS // terms.DAY_BUCKETS
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        days = {d for (d,) in conn.execute("SELECT day FROM filter_terms UNION SELECT day FROM filter_term_overflow")}
    assert days
    assert min(days) >= cutoff_day


def test_a_file_from_before_migration_7_is_backfilled(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, db_path: str
) -> None:
    _write(store, _data())
    store.close()
    with contextlib.closing(sqlite3.connect(db_path)) as conn:  # as migration 7 finds a file with sessions
        conn.execute("DELETE FROM filter_terms")
        conn.execute("DELETE FROM filter_term_overflow")
        conn.execute("INSERT INTO filter_terms_backfill VALUES (1)")
        conn.commit()
    reopened = SqliteStore(db_path, readers=1)
    try:
        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            assert conn.execute("SELECT count(*) FROM filter_terms_backfill").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM filter_term_overflow").fetchone()[0] >= 2
        found, used = _both_plans(reopened, monkeypatch, _query(isp=("Rare",)))
        assert used
        assert len(found) == 3
    finally:
        reopened.close()


def test_the_postings_join_looks_sessions_up_by_primary_key(store: SqliteStore, db_path: str) -> None:
    """Without ``+t.end_bucket`` SQLite searched the whole window per posting (10 s on 2.3M sessions)."""
    _write(store, _data())
    statements: list[str] = []
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        conn.set_trace_callback(statements.append)
        query = _query(isp=("Rare",))
        where, params = reader.filter_sql(query)
        cursors = reader._postings_plan(conn, 1, query, where, params)
        assert cursors is not None
        list(cursors[0])
        join = next(s for s in statements if "JOIN sessions" in s)
        plan = " ".join(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + join))
    assert "end_bucket=? AND sample_key=?" in plan, plan
