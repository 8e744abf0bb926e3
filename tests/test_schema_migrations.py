"""Schema history: a file made at any earlier version opens with today's code; code/schema drift is refused."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from reelsight import credentials
from reelsight.aggregates.inputs import FACT_COLUMNS
from reelsight.query.dimensions import SCALAR_DIMENSIONS, Dimension
from reelsight.query.parse import FLAG_PARAMS, SessionQuery
from reelsight.query.selection import selection
from reelsight.query.viewer import ViewerQuery
from reelsight.sessions.document import SELECTED_DIMENSION_KEYS
from reelsight.store.records import SessionRecord, encode_tags, to_record
from reelsight.store.sqlite import SqliteStore, schema, tag_keys, terms
from reelsight.store.sqlite import store as store_module
from reelsight.store.sqlite.live_log import SqliteLiveLog
from reelsight.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, SchemaDrift
from tests.conftest import NOW_MS
from tests.factories import REFERENCE, make_doc

WINDOW = SessionQuery(start_ms=NOW_MS - 3 * 3_600_000, end_ms=NOW_MS, limit=1500)
KEY_ID, SECRET_HASH = "rk_history", credentials.hash_secret("history-secret")
INGEST_KEY = "ik_history"
TAGS = {"tier": "gold", "exp": ""}
LIVE_KEY = (1, "9.9.9.9", "77")
# Every released migration's statements, hashed: history is never edited (append a migration instead).
RELEASED = (
    "ad91ecba3d0c5a84368a55acbf2d6cf491ea8dc23c4db4fe1b4b671eac125b8e",
    "27ea03a9e813fbb2502242fdbc2ceee429bfbd6bf2e0289cc3bacf9bd7858002",
    "fc1a8d8d0f45b6801b518accc7efac7cbb9d39e3bb5d43a167c1748bf544b247",
    "0a1a4abfbfee8214210a0a0a8196320706ab6e2279aa1d3ad269f9da3638efa5",
    "d850c5e53ae696f9a210e3d4a909c23247ed588e37a3e9836fc049f2beb54f65",
    "ddacd5d9e7fd57cd483ec2626601b6fe0ba05067546b013d836bffa49cc3b016",
    "e0ffe3b1e58cb86b34375efa9820ca891bf9fb3bd6e994d5b67b3571c7f681de",
    "79e5cda80b2e3891710ffd593232088c40d8e6fd7537effa67e5cba2842a9dd0",
    "8c7e75ef1fb04155a208ea0fa08d8d1fa552bcdd764161b5d37d11f76a75aadc",
    "88bddeb15b223ad78befb14cd48edafd6151694e70639278cb8cd5ea09ecdb51",
    "2950e993da0d3dc4e191431d2a5d8b2144cbf09b4d8de77722dc10434e1d6418",
    "c351a6086b5271d3622d2d61c5453d470d3fd2a85681cec4b6df6c17317a699d",
)


def _full_record(session_id: str = "1", end_ms: int = NOW_MS - 60_000) -> SessionRecord:
    """A content session with every dimension non-empty (but content_session_id: that would make it an
    ad session), a flag set, two CDNs and custom tags."""
    keys = [k for k in SELECTED_DIMENSION_KEYS if k != "content_session_id"]
    empty = {f"tags.selected_dimensions.{k}": f"sd-{k}" for k in keys}
    empty = {p: v for p, v in empty.items() if not REFERENCE["tags"]["selected_dimensions"][p.split(".")[-1]]}
    empty |= {"network_info.last_cdn_edge_server": "edge-7", "network_info.last_cdn_group_id": "group-3"}
    doc = make_doc(session_id=session_id, end_ms=end_ms, set_paths=empty, custom_tags=TAGS, cdn=["AKAMAI", "INHOUSE"])
    record = to_record(doc)
    assert sum(not value for value in record.dimensions) == 1
    assert not record.is_ad
    assert any(record.flags)
    assert record.viewer_id
    return record


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _insert(conn: sqlite3.Connection, table: str, values: dict[str, object]) -> None:
    """Insert the values for the columns the table has at this version (all of them must be given)."""
    columns = _columns(conn, table)
    assert set(columns) <= set(values), f"no test value for {set(columns) - set(values)} in {table}"
    conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",  # noqa: S608
        [values[c] for c in columns],
    )


def _file_at_version(path: str, version: int, record: SessionRecord) -> None:
    """A file as migrations 1..version left it, holding an account, a key, a session (and live rows at v2+)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for v in range(1, version + 1):
        for statement in MIGRATIONS[v - 1]:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {v}")
    assert conn.execute("PRAGMA user_version").fetchone() == (version,)
    if version >= 1:
        _insert(conn, "accounts", {
            "id": 1, "name": "acme", "viewer_module": 1, "business_error_patterns": '["biz.*"]',
            "ingest_key": INGEST_KEY, "created_ms": 123, "ip_privacy": "truncate", "ad_insights": 0,
        })  # fmt: skip
        _insert(conn, "api_keys", {
            "key_id": KEY_ID, "account_id": 1, "secret_hash": SECRET_HASH, "disabled": 0, "created_ms": 456,
        })  # fmt: skip
        _insert(conn, "session_docs", {
            "id": 7, "viewer_split": record.viewer_split, "viewer_id": record.viewer_id, "doc": record.doc,
            "dict_id": None, "timeline": None,
        })  # fmt: skip
        row: dict[str, object] = {
            "account_id": 1, "end_bucket": record.end_bucket, "sample_key": record.sample_key,
            "conviva_session_id": record.conviva_session_id, "doc_id": 7, "start_ms": record.start_ms,
            "end_ms": record.end_ms, "is_ended": int(record.is_ended), "session_id": record.session_id,
            "client_id": record.client_id, "cdn": msgspec.json.encode(list(record.cdns)).decode(),
            "tags": encode_tags(record.custom_tags),
        }  # fmt: skip
        row |= {name: int(flag) for name, flag in zip(FLAG_PARAMS, record.flags, strict=True)}
        row |= {d.column: value for d, value in zip(SCALAR_DIMENSIONS, record.dimensions, strict=True)}
        row |= {column: 0 for column in FACT_COLUMNS}  # v10's aggregate inputs (the open backfills them)
        _insert(conn, "sessions", row)
        if version >= 7:  # a session written at v7 came with its filter terms
            posted = terms.postings(record.end_bucket, record.sample_key, terms.record_terms(record))
            terms.Postings().add(conn, 1, posted)
        if version >= 8:  # and its tag keys
            tag_keys.note(conn, 1, record)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "session_tags" in tables:  # before v3 the tags lived in their own table
            assert "tags" not in _columns(conn, "sessions")
            conn.executemany("INSERT INTO session_tags VALUES (7, ?, ?)", record.custom_tags)
    if version >= 2:
        conn.execute(
            "INSERT INTO live_sessions (account_id, client_id, session_id, enrichment, last_heard_ms)"
            " VALUES (?, ?, ?, ?, ?)",
            (*LIVE_KEY, b'{"geo":"x"}', 999),
        )
        conn.executemany(
            "INSERT INTO live_events VALUES (?, ?, ?, ?, ?)", [(*LIVE_KEY, seq, b'{"seq":%d}' % seq) for seq in (1, 2)]
        )
    conn.close()


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_a_file_at_every_earlier_version_opens_with_the_current_code(db_path: str, version: int) -> None:
    record = _full_record()
    _file_at_version(db_path, version, record)
    store = SqliteStore(db_path, readers=1)
    try:
        if version == 0:  # an empty file: nothing to carry over, the same checks on data written now
            account = store.create_account(
                "acme", viewer_module=True, business_error_patterns=["biz.*"], ingest_key=INGEST_KEY,
                ip_privacy="truncate",
            )  # fmt: skip
            store.add_api_key(account.id, KEY_ID, SECRET_HASH)
            store.write_sessions(account.id, [record])
        account = store.get_account("acme")
        assert (account.viewer_module, account.business_error_patterns, account.ingest_key) == (
            True, ("biz.*",), INGEST_KEY,
        )  # fmt: skip
        assert account.ip_privacy == ("full" if version == 1 else "truncate")  # v2 added it with DEFAULT 'full'
        found = store.find_api_key(KEY_ID)
        assert found is not None
        assert (found[0].secret_hash, found[0].disabled, found[1]) == (SECRET_HASH, False, account)

        every_filter = SessionQuery(
            start_ms=WINDOW.start_ms,
            end_ms=WINDOW.end_ms,
            flags=tuple((name, (flag,)) for name, flag in zip(FLAG_PARAMS, record.flags, strict=True)),
            tags=(("tier", ("gold",)),),
            dimensions=(
                *((d.param, (v,)) for d, v in zip(SCALAR_DIMENSIONS, record.dimensions, strict=True)),
                ("cdn", ("AKAMAI",)),
            ),
        )
        (session,) = store.sample_sessions(account.id, selection(every_filter))
        assert (session.conviva_session_id, session.end_ms, session.doc) == (
            record.conviva_session_id, record.end_ms, record.doc,
        )  # fmt: skip
        assert (session.viewer_split, session.viewer_id) == (record.viewer_split, record.viewer_id)
        for tag in (("tier", ("silver",)), ("exp", ("x",)), ("other", ("gold",))):  # the filter is real
            assert (
                store.sample_sessions(account.id, selection(SessionQuery(WINDOW.start_ms, WINDOW.end_ms, tags=(tag,))))
                == []
            )
        assert store.tag_keys(account.id, 0, 100) == sorted(TAGS)  # v8 filled tag_keys from the stored tags
        with sqlite3.connect(db_path) as check:
            assert check.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
            assert check.execute("SELECT tags FROM sessions").fetchall() == [(encode_tags(record.custom_tags),)]

        newer = _full_record(session_id="2", end_ms=NOW_MS - 30_000)
        assert store.write_sessions(account.id, [newer]) == 1
        gold = SessionQuery(WINDOW.start_ms, WINDOW.end_ms, tags=(("tier", ("gold",)),))
        assert sorted(s.conviva_session_id for s in store.sample_sessions(account.id, selection(gold))) == sorted(
            [record.conviva_session_id, newer.conviva_session_id]
        )
        if version >= 2:  # the live log survives the later migrations
            (live,) = SqliteLiveLog(store).load()
            assert (live.key, live.enrichment, live.last_heard_ms) == (LIVE_KEY, b'{"geo":"x"}', 999)
            assert live.events == [b'{"seq":1}', b'{"seq":2}']
    finally:
        store.close()


def test_migration_9_moves_ad_sessions_and_backfills_the_viewer_lookup(db_path: str) -> None:
    record = _full_record()
    _file_at_version(db_path, 8, record)
    ad = to_record(
        make_doc(session_id="5", end_ms=NOW_MS - 90_000, set_paths={"tags.selected_dimensions.content_session_id": "1"})
    )
    with sqlite3.connect(db_path) as conn:  # an ad session stored before v9 knew them, as the content it was
        _insert(conn, "session_docs", {"id": 8, "viewer_split": ad.viewer_split, "viewer_id": ad.viewer_id,
                                       "doc": ad.doc, "dict_id": None})  # fmt: skip
        moved = conn.execute("SELECT * FROM sessions").fetchone()
        columns = _columns(conn, "sessions")
        values = dict(zip(columns, moved, strict=True)) | {
            "doc_id": 8, "conviva_session_id": ad.conviva_session_id, "session_id": "5", "sample_key": ad.sample_key,
            "d_content_session_id": "1",
        }  # fmt: skip
        _insert(conn, "sessions", values)
    store = SqliteStore(db_path, readers=1)
    try:
        window = selection(SessionQuery(WINDOW.start_ms, WINDOW.end_ms))
        assert [s.conviva_session_id for s in store.sample_sessions(1, window)] == [record.conviva_session_id]
        ads = selection(SessionQuery(WINDOW.start_ms, WINDOW.end_ms), "ad")
        assert [s.conviva_session_id for s in store.sample_sessions(1, ads)] == [ad.conviva_session_id]
        for kind, value in (("viewer_id", record.viewer_id), ("ip", "203.0.113.7")):
            found = store.viewer_sessions(1, ViewerQuery(kind, value, WINDOW.start_ms, WINDOW.end_ms))  # type: ignore[arg-type]
            assert [s.conviva_session_id for s in found] == [record.conviva_session_id]
    finally:
        store.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM viewer_sessions_backfill").fetchone() == (0,)


def test_the_drift_check_lists_exactly_what_the_session_insert_fills() -> None:
    assert schema.session_columns() == tuple(store_module._SESSION_COLUMNS.split(", "))


def test_a_file_whose_sessions_table_lacks_a_column_is_refused_at_open(db_path: str) -> None:
    SqliteStore(db_path, readers=1).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE sessions DROP COLUMN d_geo_dma")
    with pytest.raises(SchemaDrift, match=r"lacks column\(s\) d_geo_dma .*new migration"):
        SqliteStore(db_path, readers=1)


def test_a_dimension_or_flag_added_without_a_migration_is_refused_at_open(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    SqliteStore(db_path, readers=1).close()
    monkeypatch.setattr(schema, "SCALAR_DIMENSIONS", (*SCALAR_DIMENSIONS, Dimension("brand_new", "x", lambda d: "")))
    monkeypatch.setattr(schema, "FLAG_PARAMS", (*FLAG_PARAMS, "is_brand_new"))
    with pytest.raises(SchemaDrift, match=r"lacks column\(s\) is_brand_new, d_brand_new .*new migration"):
        SqliteStore(db_path, readers=1)
    with pytest.raises(SchemaDrift):  # a brand-new file too: migration 1 does not grow the column
        SqliteStore(str(Path(db_path).with_name("fresh.db")), readers=1)


def test_a_column_the_insert_no_longer_fills_is_refused_at_open(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    SqliteStore(db_path, readers=1).close()
    monkeypatch.setattr(schema, "SCALAR_DIMENSIONS", tuple(d for d in SCALAR_DIMENSIONS if d.param != "isp"))
    with pytest.raises(SchemaDrift, match=r"NOT NULL column\(s\) d_isp without a DEFAULT"):
        SqliteStore(db_path, readers=1)


_WITH_AN_EXTRA_DIMENSION_AND_FLAG = """
import json
import reelsight.query.dimensions as dimensions
dimensions.SCALAR_DIMENSIONS += (dimensions.Dimension("added_later", "x", lambda d: ""),)
import reelsight.query.parse as parse
parse.FLAG_PARAMS += ("is_added_later",)
from reelsight.store.sqlite import schema
print(json.dumps({"migrations": schema.MIGRATIONS, "checked": schema.session_columns()}))
"""


def test_the_migrations_do_not_follow_the_live_dimension_and_flag_tables() -> None:
    """Code that gained a dimension and a flag (before the schema module is imported) makes the same migrations."""
    out = subprocess.run(
        [sys.executable, "-c", _WITH_AN_EXTRA_DIMENSION_AND_FLAG], check=True, capture_output=True, text=True
    ).stdout
    there = json.loads(out)
    assert {"d_added_later", "is_added_later"} <= set(there["checked"])  # the extra rows did reach the module
    assert there["migrations"] == [list(m) for m in MIGRATIONS]


def test_released_migrations_are_never_edited() -> None:
    assert len(MIGRATIONS) >= len(RELEASED)
    for number, (statements, digest) in enumerate(zip(MIGRATIONS, RELEASED, strict=False), start=1):
        assert hashlib.sha256("\0".join(statements).encode()).hexdigest() == digest, (
            f"migration {number} was edited; migrations are history: add a new migration instead"
        )
