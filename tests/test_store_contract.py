"""The session store contract, on every backend (SQLite, and ClickHouse through chDB): scoping,
replace-on-write, account isolation, retention, accounts and keys; byte-identical documents from both;
and the outbox that moves ended sessions from the live log to a store that is not its file."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import msgspec
import pytest

from reelsight.errors import AlreadyExists, BadStoreUrl, NotFoundInStore, StorageFailure, UnscopedRead
from reelsight.ingest.events import End, PlayerState, Start, StateChange
from reelsight.query.parse import SessionQuery
from reelsight.query.selection import selection
from reelsight.sessions.context import BusinessRules
from reelsight.sessions.live import IncomingBatch, LiveRegistry
from reelsight.store.base import Account, SessionStore, Store, StoredSession
from reelsight.store.clickhouse import schema as ch_schema
from reelsight.store.clickhouse.store import ClickHouseStore
from reelsight.store.records import SessionRecord, to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.store.sqlite.live_log import SqliteLiveLog
from reelsight.store.sqlite.outbox import Outbox
from reelsight.store.url import parse_store_url, redacted
from tests.conftest import NOW_MS, add_account, open_chdb_store
from tests.factories import make_doc
from tests.test_live_registry import ENRICHMENT

DAY = 86_400_000
WINDOW = selection(SessionQuery(start_ms=NOW_MS - 40 * DAY, end_ms=NOW_MS, limit=1500))


def _sample(store: SessionStore, account_id: int, **filters: object) -> list[StoredSession]:
    query = SessionQuery(start_ms=WINDOW.start_ms, end_ms=WINDOW.end_ms, limit=1500, **filters)  # type: ignore[arg-type]
    return store.sample_sessions(account_id, selection(query))


@pytest.mark.all_backends
@pytest.mark.parametrize("bad", [None, 0, -1, "1", 1.0, True, [1]])
def test_reads_not_scoped_to_one_account_are_refused(store: Store, bad: object) -> None:
    with pytest.raises(UnscopedRead):
        store.sample_sessions(bad, WINDOW)  # type: ignore[arg-type]
    with pytest.raises(UnscopedRead):
        store.write_sessions(bad, [])  # type: ignore[arg-type]


@pytest.mark.all_backends
def test_writing_a_session_again_replaces_it_whatever_changed(store: Store) -> None:
    acme = add_account(store, "acme").account
    store.write_sessions(acme.id, [to_record(make_doc(end_ms=NOW_MS - 5000, custom_tags={"a": "1"}))])
    moved = make_doc(end_ms=NOW_MS - 3 * DAY, custom_tags={"b": "2"})  # another end time, other tags
    store.write_sessions(acme.id, [to_record(moved)])
    (only,) = _sample(store, acme.id)
    assert (only.end_ms, only.doc) == (NOW_MS - 3 * DAY, to_record(moved).doc)
    assert _sample(store, acme.id, tags=(("a", ("1",)),)) == []  # the old version matches nothing
    assert len(_sample(store, acme.id, tags=(("b", ("2",)),))) == 1


@pytest.mark.all_backends
def test_the_same_id_in_two_accounts_is_two_sessions(store: Store) -> None:
    a, b = add_account(store, "a").account, add_account(store, "b").account
    store.write_sessions(a.id, [to_record(make_doc(end_ms=NOW_MS - 5000))])
    store.write_sessions(b.id, [to_record(make_doc(end_ms=NOW_MS - 7000))])
    assert [s.end_ms for s in _sample(store, a.id)] == [NOW_MS - 5000]
    assert [s.end_ms for s in _sample(store, b.id)] == [NOW_MS - 7000]


@pytest.mark.all_backends
def test_purge_removes_only_sessions_older_than_the_cutoff(store: Store) -> None:
    acme = add_account(store, "acme").account
    old = make_doc(session_id="1", end_ms=NOW_MS - 32 * DAY)
    kept = make_doc(session_id="2", end_ms=NOW_MS - 30 * DAY)
    store.write_sessions(acme.id, [to_record(old), to_record(kept)])
    assert store.purge_ended_before(NOW_MS - 31 * DAY) == 1
    assert [s.conviva_session_id for s in _sample(store, acme.id)] == [kept.conviva_session_id]
    assert store.purge_ended_before(NOW_MS - 31 * DAY) == 0


@pytest.mark.all_backends
def test_tag_keys_are_one_accounts_keys_of_sessions_ended_since(store: Store) -> None:
    a, b = add_account(store, "a").account, add_account(store, "b").account
    store.write_sessions(
        a.id,
        [
            to_record(make_doc(session_id="1", end_ms=NOW_MS - DAY, custom_tags={"b": "1", "a": ""})),
            to_record(make_doc(session_id="2", end_ms=NOW_MS - 10 * DAY, custom_tags={"c": "x"})),
            to_record(make_doc(session_id="3", end_ms=NOW_MS - 40 * DAY, custom_tags={"old": "x"})),
            to_record(make_doc(session_id="4", end_ms=NOW_MS - 2 * DAY, custom_tags={})),
        ],
    )
    store.write_sessions(b.id, [to_record(make_doc(end_ms=NOW_MS - DAY, custom_tags={"theirs": "1"}))])
    assert store.tag_keys(a.id, NOW_MS - 31 * DAY, 100) == ["a", "b", "c"]
    assert store.tag_keys(a.id, NOW_MS - 31 * DAY, 2) == ["a", "b"]
    assert store.tag_keys(a.id, NOW_MS - 10 * DAY, 100) == ["a", "b", "c"]  # since is inclusive
    assert store.tag_keys(a.id, NOW_MS - 10 * DAY + 1, 100) == ["a", "b"]
    assert store.tag_keys(a.id, 0, 100) == ["a", "b", "c", "old"]
    assert store.tag_keys(b.id, 0, 100) == ["theirs"]
    assert store.tag_keys(add_account(store, "empty").account.id, 0, 100) == []
    # a later session with a key moves it forward; the purge forgets keys only older sessions had
    store.write_sessions(a.id, [to_record(make_doc(session_id="5", end_ms=NOW_MS - DAY, custom_tags={"c": "y"}))])
    assert store.tag_keys(a.id, NOW_MS - 5 * DAY, 100) == ["a", "b", "c"]
    store.purge_ended_before(NOW_MS - 31 * DAY)
    assert store.tag_keys(a.id, 0, 100) == ["a", "b", "c"]
    assert store.tag_keys(b.id, 0, 100) == ["theirs"]


@pytest.mark.all_backends
@pytest.mark.parametrize("bad", [None, 0, -1, "1", True])
def test_tag_keys_not_scoped_to_one_account_are_refused(store: Store, bad: object) -> None:
    with pytest.raises(UnscopedRead):
        store.tag_keys(bad, 0, 10)  # type: ignore[arg-type]


@pytest.mark.all_backends
def test_accounts_and_keys(store: Store) -> None:
    creds = add_account(store, "acme", viewer_module=True)
    with pytest.raises(AlreadyExists):
        add_account(store, "acme")
    with pytest.raises(NotFoundInStore):
        store.get_account("nobody")
    with pytest.raises(NotFoundInStore):
        store.disable_api_key("rk_nope")
    account = creds.account
    assert store.get_account("acme") == store.get_account_by_id(account.id) == account
    assert store.find_account_by_ingest_key(account.ingest_key) == account
    assert store.find_account_by_ingest_key("ik_unknown") is None
    other = add_account(store, "other").account
    assert other.id != account.id
    assert [a.name for a in store.list_accounts()] == ["acme", "other"]
    found = store.find_api_key(creds.key_id)
    assert found is not None
    assert found[1] == account
    assert not found[0].disabled
    store.disable_api_key(creds.key_id)
    found = store.find_api_key(creds.key_id)
    assert found is not None
    assert found[0].disabled
    assert [k.key_id for k in store.list_api_keys(account.id)] == [creds.key_id]
    assert store.find_api_key("rk_nope") is None


@pytest.mark.all_backends
def test_a_lookup_by_session_id_or_client_id(store: Store) -> None:
    acme = add_account(store, "acme").account
    docs = [make_doc(client_id=f"1.2.3.{i % 3}", session_id=str(i), end_ms=NOW_MS - i * 60_000) for i in range(30)]
    store.write_sessions(acme.id, [to_record(d) for d in docs])
    (hit,) = _sample(store, acme.id, session_ids=("7",), client_ids=("1.2.3.1",))
    assert hit.conviva_session_id == "1.2.3.1.7"
    assert len(_sample(store, acme.id, client_ids=("1.2.3.2",))) == 10


def test_both_backends_answer_byte_identical_documents(tmp_path: Path, chdb_dir: str) -> None:
    sqlite = SqliteStore(str(tmp_path / "a.db"))
    clickhouse = open_chdb_store(chdb_dir)
    try:
        records = [
            to_record(make_doc(session_id=str(i), end_ms=NOW_MS - i * 3_600_000, custom_tags={"k": f"v{i % 4}"}))
            for i in range(200)
        ]
        answers = []
        for store in (sqlite, clickhouse):
            account = add_account(store, "acme").account
            assert store.write_sessions(account.id, records) == 200
            answers.append(
                [
                    _sample(store, account.id),
                    _sample(store, account.id, tags=(("k", ("v1", "")),)),
                    _sample(store, account.id, flags=(("is_exit_before_video_start", (True,)),)),
                ]
            )
        assert answers[0] == answers[1]
        assert len(answers[0][1]) == 50
    finally:
        sqlite.close()
        clickhouse.truncate()
        clickhouse.close()


# -- the outbox --------------------------------------------------------------------------------


class _FlakyStore:
    """A session store that fails once, before or after the real write (a crash between the log's
    end and the store's write, or between the write and marking it drained)."""

    def __init__(self, real: SessionStore, *, fail: str) -> None:
        self.real = real
        self.fail = fail

    def write_sessions(self, account_id: int, records: Iterable[SessionRecord]) -> int:
        if self.fail == "before":
            self.fail = ""
            raise StorageFailure("the store is down")
        written = self.real.write_sessions(account_id, records)
        if self.fail == "after":
            self.fail = ""
            raise StorageFailure("the node died after the write")
        return written

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def _end_one_session(log: SqliteLiveLog, account: Account) -> None:
    registry = LiveRegistry(log, lambda **_kw: ENRICHMENT, lambda _a: BusinessRules(()), timeout_ms=90_000)
    ids = {"client_id": "9.9.9.9", "session_id": "42"}
    t0 = NOW_MS - 60_000
    events = [
        Start(**ids, seq=0, t_ms=t0),
        StateChange(**ids, seq=1, t_ms=t0 + 1000, state=PlayerState.PLAYING),
        End(**ids, seq=2, t_ms=t0 + 30_000),
    ]
    registry.process([IncomingBatch(account, NOW_MS, "", "", list(enumerate(events)))], NOW_MS)
    assert registry.sessions == {}


@pytest.mark.parametrize("fail", ["before", "after"])
def test_the_outbox_loses_nothing_and_duplicates_nothing(tmp_path: Path, chdb_dir: str, fail: str) -> None:
    clickhouse = open_chdb_store(chdb_dir)
    local = SqliteStore(str(tmp_path / "live.db"))
    try:
        account = add_account(clickhouse, "acme").account
        flaky = _FlakyStore(clickhouse, fail=fail)
        log = SqliteLiveLog(local, Outbox(local, flaky))  # type: ignore[arg-type]
        _end_one_session(log, account)
        assert log.is_ended(account.id, "9.9.9.9.42")  # a late report is late, before and after draining
        assert log.outbox is not None
        with pytest.raises(StorageFailure):
            log.outbox.drain(NOW_MS)
        assert log.outbox.waiting() == 1  # still there: the next drain (or the next start) sends it
        restarted = Outbox(local, clickhouse)  # as after a restart of the node
        assert restarted.drain(NOW_MS) == 1
        assert restarted.drain(NOW_MS) == 0
        (stored,) = _sample(clickhouse, account.id)
        assert stored.conviva_session_id == "9.9.9.9.42"
        doc = msgspec.json.decode(stored.doc)
        assert doc["status_info"]["ended_status"] == "By Player"
        assert log.is_ended(account.id, "9.9.9.9.42")
        assert restarted.drain(NOW_MS + 3 * DAY) == 0  # the drained key is forgotten after two days
        assert not log.is_ended(account.id, "9.9.9.9.42")
    finally:
        local.close()
        clickhouse.truncate()
        clickhouse.close()


# -- ClickHouse schema and store URLs ------------------------------------------------------------


def test_every_dimension_and_flag_has_a_clickhouse_column() -> None:
    assert ch_schema.missing_session_columns() == []


def test_a_clickhouse_database_reopens_and_a_newer_schema_is_refused(chdb_dir: str) -> None:
    first = open_chdb_store(chdb_dir)
    try:
        add_account(first, "acme")
        again = ClickHouseStore(first._client, describe="again")  # migrations already applied: a no-op
        assert [a.name for a in again.list_accounts()] == ["acme"]
        first._client.insert("schema_migrations", [[ch_schema.SCHEMA_VERSION + 1, 0]], ["version", "applied_ms"])
        with pytest.raises(StorageFailure, match="newer than this Reelsight"):
            ClickHouseStore(first._client, describe="newer")
    finally:
        first.truncate()
        first._client.command("TRUNCATE TABLE schema_migrations")
        first.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/lib/reelsight.db", {"scheme": "sqlite", "path": "/var/lib/reelsight.db"}),
        ("sqlite:relative.db", {"scheme": "sqlite", "path": "relative.db"}),
        ("chdb:///srv/ch", {"scheme": "chdb", "path": "/srv/ch", "database": "reelsight"}),
        ("chdb:///srv/ch?database=qoe", {"scheme": "chdb", "path": "/srv/ch", "database": "qoe"}),
        (
            "clickhouse://rs:p%40ss@ch.example:8123/qoe",
            {"scheme": "http", "host": "ch.example", "port": 8123, "username": "rs", "password": "p@ss"},
        ),
        ("clickhouses://ch.example/qoe", {"scheme": "https", "port": 8443, "database": "qoe"}),
        ("clickhouse://ch.example/qoe?cluster=reelsight", {"database": "qoe", "cluster": "reelsight"}),
    ],
)
def test_store_urls(url: str, expected: dict[str, object]) -> None:
    parsed = dataclasses.asdict(parse_store_url(url))
    assert {k: parsed[k] for k in expected} == expected


@pytest.mark.parametrize(
    "url", ["postgres://x/y", "sqlite://", "chdb://", "clickhouse:///db", "chdb:///x?database=a-b", "clickhouse://h:x/"]
)
def test_bad_store_urls_are_refused_without_their_password(url: str) -> None:
    with pytest.raises(BadStoreUrl):
        parse_store_url(url)


def test_a_password_never_appears_in_messages() -> None:
    url = "clickhouse://rs:s3cret@ch.example:8123/qoe"
    assert "s3cret" not in redacted(url)
    assert "s3cret" not in repr(parse_store_url(url))
    with pytest.raises(BadStoreUrl) as caught:
        parse_store_url("clickhouse://rs:s3cret@ch.example:port/qoe")
    assert "s3cret" not in str(caught.value)


def test_the_cluster_ddl_parses_and_replicates_every_table(shared_chdb_store: ClickHouseStore) -> None:
    """No cluster runs here: the real engine parses each statement (EXPLAIN AST), and the layout is
    checked: every table replicated, sessions sharded by the session's identity behind a Distributed."""
    statements = ch_schema.cluster_ddl("reelsight", "qoe")
    for statement in statements:
        shared_chdb_store._client.query(f"EXPLAIN AST {statement}")
    tables = [s for s in statements if s.startswith("CREATE TABLE")]
    assert all("ON CLUSTER reelsight" in s for s in statements if not s.startswith("INSERT"))
    replicated = [s for s in tables if "ReplicatedReplacingMergeTree" in s]
    # accounts, api_keys, schema_migrations, tag_keys, zstd_dicts; and the sharded sessions, ad_sessions,
    # viewer_sessions, session_docs, session_ids, session_facts and session_ends
    distributed = [s for s in tables if "Distributed(" in s]
    assert len(replicated) == len(tables) - len(distributed) == 12
    views = [s for s in statements if s.startswith("CREATE MATERIALIZED VIEW")]
    assert [v.split(" AS\n")[0] for v in views] == [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS qoe.{t}_copy ON CLUSTER reelsight TO qoe.{t}_local"
        for t in ("session_facts", "session_ends")
    ]
    assert all(v.endswith(" FROM qoe.sessions_local") for v in views)  # each shard copies its own inserts
    (tag_keys,) = [s for s in tables if "qoe.tag_keys " in s]
    assert "/clickhouse/tables/all/{database}/tag_keys" in tag_keys  # small: a full copy on every node
    (dicts,) = [s for s in tables if "qoe.zstd_dicts " in s]
    assert "/clickhouse/tables/all/{database}/zstd_dicts" in dicts  # every node reads every document
    (docs,) = [s for s in tables if s.startswith("CREATE TABLE IF NOT EXISTS qoe.session_docs_local")]
    assert "ORDER BY (account_id, is_ad, end_bucket, sample_key, conviva_session_id)" in docs
    assert "index_granularity = 32" in docs
    # v6's copies run on an upgraded cluster too (through the Distributed tables); on a new one they copy
    # nothing; migration 8's repetition of them (a single server's repair) is not a second copy here
    backfills = [
        s for s in statements if s.startswith(("INSERT INTO qoe.session_docs ", "INSERT INTO qoe.session_ids "))
    ]
    assert len(backfills) == 4
    v7_copies = ("INSERT INTO qoe.session_facts ", "INSERT INTO qoe.session_ends ")
    copies = [s for s in statements if s.startswith(v7_copies)]
    assert len(copies) == 2
    assert all(" FROM qoe.sessions FINAL" in s for s in copies)  # v7's copies, likewise
    assert all(" FROM qoe.sessions FINAL" in s or " FROM qoe.ad_sessions FINAL" in s for s in backfills)
    for table in ch_schema.SHARDED:
        (front,) = [s for s in distributed if f"qoe.{table} ON" in s]
        assert f"Distributed(reelsight, qoe, {table}_local, sipHash64(account_id, conviva_session_id))" in front
        (local,) = [s for s in tables if s.startswith(f"CREATE TABLE IF NOT EXISTS qoe.{table}_local")]
        assert f"/clickhouse/tables/{{shard}}/{{database}}/{table}" in local
    (local,) = [s for s in tables if s.startswith("CREATE TABLE IF NOT EXISTS qoe.sessions_local")]
    assert "ORDER BY (account_id, sample_key, conviva_session_id)" in local
    assert not any(s.startswith("INSERT INTO qoe.viewer_sessions") for s in statements)  # a new cluster has no rows
    versions = ", ".join(f"({v}, 0)" for v in range(1, len(ch_schema.MIGRATIONS) + 1))
    assert statements[-1] == f"INSERT INTO qoe.schema_migrations (version, applied_ms) VALUES {versions}"  # noqa: S608


def test_a_cluster_node_refuses_a_database_the_ddl_did_not_create(chdb_dir: str) -> None:
    first = open_chdb_store(chdb_dir)
    try:
        first._client.command("TRUNCATE TABLE schema_migrations")
        with pytest.raises(StorageFailure, match="cluster-ddl --cluster reelsight"):
            ClickHouseStore(first._client, describe="node", cluster="reelsight")
    finally:
        first.close()


def test_the_retention_ttl_is_set_and_changed_only_when_it_differs(chdb_dir: str) -> None:
    first = open_chdb_store(chdb_dir)  # retention 3650 days (see open_chdb_store)

    def ttl() -> str:
        ((query,),) = first._client.query(
            "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'sessions'"
        ).result_rows
        return str(query)

    try:
        assert "intDiv(end_ms, 1000) + 315360000, 4294967295" in ttl()  # 3650 days, clamped
        ClickHouseStore(first._client, describe="same", retention_days=3650)
        assert "intDiv(end_ms, 1000) + 315360000, 4294967295" in ttl()
        ClickHouseStore(first._client, describe="shorter", retention_days=45)
        assert "intDiv(end_ms, 1000) + 3888000, 4294967295" in ttl()
    finally:
        first.close()


def test_a_century_of_retention_keeps_sessions_instead_of_wrapping_past_2106(chdb_dir: str) -> None:
    """``retention_days`` 36,500 once made a TTL past DateTime's end (2106), which wrapped to 1970 and
    expired every row at the next merge. The expiry is clamped now; a short retention still expires."""
    store = open_chdb_store(chdb_dir)
    try:
        import time

        now = time.time_ns() // 1_000_000  # the TTL runs on the real clock
        acme = add_account(store, "acme").account
        ClickHouseStore(store._client, describe="century", retention_days=36_500)
        store.write_sessions(acme.id, [to_record(make_doc(session_id="1", end_ms=now - 60_000))])
        store._client.command("OPTIMIZE TABLE sessions FINAL")  # merges apply the TTL
        assert store._client.query("SELECT count() FROM sessions").result_rows == [(1,)]
        ClickHouseStore(store._client, describe="one day", retention_days=1)
        store.write_sessions(acme.id, [to_record(make_doc(session_id="2", end_ms=now - 3 * DAY))])
        store._client.command("OPTIMIZE TABLE sessions FINAL")
        assert store._client.query("SELECT session_id FROM sessions").result_rows == [("1",)]
    finally:
        store.close()


def _ad(session_id: str, content_session_id: str, end_ms: int, **kwargs: object) -> SessionRecord:
    paths = {"tags.selected_dimensions.content_session_id": content_session_id, "tags.selected_dimensions.ad_id": "a1"}
    return to_record(make_doc(session_id=session_id, end_ms=end_ms, set_paths=paths, **kwargs))  # type: ignore[arg-type]


@pytest.mark.all_backends
def test_ad_sessions_are_stored_and_sampled_apart_from_content_sessions(store: Store) -> None:
    acme, other = add_account(store, "acme").account, add_account(store, "other").account
    content = to_record(make_doc(session_id="1", end_ms=NOW_MS - 60_000))
    ads = [_ad("1001", "1", NOW_MS - 100_000), _ad("1002", "1", NOW_MS - 90_000)]
    store.write_sessions(acme.id, [content, *ads])
    store.write_sessions(other.id, [_ad("1003", "9", NOW_MS - 80_000)])
    assert [s.conviva_session_id for s in _sample(store, acme.id)] == ["1.2.3.4.1"]
    ad_window = dataclasses.replace(WINDOW, kind="ad")
    assert [s.conviva_session_id for s in store.sample_sessions(acme.id, ad_window)] == ["1.2.3.4.1002", "1.2.3.4.1001"]
    assert [s.conviva_session_id for s in store.sample_sessions(other.id, ad_window)] == ["1.2.3.4.1003"]
    # filters and ids work on ad sessions as on content
    by_id = selection(SessionQuery(WINDOW.start_ms, WINDOW.end_ms, session_ids=("1001",)), "ad")
    assert [s.conviva_session_id for s in store.sample_sessions(acme.id, by_id)] == ["1.2.3.4.1001"]
    by_dim = selection(SessionQuery(WINDOW.start_ms, WINDOW.end_ms, dimensions=(("ad_id", ("a1",)),)), "ad")
    assert len(store.sample_sessions(acme.id, by_dim)) == 2
    assert _sample(store, acme.id, dimensions=(("ad_id", ("a1",)),)) == []
    # rewriting an ad session replaces it; the purge removes old ad sessions too
    store.write_sessions(acme.id, [_ad("1001", "1", NOW_MS - 35 * DAY)])
    assert store.purge_ended_before(NOW_MS - 31 * DAY) == 1
    assert [s.conviva_session_id for s in store.sample_sessions(acme.id, ad_window)] == ["1.2.3.4.1002"]


def _viewer(store: SessionStore, account_id: int, kind: str, value: str, **window: int) -> list[str]:
    from reelsight.query.viewer import ViewerQuery

    query = ViewerQuery(
        kind,  # type: ignore[arg-type]
        value,
        window.get("start_ms", NOW_MS - 31 * DAY),
        window.get("end_ms", NOW_MS),
        window.get("limit", 50),
    )
    return [s.conviva_session_id for s in store.viewer_sessions(account_id, query)]


@pytest.mark.all_backends
def test_a_viewers_sessions_by_viewer_id_or_address_newest_first(store: Store) -> None:
    acme, other = add_account(store, "acme").account, add_account(store, "other").account
    v6 = "2001:db8::7"

    def doc(
        sid: str, days_ago: float, viewer: str | None, ip: str, ipv6: str = "", ended: bool = True
    ) -> SessionRecord:
        paths: dict[str, object] = {"network_info.ip": ip, "network_info.ipv6": ipv6}
        if not ended:
            paths |= {"status_info.is_ended": False, "status_info.ended_status": ""}
        return to_record(
            make_doc(
                client_id="9.9.9.9",
                session_id=sid,
                end_ms=NOW_MS - int(days_ago * DAY),
                viewer_id=viewer,
                set_paths=paths,
            )
        )

    store.write_sessions(
        acme.id,
        [
            doc("1", 0.1, "alice", "203.0.113.7"),
            doc("2", 3, "alice", "198.51.100.1", "2001:0db8:0000::7"),  # stored non-canonical: found canonical
            doc("3", 20, "alice", "203.0.113.7"),
            doc("4", 1, "bob", "203.0.113.7"),
            doc("5", 33, "alice", "203.0.113.7"),  # outside the 31 days
            doc("6", 2, None, "192.0.2.9"),
        ],
    )
    store.write_sessions(acme.id, [_ad("7", "1", NOW_MS - 60_000, viewer_id="alice")])  # ads are not content history
    store.write_sessions(other.id, [doc("8", 0.5, "alice", "203.0.113.7")])
    assert _viewer(store, acme.id, "viewer_id", "alice") == ["9.9.9.9.1", "9.9.9.9.2", "9.9.9.9.3"]
    assert _viewer(store, acme.id, "viewer_id", "alice", limit=2) == ["9.9.9.9.1", "9.9.9.9.2"]
    assert _viewer(store, acme.id, "viewer_id", "alice", start_ms=NOW_MS - 10 * DAY) == ["9.9.9.9.1", "9.9.9.9.2"]
    assert _viewer(store, acme.id, "ip", "203.0.113.7") == ["9.9.9.9.1", "9.9.9.9.4", "9.9.9.9.3"]
    assert _viewer(store, acme.id, "ip", v6) == ["9.9.9.9.2"]
    assert _viewer(store, acme.id, "ip", "192.0.2.9") == ["9.9.9.9.6"]
    assert _viewer(store, acme.id, "viewer_id", "nobody") == []
    assert _viewer(store, other.id, "viewer_id", "alice") == ["9.9.9.9.8"]
    assert _viewer(store, add_account(store, "empty").account.id, "ip", "203.0.113.7") == []
    # a session rewritten with another viewer and address leaves its old lookups behind
    store.write_sessions(acme.id, [doc("3", 21, "carol", "192.0.2.1")])
    assert _viewer(store, acme.id, "viewer_id", "alice") == ["9.9.9.9.1", "9.9.9.9.2"]
    assert _viewer(store, acme.id, "viewer_id", "carol") == ["9.9.9.9.3"]
    assert _viewer(store, acme.id, "ip", "203.0.113.7") == ["9.9.9.9.1", "9.9.9.9.4"]
    store.write_sessions(acme.id, [doc("4", 1, "dave", "192.0.2.2")])  # the same end, another viewer and address
    assert _viewer(store, acme.id, "ip", "203.0.113.7") == ["9.9.9.9.1"]
    assert _viewer(store, acme.id, "viewer_id", "bob") == []
    assert _viewer(store, acme.id, "ip", "192.0.2.2") == _viewer(store, acme.id, "viewer_id", "dave") == ["9.9.9.9.4"]
    store.write_sessions(acme.id, [doc("2", 3, "alice", "198.51.100.1", ended=False)])  # no longer ended: not listed
    assert _viewer(store, acme.id, "viewer_id", "alice") == ["9.9.9.9.1"]
    # rewritten to end earlier, before the cut-off: the purge takes it whole (its older, later-ending version too)
    store.write_sessions(acme.id, [doc("9", 0.2, "alice", "203.0.113.7")])
    store.write_sessions(acme.id, [doc("9", 0.7, "alice", "203.0.113.7")])
    assert _viewer(store, acme.id, "viewer_id", "alice") == ["9.9.9.9.1", "9.9.9.9.9"]
    store.purge_ended_before(NOW_MS - DAY // 2)
    assert _viewer(store, acme.id, "viewer_id", "alice") == ["9.9.9.9.1"]


@pytest.mark.all_backends
@pytest.mark.parametrize("bad", [None, 0, -1, "1", True])
def test_viewer_lookups_not_scoped_to_one_account_are_refused(store: Store, bad: object) -> None:
    from reelsight.query.viewer import ViewerQuery

    with pytest.raises(UnscopedRead):
        store.viewer_sessions(bad, ViewerQuery("viewer_id", "alice", 0, NOW_MS))  # type: ignore[arg-type]


@pytest.mark.all_backends
def test_the_ad_insights_permission_is_stored(store: Store) -> None:
    with_ads = add_account(store, "ads", ad_insights=True).account
    assert with_ads.ad_insights
    assert store.get_account("ads").ad_insights
    assert not add_account(store, "plain").account.ad_insights


@pytest.mark.all_backends
def test_permissions_are_granted_and_revoked(store: Store) -> None:
    account = add_account(store, "acme").account
    granted = store.set_permissions(account.id, ad_insights=True)
    assert (granted.viewer_module, granted.ad_insights) == (False, True)
    both = store.set_permissions(account.id, viewer_module=True)
    assert (both.viewer_module, both.ad_insights) == (True, True)
    assert store.get_account("acme") == both
    revoked = store.set_permissions(account.id, viewer_module=False, ad_insights=False)
    assert (revoked.viewer_module, revoked.ad_insights, revoked.ingest_key) == (False, False, account.ingest_key)
    with pytest.raises(NotFoundInStore):
        store.set_permissions(account.id + 99, ad_insights=True)
