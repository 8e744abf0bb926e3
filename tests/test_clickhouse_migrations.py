"""ClickHouse schema upgrades: a database at schema version 5 (documents inside the session rows, no
time-ordered facts) opened with today's code is migrated to the current version, and its sessions read
as before: the sample, a ``session_id`` lookup, the viewer lookup, the timeline and the aggregates,
content and ad sessions alike."""

from __future__ import annotations

import dataclasses
import uuid

from reelsight.aggregates.inputs import SUM_FIELDS
from reelsight.query.aggregates import AggregateQuery
from reelsight.query.parse import SessionQuery
from reelsight.query.selection import selection
from reelsight.query.viewer import ViewerQuery
from reelsight.store.clickhouse import schema as ch_schema
from reelsight.store.clickhouse.store import ClickHouseStore
from reelsight.store.records import SessionRecord, to_record, viewer_lookups
from reelsight.store.url import StoreUrl, open_clickhouse
from tests.conftest import NOW_MS, add_account
from tests.factories import make_doc

DAY = 86_400_000
# The columns a version-5 session row was written with (the session's columns, then doc and timeline).
_V5_COLUMNS = (*ch_schema.SESSION_COLUMNS, "doc", "timeline")
_V5_LOOKUP_COLUMNS = ("account_id", "lookup", "end_ms", "sample_key", "conviva_session_id", "version")


def _v5_row(account_id: int, record: SessionRecord, version: int) -> list[object]:
    return [*ClickHouseStore._row(account_id, record, version), record.doc, record.timeline or b""]


def test_a_version_5_database_is_migrated_and_its_sessions_read_as_before(chdb_dir: str) -> None:
    url = StoreUrl("chdb", path=chdb_dir, database="t" + uuid.uuid4().hex[:16])
    current = open_clickhouse(url, read_timeout_s=10, retention_days=3650)  # creates the database
    assert isinstance(current, ClickHouseStore)
    client = current._client
    try:
        for table in ("session_facts_copy", "session_ends_copy"):  # back to version 5, as an older release left it
            client.command(f"DROP VIEW {table}")
        for table in ("session_docs", "session_ids", "session_facts", "session_ends"):
            client.command(f"DROP TABLE {table}")
        client.command("TRUNCATE TABLE schema_migrations")
        client.insert("schema_migrations", [[v, 0] for v in range(1, 6)], ["version", "applied_ms"])
        acme = add_account(current, "acme", viewer_module=True, ad_insights=True).account
        paths = {"network_info.ip": "203.0.113.7"}
        content = [
            to_record(make_doc(session_id=str(i), end_ms=NOW_MS - i * 3_600_000, viewer_id="alice", set_paths=paths))
            for i in range(1, 6)
        ]
        content[0] = dataclasses.replace(content[0], timeline=b"\x94\x01\x02\x03\x04")
        ad_paths = {"tags.selected_dimensions.content_session_id": "1", "tags.selected_dimensions.ad_id": "a1"}
        ad = to_record(make_doc(session_id="1001", end_ms=NOW_MS - 90_000, set_paths=ad_paths))
        moved = {"network_info.ip": "192.0.2.1"}  # rewritten before the upgrade: another end, another address
        rewritten = to_record(
            make_doc(session_id="2", end_ms=NOW_MS - 40 * 3_600_000, viewer_id="alice", set_paths=moved)
        )
        client.insert("sessions", [_v5_row(acme.id, r, 1000 + i) for i, r in enumerate(content)], _V5_COLUMNS)
        client.insert("sessions", [_v5_row(acme.id, rewritten, 2000)], _V5_COLUMNS)  # unmerged: two versions
        client.insert("ad_sessions", [_v5_row(acme.id, ad, 1000)], _V5_COLUMNS)
        lookups = [
            [acme.id, key, r.end_ms, r.sample_key, r.conviva_session_id, version]
            for version, r in [*((1000 + i, r) for i, r in enumerate(content)), (2000, rewritten)]
            for key in viewer_lookups(r.viewer_id, r.ips)
        ]
        client.insert(
            "viewer_sessions",
            lookups,
            _V5_LOOKUP_COLUMNS,
        )

        upgraded = ClickHouseStore(client, describe="upgraded", retention_days=3650)
        ((version,),) = client.query("SELECT max(version) FROM schema_migrations FINAL").result_rows
        assert version == ch_schema.SCHEMA_VERSION == 10
        codecs = client.query(
            "SELECT table, name FROM system.columns WHERE database = currentDatabase()"
            " AND compression_codec = 'CODEC(ZSTD(1))' ORDER BY table, name"
        ).result_rows
        assert codecs == [  # v9; the parts written before it still read (below)
            ("ad_sessions", "client_id"),
            ("session_docs", "conviva_session_id"),
            ("session_ids", "conviva_session_id"),
            ("session_ids", "session_id"),
            ("sessions", "client_id"),
            ("viewer_sessions", "conviva_session_id"),
        ]
        window = SessionQuery(start_ms=NOW_MS - 40 * DAY, end_ms=NOW_MS, limit=1500)
        hours = AggregateQuery(selection(window), origin_ms=NOW_MS - 48 * 3_600_000, bucket_ms=3_600_000)
        attempts = SUM_FIELDS.index("attempts")
        by_hour = {row.bucket: row.sums[attempts] for row in upgraded.aggregate(acme.id, hours)}
        # the backfilled facts: the newest version of each content session only (the rewritten one at 40 h)
        assert by_hour == {48 - i: 1 for i in (1, 3, 4, 5, 40)}
        expected = {r.conviva_session_id: r.doc for r in [*content[:1], rewritten, *content[2:]]}
        found = upgraded.sample_sessions(acme.id, selection(window))
        assert {s.conviva_session_id: s.doc for s in found} == expected
        assert [s.end_ms for s in found] == sorted((s.end_ms for s in found), reverse=True)
        (by_id,) = upgraded.sample_sessions(acme.id, selection(dataclasses.replace(window, session_ids=("3",))))
        assert (by_id.conviva_session_id, by_id.doc) == (content[2].conviva_session_id, content[2].doc)
        (old_ad,) = upgraded.sample_sessions(acme.id, selection(window, kind="ad"))
        assert old_ad.doc == ad.doc
        viewer = ViewerQuery("viewer_id", "alice", NOW_MS - 31 * DAY, NOW_MS, 50)
        assert [s.conviva_session_id for s in upgraded.viewer_sessions(acme.id, viewer)] == [
            r.conviva_session_id for r in (*content[:1], *content[2:], rewritten)
        ]
        by_ip = ViewerQuery("ip", "203.0.113.7", NOW_MS - 31 * DAY, NOW_MS, 50)
        assert len(upgraded.viewer_sessions(acme.id, by_ip)) == 4  # the rewritten session has no address now
        stored = upgraded.session_timeline(acme.id, "content", content[0].conviva_session_id)
        assert stored is not None
        assert (stored.doc, stored.timeline) == (content[0].doc, content[0].timeline)

        # written after the upgrade: documents in session_docs only, and an old session rewritten reads new
        fresh = to_record(make_doc(session_id="6", end_ms=NOW_MS - 60_000))
        again = to_record(make_doc(session_id="3", end_ms=NOW_MS - 5 * DAY, custom_tags={"k": "v"}))
        upgraded.write_sessions(acme.id, [fresh, again])
        assert client.query(
            "SELECT doc FROM sessions WHERE conviva_session_id = {c:String}", parameters={"c": fresh.conviva_session_id}
        ).result_rows == [("",)]
        found = upgraded.sample_sessions(acme.id, selection(window))
        assert {s.conviva_session_id: s.doc for s in found}[again.conviva_session_id] == again.doc
        assert fresh.conviva_session_id in {s.conviva_session_id for s in found}
        by_hour = {row.bucket: row.sums[attempts] for row in upgraded.aggregate(acme.id, hours)}
        assert by_hour == {47: 2, 44: 1, 43: 1, 8: 1, -72: 1}  # session 3 moved from 3 h ago (45) to 5 days ago
        assert upgraded.purge_ended_before(NOW_MS - 30 * DAY) == 0
        assert upgraded.purge_ended_before(NOW_MS - 30 * 3_600_000) == 2  # the two rewritten ones, 40 h and 5 days
        left = {s.conviva_session_id for s in upgraded.sample_sessions(acme.id, selection(window))}
        assert left == {r.conviva_session_id for r in (*content[:1], *content[3:], fresh)}
        by_hour = {row.bucket: row.sums[attempts] for row in upgraded.aggregate(acme.id, hours)}
        assert by_hour == {47: 2, 44: 1, 43: 1}
        for table in ("session_docs", "session_ids", "session_facts", "session_ends"):  # the purge reached them too
            ((oldest,),) = client.query(f"SELECT min(end_ms) FROM {table}").result_rows  # noqa: S608
            assert oldest >= NOW_MS - 30 * 3_600_000
    finally:
        current.close()


def test_an_upgrade_keeps_the_sessions_older_than_31_days_of_a_longer_retention(chdb_dir: str) -> None:
    """The new tables are created with a 31-day TTL (frozen SQL); with a longer retention their copies of
    older sessions must survive the migration (the retention's TTL is set before each copy)."""
    url = StoreUrl("chdb", path=chdb_dir, database="t" + uuid.uuid4().hex[:16])
    current = open_clickhouse(url, read_timeout_s=10, retention_days=3650)
    assert isinstance(current, ClickHouseStore)
    client = current._client
    try:
        for view in ("session_facts_copy", "session_ends_copy"):  # back to version 6
            client.command(f"DROP VIEW {view}")
        for table in ("session_facts", "session_ends"):
            client.command(f"DROP TABLE {table}")
        client.command("TRUNCATE TABLE schema_migrations")
        client.insert("schema_migrations", [[v, 0] for v in range(1, 7)], ["version", "applied_ms"])
        acme = add_account(current, "acme").account
        old = to_record(make_doc(session_id="1", end_ms=NOW_MS - 40 * DAY))  # well past 31 days from today too
        client.insert("sessions", [ClickHouseStore._row(acme.id, old, 1000)], ch_schema.SESSION_COLUMNS)

        upgraded = ClickHouseStore(client, describe="upgraded", retention_days=3650)
        window = SessionQuery(start_ms=NOW_MS - 60 * DAY, end_ms=NOW_MS, limit=10)
        (row,) = upgraded.aggregate(acme.id, AggregateQuery(selection(window), origin_ms=0, bucket_ms=None))
        assert row.sums[SUM_FIELDS.index("attempts")] == 1
        for table in ("session_facts", "session_ends"):
            ((count,),) = client.query(f"SELECT count() FROM {table}").result_rows  # noqa: S608
            assert count == 1
    finally:
        current.close()


def test_migration_8_restores_the_documents_a_31_day_ttl_dropped_at_migration_6(chdb_dir: str) -> None:
    """A database migrated to 6 before the runner set the retention's TTL ahead of each backfill: the
    copies of its older sessions' documents and ids were expired by the new tables' 31-day TTL. Opened
    with today's code, migration 8 copies them again; a session rewritten since keeps its new document."""
    url = StoreUrl("chdb", path=chdb_dir, database="t" + uuid.uuid4().hex[:16])
    current = open_clickhouse(url, read_timeout_s=10, retention_days=3650)
    assert isinstance(current, ClickHouseStore)
    client = current._client
    try:
        acme = add_account(current, "acme", ad_insights=True).account
        old = [to_record(make_doc(session_id=str(i), end_ms=NOW_MS - (40 + i) * DAY)) for i in range(1, 4)]
        ad_paths = {"tags.selected_dimensions.content_session_id": "1"}
        old_ad = to_record(make_doc(session_id="1001", end_ms=NOW_MS - 45 * DAY, set_paths=ad_paths))
        # rows written before migration 6 (documents in the session row), whose copies were lost
        client.insert("sessions", [_v5_row(acme.id, r, 1000) for r in old], _V5_COLUMNS)
        client.insert("ad_sessions", [_v5_row(acme.id, old_ad, 1000)], _V5_COLUMNS)
        # session 2 was rewritten after the upgrade: its current version is in session_docs, not the row
        rewritten = to_record(make_doc(session_id="2", end_ms=NOW_MS - 38 * DAY, custom_tags={"k": "new"}))
        current.write_sessions(acme.id, [rewritten])
        client.command("DELETE FROM session_docs WHERE version = 1000")  # what the 31-day TTL dropped
        client.command("DELETE FROM session_ids WHERE version = 1000")
        query = SessionQuery(start_ms=NOW_MS - 50 * DAY, end_ms=NOW_MS, limit=1500)
        window = selection(query)
        assert {s.conviva_session_id for s in current.sample_sessions(acme.id, window)} == {
            rewritten.conviva_session_id
        }
        client.command("ALTER TABLE schema_migrations DELETE WHERE version = 8")

        upgraded = ClickHouseStore(client, describe="upgraded", retention_days=3650)
        found = {s.conviva_session_id: s.doc for s in upgraded.sample_sessions(acme.id, window)}
        assert found == {r.conviva_session_id: r.doc for r in (old[0], rewritten, old[2])}
        (by_id,) = upgraded.sample_sessions(acme.id, selection(dataclasses.replace(query, session_ids=("3",))))
        assert by_id.doc == old[2].doc
        (ad,) = upgraded.sample_sessions(acme.id, selection(query, kind="ad"))
        assert ad.doc == old_ad.doc
        ((versions,),) = client.query("SELECT max(version) FROM schema_migrations FINAL").result_rows
        assert versions == ch_schema.SCHEMA_VERSION
    finally:
        current.close()
