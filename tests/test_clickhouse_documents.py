"""The ClickHouse store's documents compressed one by one (``store/clickhouse/documents.py``, schema 10):
byte-identical round trips through every read path, documents stored before the dictionary, a second
node that reads and adopts the first one's dictionary, a failed training, damaged rows and a missing
dictionary, a database from before migration 10, and a cluster writer (on the one-node cluster, and
against a lagging second replica that only a stand-in can play here)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
import zstandard

from reelsight.errors import StorageFailure
from reelsight.generate.sessions import generate_sessions
from reelsight.query.parse import SessionQuery
from reelsight.query.selection import selection
from reelsight.query.viewer import ViewerQuery
from reelsight.store import zstd_docs
from reelsight.store.clickhouse import documents as ch_documents
from reelsight.store.clickhouse import schema as ch_schema
from reelsight.store.clickhouse.documents import RAW
from reelsight.store.clickhouse.store import ClickHouseStore
from reelsight.store.records import SessionRecord, to_record
from reelsight.store.url import StoreUrl, open_clickhouse
from reelsight.store.zstd_docs import TRAIN_AFTER_DOCS
from tests.conftest import CLUSTER, NOW_MS, add_account, open_chdb_store
from tests.test_clickhouse_cluster import RETENTION_DAYS, _client, cluster_database  # noqa: F401 - a fixture

HOUR_MS = 3_600_000


def _records(n: int, seed: int = 1) -> list[SessionRecord]:
    return [to_record(d) for d in generate_sessions(n, seed=seed, end_ms=NOW_MS, span_ms=3 * HOUR_MS, ads=0.0)]


def _documents(store: ClickHouseStore, account_id: int) -> dict[str, bytes]:
    """Every document of the last three hours through the sample (in half-hour windows, each < 1,500)."""
    found: dict[str, bytes] = {}
    for start in range(NOW_MS - 3 * HOUR_MS, NOW_MS, HOUR_MS // 2):
        query = SessionQuery(start_ms=start, end_ms=start + HOUR_MS // 2, limit=1500)
        sessions = store.sample_sessions(account_id, selection(query))
        assert len(sessions) < 1500
        found |= {s.conviva_session_id: s.doc for s in sessions}
    return found


def _stored(store: ClickHouseStore) -> list[tuple[str, int, int]]:
    """(conviva id, dict_id, stored bytes) of every ``session_docs`` row."""
    rows = store._client.query("SELECT conviva_session_id, dict_id, length(doc) FROM session_docs").result_rows
    return [(str(c), int(d), int(n)) for c, d, n in rows]


@pytest.fixture
def ch(chdb_dir: str) -> Iterator[ClickHouseStore]:
    store = open_chdb_store(chdb_dir)
    yield store
    store.close()


def test_documents_are_compressed_once_enough_are_stored_and_read_back_byte_identical(ch: ClickHouseStore) -> None:
    account = add_account(ch, "acme").account
    first, later = _records(TRAIN_AFTER_DOCS - 500, seed=1), _records(1000, seed=2)
    ch.write_sessions(account.id, first)
    assert {d for _c, d, _n in _stored(ch)} == {RAW}  # too few to train on: stored as they are
    ch.write_sessions(account.id, later)  # enough now: trained on these and on stored ones
    stored = {c: (d, n) for c, d, n in _stored(ch)}
    ((dict_id,),) = ch._client.query("SELECT id FROM zstd_dicts").result_rows
    assert {stored[r.conviva_session_id][0] for r in first} == {RAW}
    assert {stored[r.conviva_session_id][0] for r in later} == {dict_id}
    assert sum(stored[r.conviva_session_id][1] for r in later) < 0.15 * sum(len(r.doc) for r in later)
    expected = {r.conviva_session_id: r.doc for r in [*first, *later]}
    assert _documents(ch, account.id) == expected
    # The other read paths: a session's timeline and a viewer's sessions.
    for r in (first[0], later[0], later[-1]):
        timeline = ch.session_timeline(account.id, "content", r.conviva_session_id)
        assert timeline is not None
        assert timeline.doc == r.doc
        if r.viewer_id:
            by_viewer = ch.viewer_sessions(
                account.id, ViewerQuery("viewer_id", r.viewer_id, NOW_MS - 4 * HOUR_MS, NOW_MS, 1000)
            )
            assert r.doc in [s.doc for s in by_viewer]
    # A rewrite replaces the compressed document.
    changed = later[1].doc.replace(b'"session_id"', b'"session_id" ', 1)
    ch.write_sessions(account.id, [dataclasses.replace(later[1], doc=changed)])
    assert _documents(ch, account.id)[later[1].conviva_session_id] == changed


def test_another_node_reads_the_dictionary_and_adopts_it(chdb_dir: str, ch: ClickHouseStore) -> None:
    account = add_account(ch, "acme").account
    records = _records(TRAIN_AFTER_DOCS + 100)
    ch.write_sessions(account.id, records)  # one write of 2,000 or more: it trains on its own documents first
    assert RAW not in {d for _c, d, _n in _stored(ch)}
    other = ClickHouseStore(
        _client(chdb_dir, ch._client.database), describe="another node", retention_days=RETENTION_DAYS
    )
    try:
        assert _documents(other, account.id) == {r.conviva_session_id: r.doc for r in records}
        more = _records(50, seed=3)
        other.write_sessions(account.id, more)  # adopts the stored dictionary: no second one
        assert len(ch._client.query("SELECT id FROM zstd_dicts").result_rows) == 1
        assert RAW not in {d for c, d, _n in _stored(ch) if c in {r.conviva_session_id for r in more}}
        assert _documents(ch, account.id) == {r.conviva_session_id: r.doc for r in [*records, *more]}
    finally:
        other.close()


def test_a_failed_training_stores_documents_as_they_are_and_is_tried_again(
    ch: ClickHouseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = add_account(ch, "acme").account
    real = zstandard.train_dictionary

    def refuse(*args: object, **kwargs: object) -> object:
        raise zstandard.ZstdError("cannot train dict")

    monkeypatch.setattr(zstd_docs.zstandard, "train_dictionary", refuse)
    first = _records(TRAIN_AFTER_DOCS + 10)
    ch.write_sessions(account.id, first)
    assert {d for _c, d, _n in _stored(ch)} == {RAW}
    monkeypatch.setattr(zstd_docs.zstandard, "train_dictionary", real)
    later = _records(TRAIN_AFTER_DOCS + 10, seed=2)
    ch.write_sessions(account.id, later)
    assert RAW not in {d for c, d, _n in _stored(ch) if c in {r.conviva_session_id for r in later}}
    assert _documents(ch, account.id) == {r.conviva_session_id: r.doc for r in [*first, *later]}


def test_a_damaged_document_or_a_missing_dictionary_is_a_storage_failure(ch: ClickHouseStore) -> None:
    account = add_account(ch, "acme").account
    records = _records(TRAIN_AFTER_DOCS + 10)
    ch.write_sessions(account.id, records)
    victim = records[0].conviva_session_id
    ch._client.command(
        "ALTER TABLE session_docs UPDATE doc = concat(substring(doc, 1, 20), 'garbage')"
        " WHERE conviva_session_id = {c:String}",
        parameters={"c": victim},
        settings={"mutations_sync": 2},
    )
    with pytest.raises(StorageFailure, match=f"document of session {victim} is damaged"):
        _documents(ch, account.id)
    ch._client.command("TRUNCATE TABLE zstd_dicts")
    fresh = ClickHouseStore(ch._client, describe="fresh reader", retention_days=RETENTION_DAYS)  # no cached dictionary
    with pytest.raises(StorageFailure, match=r"zstd dictionary \d+ is missing"):
        fresh.session_timeline(account.id, "content", records[-1].conviva_session_id)


def test_a_version_9_database_reads_its_documents_and_compresses_new_ones(chdb_dir: str) -> None:
    url = StoreUrl("chdb", path=chdb_dir, database="t" + uuid.uuid4().hex[:16])
    current = open_clickhouse(url, read_timeout_s=10, retention_days=RETENTION_DAYS)
    assert isinstance(current, ClickHouseStore)
    client = current._client
    try:
        client.command("ALTER TABLE session_docs DROP COLUMN dict_id")  # back to version 9
        client.command("DROP TABLE zstd_dicts")
        client.command("TRUNCATE TABLE schema_migrations")
        client.insert("schema_migrations", [[v, 0] for v in range(1, 10)], ["version", "applied_ms"])
        account = add_account(current, "acme").account
        old = _records(TRAIN_AFTER_DOCS + 10)
        columns = ch_schema.DOC_COLUMNS[:-1]  # as version 9 wrote them: no dict_id
        assert ch_schema.DOC_COLUMNS[-1] == "dict_id"
        current._docs.encode = lambda docs: [(RAW, d) for d in docs]  # type: ignore[method-assign]
        current._insert = (
            lambda table, rows, cols: (  # type: ignore[method-assign]
                client.insert(table, [r[: len(columns)] for r in rows], column_names=list(columns))
                if table == "session_docs"
                else client.insert(table, rows, column_names=list(cols))
            )
        )
        current.write_sessions(account.id, old)
        upgraded = ClickHouseStore(client, describe="upgraded", retention_days=RETENTION_DAYS)
        ((version,),) = client.query("SELECT max(version) FROM schema_migrations FINAL").result_rows
        assert version == ch_schema.SCHEMA_VERSION == 10
        new = _records(100, seed=2)
        upgraded.write_sessions(account.id, new)  # 2,010 stored as they are: it trains at once
        assert RAW not in {d for c, d, _n in _stored(upgraded) if c in {r.conviva_session_id for r in new}}
        assert _documents(upgraded, account.id) == {r.conviva_session_id: r.doc for r in [*old, *new]}
    finally:
        client.command(f"DROP DATABASE {url.database}")
        client.close()


def test_a_cluster_writer_compresses_once_every_replica_holds_the_dictionary(
    chdb_dir: str,
    cluster_database: str,  # noqa: F811 - the fixture
) -> None:
    node = ClickHouseStore(
        _client(chdb_dir, cluster_database), describe="cluster node", retention_days=RETENTION_DAYS, cluster=CLUSTER
    )
    try:
        account = add_account(node, "acme").account
        records = _records(TRAIN_AFTER_DOCS + 10)
        node.write_sessions(account.id, records)
        assert RAW not in {d for _c, d, _n in _stored(node)}
        assert _documents(node, account.id) == {r.conviva_session_id: r.doc for r in records}
    finally:
        node.close()


def test_a_cluster_writer_waits_for_a_lagging_replica_before_it_uses_a_dictionary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two replicas, one without the dictionary yet: no second replica runs here (the engine is one
    node), so the store's queries are answered by a stand-in for what the cluster would say."""
    monkeypatch.setattr(ch_documents, "REPLICATION_WAIT_S", 0.0)
    docs = [r.doc for r in _records(TRAIN_AFTER_DOCS)]
    stored: list[list[object]] = []  # zstd_dicts as inserted
    holding = {"replicas": 1}  # how many of the two replicas hold the dictionary

    def query(sql: str, params: dict[str, object] | None = None, **_: object) -> list[tuple[object, ...]]:
        if "FROM zstd_dicts ORDER BY" in sql:
            return [(row[0], row[1]) for row in stored[-1:]]
        if "FROM system.clusters" in sql:
            return [(2,)]
        if "clusterAllReplicas" in sql:
            return [(holding["replicas"],)]
        if "SELECT count() FROM (SELECT 1 FROM session_docs" in sql:
            return [(0,)]
        raise AssertionError(sql)

    def insert(table: str, rows: list[list[object]], columns: object) -> None:
        assert table == "zstd_dicts"
        stored.extend(rows)

    writer = ch_documents.Documents(query, insert, cluster="two-replicas")  # type: ignore[arg-type]
    assert {d for d, _doc in writer.encode(docs)} == {RAW}  # trained and stored, not on every replica
    assert len(stored) == 1
    assert {d for d, _doc in writer.encode(docs[:10])} == {RAW}  # adopting it checks the replicas too
    holding["replicas"] = 2
    encoded = writer.encode(docs[:10])
    assert {d for d, _doc in encoded} == {stored[0][0]}
    assert [writer.decode(d, doc, "s") for d, doc in encoded] == docs[:10]
    assert len(stored) == 1  # no second dictionary
