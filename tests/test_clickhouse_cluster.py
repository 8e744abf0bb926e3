"""The cluster DDL, run for real: on the tests' engine, whose configuration defines a one-node cluster
(``tests/conftest.py``), the statements of ``reelsight store cluster-ddl`` build a database whose
local tables match a migrated single server's column for column (codecs, TTL, keys, settings), and
a store opened with ``cluster=`` reads and writes through its Distributed tables.

What chDB cannot run is left out, and only that: ``ON CLUSTER`` (distributed DDL goes through
Keeper) and the replicated engines (also Keeper), which become the engines they replicate.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from typing import Any

import clickhouse_connect
import pytest

from reelsight.store.check import run_checks
from reelsight.store.clickhouse import schema as ch_schema
from reelsight.store.clickhouse.store import ClickHouseStore
from reelsight.store.records import to_record
from tests.conftest import CLUSTER, NOW_MS, add_account, open_chdb_store
from tests.factories import make_doc
from tests.test_store_contract import DAY, WINDOW, _ad, _sample, _viewer

RETENTION_DAYS = 3650  # as the other chDB tests (their clock is in the past, the TTL's is not)
_REPLICATED = re.compile(r"ReplicatedReplacingMergeTree\('[^']*', '\{replica\}'(?:, (\w+))?\)")


def one_node_form(statement: str) -> str:
    """A cluster DDL statement as one engine without Keeper runs it."""
    statement = statement.replace(f" ON CLUSTER {CLUSTER}", "")
    return _REPLICATED.sub(lambda m: f"ReplacingMergeTree({m.group(1) or ''})", statement)


def _client(chdb_dir: str, database: str) -> Any:
    return clickhouse_connect.get_client(interface="chdb", path=chdb_dir, database=database)


@pytest.fixture
def cluster_database(chdb_dir: str) -> Iterator[str]:
    database = "c" + uuid.uuid4().hex[:16]
    client = _client(chdb_dir, "default")
    statements = ch_schema.cluster_ddl(CLUSTER, database)
    assert all(one_node_form(s) != s for s in statements if not s.startswith("INSERT"))  # (the inserts run as they are)
    for statement in statements:
        client.command(one_node_form(statement))
    # The retention the store is opened with, set as a node sets it (then ON CLUSTER) at its start.
    node = _client(chdb_dir, database)
    for table in ch_schema.TTL_TABLES:
        node.command(one_node_form(ch_schema.ttl_statement(table, RETENTION_DAYS, CLUSTER)))
    node.close()
    yield database
    client.command(f"DROP DATABASE {database}")
    client.close()


def _tables(client: Any, database: str) -> dict[str, dict[str, object]]:
    """Each table's columns (type, default, codec) and the parts of its definition that are not its
    engine's name: sorting and primary key, TTL, settings."""
    out: dict[str, dict[str, object]] = {}
    for name, engine, sorting_key, primary_key, create in client.query(
        "SELECT name, engine, sorting_key, primary_key, create_table_query FROM system.tables"
        " WHERE database = {d:String}",
        parameters={"d": database},
    ).result_rows:
        columns = client.query(
            "SELECT name, type, default_kind, default_expression, compression_codec FROM system.columns"
            " WHERE database = {d:String} AND table = {t:String} ORDER BY position",
            parameters={"d": database, "t": name},
        ).result_rows
        ttl = re.search(r"\bTTL (.*?)(?: SETTINGS |$)", create, re.DOTALL)
        settings = re.search(r"\bSETTINGS (.*)$", create, re.DOTALL)
        out[name] = {
            "engine": engine,
            "columns": [tuple(c) for c in columns],
            "sorting_key": sorting_key,
            "primary_key": primary_key,
            "ttl": ttl.group(1).strip() if ttl else None,
            "settings": settings.group(1).strip() if settings else None,
        }
    return out


def test_the_cluster_ddl_builds_the_tables_the_migrations_build(chdb_dir: str, cluster_database: str) -> None:
    single = open_chdb_store(chdb_dir)
    client = _client(chdb_dir, "default")
    try:
        migrated = _tables(client, single._client.database)
        built = _tables(client, cluster_database)
    finally:
        client.close()
        single.close()
    for table, expected in migrated.items():
        if table in ch_schema.SHARDED:
            local, front = built[f"{table}_local"], built[table]
            assert front["engine"] == "Distributed"
            assert front["columns"] == expected["columns"], table  # the Distributed table shows the same columns
        elif expected["engine"] == "MaterializedView":
            local = built[table]
            assert local["engine"] == "MaterializedView"
            continue
        else:
            local = built[table]
        assert local == expected, table  # engine, columns and codecs (migration 9's too), keys, TTL, settings
    assert set(built) == {f"{t}_local" for t in ch_schema.SHARDED} | set(migrated)


def test_a_store_on_the_cluster_reads_and_writes_through_its_distributed_tables(
    chdb_dir: str, cluster_database: str
) -> None:
    node = ClickHouseStore(
        _client(chdb_dir, cluster_database), describe="cluster node", retention_days=RETENTION_DAYS, cluster=CLUSTER
    )
    single = open_chdb_store(chdb_dir)
    try:
        said: list[str] = []
        run_checks(node, retention_days=RETENTION_DAYS, write=True, echo=said.append)  # `reelsight store check`
        assert len(said) == 4
        assert all(line.startswith("ok  ") for line in said)
        records = [
            to_record(
                make_doc(
                    session_id=str(i),
                    end_ms=NOW_MS - (i + 1) * 3_600_000,
                    custom_tags={"k": f"v{i % 4}"},
                    viewer_id=f"viewer-{i % 7}",
                    set_paths={"network_info.ip": f"203.0.113.{i % 5}"},
                )
            )
            for i in range(120)
        ]
        ads = [_ad(str(1000 + i), str(i), NOW_MS - (i + 1) * 3_600_000 + 60_000) for i in range(6)]
        answers = []
        for store in (single, node):
            account = add_account(store, "acme").account
            assert store.write_sessions(account.id, [*records, *ads]) == 126
            store.write_sessions(account.id, records[:10])  # replaced, not repeated
            answers.append(
                [
                    _sample(store, account.id),
                    _sample(store, account.id, tags=(("k", ("v1", "")),)),
                    _sample(store, account.id, session_ids=("7",)),
                    store.sample_sessions(account.id, dataclasses.replace(WINDOW, kind="ad")),
                    # the viewer reads: an IN (SELECT ... FROM viewer_sessions), another sharded table
                    _viewer(store, account.id, "viewer_id", "viewer-3"),
                    _viewer(store, account.id, "ip", "203.0.113.4"),
                    store.tag_keys(account.id, NOW_MS - 2 * DAY, 100),
                ]
            )
        assert answers[1] == answers[0]  # byte-identical documents, the same samples and lookups
        assert [len(a) for a in answers[0][:6]] == [120, 30, 1, 6, 17, 24]
        rows = node._client.query("SELECT count() FROM sessions_local FINAL").result_rows
        assert rows == [(121,)]  # the local table holds what went through the Distributed one (and the probe)
    finally:
        single.truncate()
        single.close()
        node.close()
