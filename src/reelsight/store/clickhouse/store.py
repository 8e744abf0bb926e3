"""ClickHouseStore: accounts, credentials and ended sessions in ClickHouse, through clickhouse-connect.

The same class serves a ClickHouse server (``clickhouse://``, ``clickhouses://``) and the same
engine in-process (``chdb://``, clickhouse-connect's chDB client). Every value is a bound query
parameter (``{name:Type}``); identifiers come from the fixed flag and dimension tables. A read that
runs past the time limit is cancelled by the server (``max_execution_time``) and raised as
``ReadTimeout``; a failed write or an unreachable server is a ``StorageFailure``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import msgspec
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from reelsight.aggregates.inputs import FACT_COLUMNS
from reelsight.errors import AlreadyExists, NotFoundInStore, ReadTimeout, StorageFailure
from reelsight.query.aggregates import AggregateQuery
from reelsight.query.parse import FLAG_PARAMS
from reelsight.query.selection import Selection, SessionKind
from reelsight.query.viewer import ViewerQuery
from reelsight.store.base import (
    IP_PRIVACY_MODES,
    Account,
    AggregateRow,
    ApiKey,
    StoredSession,
    StoredTimeline,
    require_account_scope,
)
from reelsight.store.clickhouse.documents import Documents
from reelsight.store.clickhouse.schema import (
    DOC_BUCKET_MS,
    DOC_COLUMNS,
    FACT_BUCKET_MS,
    FACT_TABLE_COLUMNS,
    ID_COLUMNS,
    MIGRATIONS,
    SESSION_COLUMNS,
    TTL_TABLES,
    ttl_expression,
    ttl_statement,
)
from reelsight.store.records import SessionRecord, lookup_key, sample_key, viewer_lookups

log = logging.getLogger("reelsight.store")
INSERT_CHUNK = 10_000  # sessions per INSERT: one part per chunk, never one per session
_TIMEOUT_CODE = 159  # TIMEOUT_EXCEEDED
_ACCOUNT_COLS = "id, name, viewer_module, business_error_patterns, ingest_key, created_ms, ip_privacy, ad_insights"
_KEY_COLS = "key_id, account_id, secret_hash, disabled, created_ms"
_FLAG_FIELDS = frozenset(FLAG_PARAMS)
DAY_MS = 86_400_000
_VIEWER_COLUMNS = ("account_id", "lookup", "end_ms", "sample_key", "conviva_session_id", "version")
# The newest version of each addressed document (argMax: correct before merges, as FINAL would be).
_DOCS = (
    "SELECT conviva_session_id, argMax(end_ms, version) AS e, argMax(doc, version) AS d,"
    " argMax(viewer_split, version), argMax(viewer_id, version), argMax(dict_id, version) FROM session_docs"
    " WHERE account_id = {account:UInt64} AND is_ad = {ad:UInt8} AND "
)


# A retraction: the old key of a session moved to another hour, not ended (skipped by every aggregate).
_RETRACTION: tuple[object, ...] = tuple(
    [] if c == "cdn" else {} if c == "tags" else "" if c.startswith("d_") else 0 for c in FACT_TABLE_COLUMNS
)
_LAST_ENDS = (
    "SELECT sample_key, conviva_session_id, argMax(end_ms, version) FROM session_ends"
    " WHERE account_id = {account:UInt64} AND sample_key IN {keys:Array(Int64)} GROUP BY sample_key, conviva_session_id"
)


def _retraction(account_id: int, sample: int, conviva_session_id: str, end_ms: int, version: int) -> list[object]:
    row = list(_RETRACTION)
    row[:5] = [account_id, end_ms // FACT_BUCKET_MS, sample, conviva_session_id, end_ms]
    row[-1] = version
    return row


def _version() -> int:
    """The version of a row written now: the newest write of a key wins in ReplacingMergeTree."""
    return time.time_ns()


def _account(row: Sequence[Any]) -> Account:
    return Account(
        id=int(row[0]),
        name=row[1],
        viewer_module=bool(row[2]),
        business_error_patterns=tuple(msgspec.json.decode(row[3], type=list[str])),
        ingest_key=row[4],
        created_ms=int(row[5]),
        ip_privacy=row[6],
        ad_insights=bool(row[7]),
    )


_SUMS = ", ".join(["count()", *(f"sum({c})" for c in (*FLAG_PARAMS, *FACT_COLUMNS))])


def compile_matches(sel: Selection, params: dict[str, object]) -> str:
    """``AND ...`` conditions for the selection's matches; values go into ``params``."""
    parts = ["is_ended = 1"]
    for number, match in enumerate(sel.matches):
        name = f"m{number}"
        if match.kind == "scalar":
            if match.field in _FLAG_FIELDS:
                params[name] = [int(v) for v in match.values]
                parts.append(f"has({{{name}:Array(UInt8)}}, {match.field})")
            else:
                params[name] = list(match.values)
                parts.append(f"has({{{name}:Array(String)}}, {match.field})")
        elif match.kind == "any_element":
            params[name] = list(match.values)
            parts.append(f"hasAny({match.field}, {{{name}:Array(String)}})")
        else:
            params[name], params[f"{name}k"] = list(match.values), match.key
            # A missing key reads as "": the value "" also matches a session without that tag.
            parts.append(f"has({{{name}:Array(String)}}, tags[{{{name}k:String}}])")
    return " AND ".join(parts)


class ClickHouseStore:
    """``describe`` names the store in messages without its credentials."""

    def __init__(
        self,
        client: Client,
        *,
        describe: str,
        read_timeout_s: float = 10.0,
        retention_days: int = 31,
        cluster: str | None = None,
    ) -> None:
        """``cluster``: the database was created by ``cluster_ddl`` (sharded, replicated); this node
        checks its version instead of migrating, and purges and sets the TTL on every shard."""
        self._client = client
        self.describe = describe
        self._cluster = cluster
        self._read_settings = {"max_execution_time": max(1, round(read_timeout_s))}
        self._account_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._migrate(retention_days)
        self._docs = Documents(self._query, self._insert, cluster=cluster)

    # -- plumbing ------------------------------------------------------------------------------

    def _migrate(self, retention_days: int) -> None:
        if self._cluster is None:
            self._command(MIGRATIONS[0][-1])  # schema_migrations itself
        applied = {int(row[0]) for row in self._query("SELECT version FROM schema_migrations FINAL")}
        if applied and max(applied) > len(MIGRATIONS):
            raise StorageFailure(
                f"{self.describe} has schema version {max(applied)}, newer than this Reelsight ({len(MIGRATIONS)})"
            )
        if self._cluster is not None:
            if max(applied, default=0) < len(MIGRATIONS):
                raise StorageFailure(
                    f"{self.describe} is at schema version {max(applied, default=0)}, not {len(MIGRATIONS)}: apply"
                    f" `reelsight store cluster-ddl --cluster {self._cluster}` first"
                )
            self._set_ttl(retention_days)
            return
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version in applied:
                continue
            for statement in statements:
                if statement.startswith("INSERT INTO "):  # a backfill: its table's TTL first (a new table has
                    # the literal 31 days of its CREATE, which would expire older copied rows with a longer retention)
                    self._set_ttl(retention_days)
                self._command(statement)
            self._insert("schema_migrations", [[version, time.time_ns() // 1_000_000]], ["version", "applied_ms"])
        self._set_ttl(retention_days)

    def _set_ttl(self, retention_days: int) -> None:
        """Apply ``retention_days`` as the TTL of the sessions, ad sessions and viewer lookups, only
        where it differs (a changed TTL may rewrite parts: not at every start of every node)."""
        wanted = ttl_expression(retention_days).replace(" ", "")
        for table in TTL_TABLES:
            rows = self._query(
                "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
                {"t": f"{table}_local" if self._cluster else table},
            )
            if not rows or wanted in rows[0][0].replace(" ", ""):  # not there yet (a later migration creates it)
                continue
            self._command(ttl_statement(table, retention_days, self._cluster))

    def _command(self, sql: str, params: dict[str, object] | None = None) -> None:
        try:
            self._client.command(sql, parameters=params)
        except ClickHouseError as exc:
            raise StorageFailure(f"{self.describe} refused a write: {exc}") from exc

    def _insert(self, table: str, rows: list[list[object]], columns: Sequence[str]) -> None:
        # On a cluster an insert into the Distributed table returns only once every shard has its rows
        # (not queued on the receiving node): the outbox must not drop what one server alone holds.
        settings = {"distributed_foreground_insert": 1} if self._cluster else None
        try:
            self._client.insert(table, rows, column_names=list(columns), settings=settings)
        except ClickHouseError as exc:
            raise StorageFailure(f"{self.describe} refused a write: {exc}") from exc

    def _query(
        self,
        sql: str,
        params: dict[str, object] | None = None,
        *,
        formats: dict[str, str | dict[str, str]] | None = None,
        settings: dict[str, object] | None = None,
    ) -> Sequence[Sequence[Any]]:
        try:
            result = self._client.query(
                sql, parameters=params, settings={**self._read_settings, **(settings or {})}, column_formats=formats
            )
        except ClickHouseError as exc:
            if f"Code: {_TIMEOUT_CODE}." in str(exc):
                raise ReadTimeout(f"read cancelled after {self._read_settings['max_execution_time']} s") from None
            raise StorageFailure(f"{self.describe} could not be read: {exc}") from exc
        rows: Sequence[Sequence[Any]] = result.result_rows
        return rows

    def check(self) -> None:
        """Raise ``StorageFailure`` when the server does not answer a trivial query."""
        self._query("SELECT 1")

    def close(self) -> None:
        self._client.close()

    def truncate(self) -> None:
        """Remove every account, key, session and document dictionary (tests, and scratch databases)."""
        for table in (
            "accounts",
            "api_keys",
            "sessions",
            "ad_sessions",
            "viewer_sessions",
            "tag_keys",
            "session_docs",
            "session_ids",
            "session_facts",
            "session_ends",
            "zstd_dicts",
        ):
            self._command(f"TRUNCATE TABLE {table}")
        self._docs = Documents(self._query, self._insert, cluster=self._cluster)

    # -- accounts and credentials --------------------------------------------------------------

    def create_account(
        self,
        name: str,
        *,
        viewer_module: bool,
        business_error_patterns: Sequence[str],
        ingest_key: str,
        ip_privacy: str = "full",
        ad_insights: bool = False,
    ) -> Account:
        """Account ids are the next integer after the highest one: create accounts from one place at
        a time (an operator's command); two nodes creating accounts at the same instant could race."""
        if ip_privacy not in IP_PRIVACY_MODES:
            raise ValueError(f"ip_privacy must be one of {IP_PRIVACY_MODES}")
        with self._account_lock:
            if self._query("SELECT 1 FROM accounts FINAL WHERE name = {n:String}", {"n": name}):
                raise AlreadyExists(f"an account named {name!r} already exists")
            ((top,),) = self._query("SELECT max(id) FROM accounts FINAL")
            patterns = msgspec.json.encode(list(business_error_patterns)).decode()
            row = [int(top) + 1, name, int(viewer_module), patterns, ingest_key, time.time_ns() // 1_000_000]
            row += [ip_privacy, int(ad_insights), _version()]
            self._insert("accounts", [row], [*_ACCOUNT_COLS.split(", "), "version"])
        return self.get_account_by_id(int(top) + 1)

    def set_permissions(
        self, account_id: int, *, viewer_module: bool | None = None, ad_insights: bool | None = None
    ) -> Account:
        """A new version of the account's row (the newest wins in ``FINAL`` reads)."""
        with self._account_lock:
            a = self.get_account_by_id(account_id)
            row: list[object] = [
                a.id,
                a.name,
                int(a.viewer_module if viewer_module is None else viewer_module),
                msgspec.json.encode(list(a.business_error_patterns)).decode(),
                a.ingest_key,
                a.created_ms,
                a.ip_privacy,
                int(a.ad_insights if ad_insights is None else ad_insights),
                _version(),
            ]
            self._insert("accounts", [row], [*_ACCOUNT_COLS.split(", "), "version"])
        return self.get_account_by_id(account_id)

    def _one_account(self, where: str, value: object, kind: str) -> Account:
        rows = self._query(
            f"SELECT {_ACCOUNT_COLS} FROM accounts FINAL WHERE {where} = {{v:{kind}}}",  # noqa: S608 - fixed
            {"v": value},
        )
        if not rows:
            raise NotFoundInStore(f"no account with {where} {value!r}")
        return _account(rows[0])

    def find_account_by_ingest_key(self, ingest_key: str) -> Account | None:
        try:
            return self._one_account("ingest_key", ingest_key, "String")
        except NotFoundInStore:
            return None

    def get_account(self, name: str) -> Account:
        return self._one_account("name", name, "String")

    def get_account_by_id(self, account_id: int) -> Account:
        return self._one_account("id", account_id, "UInt64")

    def list_accounts(self) -> list[Account]:
        return [_account(r) for r in self._query(f"SELECT {_ACCOUNT_COLS} FROM accounts FINAL ORDER BY name")]  # noqa: S608

    def add_api_key(self, account_id: int, key_id: str, secret_hash: str) -> ApiKey:
        created = time.time_ns() // 1_000_000
        self._insert(
            "api_keys", [[key_id, account_id, secret_hash, 0, created, _version()]], [*_KEY_COLS.split(", "), "version"]
        )
        return ApiKey(key_id, account_id, secret_hash, False, created)

    def _keys(self, where: str, value: object, kind: str) -> list[ApiKey]:
        rows = self._query(
            f"SELECT {_KEY_COLS} FROM api_keys FINAL WHERE {where} = {{v:{kind}}} ORDER BY created_ms",  # noqa: S608
            {"v": value},
        )
        return [ApiKey(r[0], int(r[1]), r[2], bool(r[3]), int(r[4])) for r in rows]

    def find_api_key(self, key_id: str) -> tuple[ApiKey, Account] | None:
        """The key and its account, read on every request in one statement (no cache: a disabled key
        stops at once on every node); None for an unknown key or one whose account is gone."""
        rows = self._query(
            f"WITH (SELECT tuple({_KEY_COLS}) FROM api_keys FINAL WHERE key_id = {{v:String}}) AS k"  # noqa: S608
            f" SELECT {_ACCOUNT_COLS}, k.1, k.3, k.4, k.5 FROM accounts FINAL WHERE id = k.2",
            {"v": key_id},
        )
        if not rows:
            return None
        row = rows[0]
        account = _account(row[:8])
        return ApiKey(row[8], account.id, row[9], bool(row[10]), int(row[11])), account

    def list_api_keys(self, account_id: int) -> list[ApiKey]:
        return self._keys("account_id", account_id, "UInt64")

    def disable_api_key(self, key_id: str) -> None:
        keys = self._keys("key_id", key_id, "String")
        if not keys:
            raise NotFoundInStore(f"no API key with id {key_id!r}")
        key = keys[0]
        self._insert(
            "api_keys",
            [[key.key_id, key.account_id, key.secret_hash, 1, key.created_ms, _version()]],
            [*_KEY_COLS.split(", "), "version"],
        )

    # -- sessions ------------------------------------------------------------------------------

    @staticmethod
    def _row(account_id: int, r: SessionRecord, version: int) -> list[object]:
        return [
            account_id,
            r.sample_key,
            r.conviva_session_id,
            r.end_ms,
            r.start_ms,
            int(r.is_ended),
            r.session_id,
            r.client_id,
            list(r.cdns),
            dict(r.custom_tags),
            *(int(f) for f in r.flags),
            *r.dimensions,
            *r.facts,
            r.viewer_id,
            r.viewer_split,
            version,
        ]

    def write_sessions(self, account_id: int, records: Iterable[SessionRecord]) -> int:
        """Insert ended sessions in chunks of ``INSERT_CHUNK``; a session written again replaces the
        account's session with the same conviva_session_id (the newest version wins). One writer at a
        time per store: a chunk's lookup of the last ends must see the chunk written before it."""
        account_id = require_account_scope(account_id)
        written = 0
        iterator: Iterator[SessionRecord] = iter(records)
        with self._write_lock:
            while chunk := list(itertools.islice(iterator, INSERT_CHUNK)):
                self._write_chunk(account_id, chunk, _version())
                written += len(chunk)
        return written

    def _write_chunk(self, account_id: int, chunk: list[SessionRecord], version: int) -> None:
        rows: dict[str, list[list[object]]] = {"sessions": [], "ad_sessions": []}
        docs: list[list[object]] = []
        ids: list[list[object]] = []
        lookups: list[list[object]] = []
        retractions: list[list[object]] = []
        last_end = self._last_ends(account_id, [r for r in chunk if not r.is_ad])
        stored = self._docs.encode([r.doc for r in chunk])
        for i, r in enumerate(chunk):
            rows["ad_sessions" if r.is_ad else "sessions"].append(self._row(account_id, r, version + i))
            kind: list[object] = [account_id, int(r.is_ad)]
            bucket = r.end_ms // DOC_BUCKET_MS
            docs.append([*kind, bucket, r.sample_key, r.conviva_session_id, r.end_ms, r.viewer_id, r.viewer_split])
            dict_id, doc = stored[i]
            docs[-1] += [doc, r.timeline or b"", version + i, dict_id]
            ids.append([*kind, r.session_id, r.conviva_session_id, r.sample_key, r.end_ms, version + i])
            if not r.is_ad:
                identity = (r.sample_key, r.conviva_session_id)
                before = last_end.get(identity)
                if before is not None and before // FACT_BUCKET_MS != r.end_ms // FACT_BUCKET_MS:
                    retractions.append(_retraction(account_id, r.sample_key, r.conviva_session_id, before, version + i))
                last_end[identity] = r.end_ms  # a session twice in one chunk: its second write moves from the first
                lookup_row: list[object] = [r.end_ms, r.sample_key, r.conviva_session_id, version + i]
                lookups += [[account_id, key, *lookup_row] for key in viewer_lookups(r.viewer_id, r.ips)]
        # Documents and ids before the sessions: a session a read can pick always has its document.
        self._insert("session_docs", docs, DOC_COLUMNS)
        self._insert("session_ids", ids, ID_COLUMNS)
        if retractions:  # before the sessions, whose views copy the new facts and last ends: a chunk retried
            # after a failure between the two looks up the same old ends and retracts them again
            self._insert("session_facts", retractions, FACT_TABLE_COLUMNS)
        for table, table_rows in rows.items():
            if table_rows:
                self._insert(table, table_rows, SESSION_COLUMNS)
        if lookups:  # after the sessions: a lookup row never names a session not yet written
            self._insert("viewer_sessions", lookups, _VIEWER_COLUMNS)
        self._note_tag_keys(account_id, chunk)

    def _last_ends(self, account_id: int, records: list[SessionRecord]) -> dict[tuple[int, str], int]:
        """The end of the newest stored version of each content session of ``records`` that is stored."""
        if not records:
            return {}
        try:
            found = self._query(_LAST_ENDS, {"account": account_id, "keys": sorted({r.sample_key for r in records})})
        except ReadTimeout as exc:  # a write's failure (the writer retries the chunk), not a read's
            raise StorageFailure(f"{self.describe} could not look up the sessions' last ends: {exc}") from exc
        return {(int(k), str(i)): int(e) for k, i, e in found}

    def _note_tag_keys(self, account_id: int, chunk: Sequence[SessionRecord]) -> None:
        """One small row per key and day of the chunk, after its sessions (a failure between the two
        is a ``StorageFailure`` the writer retries: the rewrite of the sessions is a no-op)."""
        latest: dict[tuple[int, str], int] = {}
        for r in chunk:
            for key, _value in r.custom_tags:
                day_key = (r.end_ms // DAY_MS, key)
                latest[day_key] = max(latest.get(day_key, r.end_ms), r.end_ms)
        if latest:
            rows: list[list[object]] = [[account_id, day, key, end] for (day, key), end in latest.items()]
            self._insert("tag_keys", rows, ("account_id", "day", "key", "last_end_ms"))

    def tag_keys(self, account_id: int, since_ms: int, limit: int) -> list[str]:
        """From ``tag_keys`` (one row per key and day), not from the sessions."""
        rows = self._query(
            "SELECT key FROM tag_keys WHERE account_id = {account:UInt64} AND day >= {day:Int32}"
            " GROUP BY key HAVING max(last_end_ms) >= {since:Int64} ORDER BY key LIMIT {limit:UInt32}",
            {
                "account": require_account_scope(account_id),
                "day": since_ms // DAY_MS,
                "since": since_ms,
                "limit": limit,
            },
        )
        return [row[0] for row in rows]

    def _in_settings(self) -> dict[str, object] | None:
        """On a cluster, an ``IN (subquery)`` over another sharded table runs on each shard against its
        own rows (every table is sharded by the session's identity, so they are the ones to match)."""
        return {"distributed_product_mode": "local"} if self._cluster else None

    def _documents(self, sql: str, params: dict[str, object]) -> list[StoredSession]:
        rows = self._query(sql, params, formats={"d": "bytes"}, settings=self._in_settings())
        return [StoredSession(r[0], int(r[1]), self._docs.decode(int(r[5]), r[2], r[0]), int(r[3]), r[4]) for r in rows]

    def sample_sessions(self, account_id: int, query: Selection) -> list[StoredSession]:
        """The ``limit`` matching sessions of the selection's kind with the smallest sample keys, newest
        end first: picked from the sessions (``FINAL``; a filtered content sample from ``session_facts``),
        then their documents read from ``session_docs`` by key (bucket of the end, sample key, id). A
        ``session_id`` filter takes its candidates from ``session_ids`` instead of scanning the window."""
        table = "ad_sessions" if query.kind == "ad" else "sessions"
        params: dict[str, object] = {
            "account": require_account_scope(account_id),
            "ad": int(query.kind == "ad"),
            "start": query.start_ms,
            "end": query.end_ms,
            "limit": query.limit,
        }
        where = compile_matches(query, params)
        by_id = ""
        session_ids = [m.values for m in query.matches if m.kind == "scalar" and m.field == "session_id"]
        if session_ids:
            params["sids"] = list(session_ids[0])
            by_id = (
                " AND (sample_key, conviva_session_id) IN (SELECT sample_key, conviva_session_id FROM session_ids"
                " WHERE account_id = {account:UInt64} AND is_ad = {ad:UInt8} AND session_id IN {sids:Array(String)})"
            )
        source = f"{table} FINAL WHERE account_id = {{account:UInt64}}{by_id}"
        if query.kind == "content" and query.matches and not query.by_id:
            # A filtered content sample reads the window's hours of ``session_facts`` (its filter columns,
            # not the account's every row); an unfiltered one stays on ``sessions``, whose order by
            # sample key lets the read stop after ``limit`` rows (measured in docs/benchmarks.md).
            params |= {"first": query.start_ms // FACT_BUCKET_MS, "last": (query.end_ms - 1) // FACT_BUCKET_MS}
            source = (
                "session_facts FINAL WHERE account_id = {account:UInt64}"
                " AND end_bucket >= {first:Int32} AND end_bucket <= {last:Int32}"
            )
        picked = self._query(
            f"SELECT sample_key, conviva_session_id, end_ms FROM {source}"  # noqa: S608 - fixed identifiers
            f" AND end_ms >= {{start:Int64}} AND end_ms < {{end:Int64}}"
            f" AND {where} ORDER BY sample_key, conviva_session_id LIMIT {{limit:UInt32}}",
            params,
            settings=self._in_settings(),
        )
        if not picked:
            return []
        # The documents by key: the buckets and the sample keys as one-column sets (cheap for the primary
        # key's analysis; a tuple or an id set cost several times more), the ids checked here.
        rows = self._query(
            "SELECT conviva_session_id, end_ms, doc, viewer_split, viewer_id, version, dict_id FROM session_docs"
            " WHERE account_id = {account:UInt64} AND is_ad = {ad:UInt8} AND end_bucket IN {buckets:Array(Int32)}"
            " AND sample_key IN {keys:Array(Int64)}",
            {
                "account": account_id,
                "ad": params["ad"],
                "buckets": sorted({int(r[2]) // DOC_BUCKET_MS for r in picked}),
                "keys": [r[0] for r in picked],
            },
            formats={"doc": "bytes"},
        )
        wanted = {r[1] for r in picked}
        newest: dict[str, Sequence[Any]] = {}
        for r in rows:  # the newest version of each document (an older one can share its key before merges)
            if r[0] in wanted and ((seen := newest.get(r[0])) is None or r[5] > seen[5]):
                newest[r[0]] = r
        decode = self._docs.decode
        sessions = [
            StoredSession(r[0], int(r[1]), decode(int(r[6]), r[2], r[0]), int(r[3]), r[4]) for r in newest.values()
        ]
        sessions.sort(key=lambda s: (-s.end_ms, s.conviva_session_id))
        return sessions

    def viewer_sessions(self, account_id: int, query: ViewerQuery) -> list[StoredSession]:
        """One viewer's content sessions in the window, newest first: the lookup rows name the
        candidates (``viewer_sessions``); a row answers only while its version is its session's newest
        and that version ended (``session_ends``: a row left by a rewritten session, whose viewer id or
        address may have changed, never answers). The documents are then read by key (bucket and
        sample key, as the sample reads them)."""
        params: dict[str, object] = {
            "account": require_account_scope(account_id),
            "ad": 0,
            "lookup": lookup_key(query.kind, query.value),
            "start": query.start_ms,
            "end": query.end_ms,
            "limit": query.limit,
        }
        rows = (
            "FROM viewer_sessions WHERE account_id = {account:UInt64} AND lookup = {lookup:String}"
            " AND end_ms >= {start:Int64} AND end_ms < {end:Int64}"
        )
        candidates = self._query(
            f"SELECT DISTINCT sample_key, conviva_session_id, end_ms {rows}"  # noqa: S608 - fixed text
            " AND (sample_key, conviva_session_id, version) IN (SELECT sample_key, conviva_session_id, max(version)"
            f" FROM session_ends WHERE account_id = {{account:UInt64}} AND sample_key IN (SELECT sample_key {rows})"
            " GROUP BY sample_key, conviva_session_id HAVING argMax(is_ended, version) = 1)"
            " ORDER BY end_ms DESC, conviva_session_id LIMIT {limit:UInt32}",
            params,
            settings=self._in_settings(),
        )
        if not candidates:
            return []
        params |= {
            "buckets": sorted({int(r[2]) // DOC_BUCKET_MS for r in candidates}),
            "keys": [r[0] for r in candidates],
        }
        found = self._documents(
            f"{_DOCS}end_bucket IN {{buckets:Array(Int32)}} AND sample_key IN {{keys:Array(Int64)}}"
            " GROUP BY conviva_session_id",
            params,
        )
        wanted = {r[1] for r in candidates}
        found = [s for s in found if s.conviva_session_id in wanted]
        found.sort(key=lambda s: (-s.end_ms, s.conviva_session_id))
        return found[: query.limit]

    def aggregate(self, account_id: int, query: AggregateQuery) -> list[AggregateRow]:
        """Sums per bucket and group, computed natively: one ``GROUP BY`` over the current versions
        (``FINAL``) of the account's content sessions in the window, in ``session_facts`` (the window's
        hours only), or in ``sessions`` when a ``session_id`` / ``client_id`` filter names the candidates
        (``session_facts`` has no ids; the bloom filters find them)."""
        sel = query.selection
        params: dict[str, object] = {
            "account": require_account_scope(account_id),
            "start": sel.start_ms,
            "end": sel.end_ms,
        }
        where = compile_matches(sel, params)
        bucket = "0"
        if query.bucket_ms is not None:
            params |= {"origin": query.origin_ms, "bucket": query.bucket_ms}
            bucket = "intDiv(end_ms - {origin:Int64}, {bucket:Int64})"
        group = query.group_by
        if group is None:
            by = "''"
        elif group.kind == "tag":
            params["group_key"] = group.name
            by = "tags[{group_key:String}]"  # a missing key reads as "": the group of sessions without it
        elif group.multi:  # one group per distinct element; a session with none is in the group ""
            by = f"arrayJoin(if(empty({group.name}), [''], arrayDistinct({group.name})))"
        else:
            by = group.column
        if sel.by_id:
            source = "sessions FINAL WHERE account_id = {account:UInt64}"
        else:
            params |= {"first": sel.start_ms // FACT_BUCKET_MS, "last": (sel.end_ms - 1) // FACT_BUCKET_MS}
            source = (
                "session_facts FINAL WHERE account_id = {account:UInt64}"
                " AND end_bucket >= {first:Int32} AND end_bucket <= {last:Int32}"
            )
        rows = self._query(
            f"SELECT {bucket} AS b, {by} AS g, {_SUMS} FROM {source}"  # noqa: S608 - fixed identifiers
            f" AND end_ms >= {{start:Int64}} AND end_ms < {{end:Int64}} AND {where} GROUP BY b, g",
            params,
        )
        return [AggregateRow(int(r[0]), str(r[1]), tuple(int(v) for v in r[2:])) for r in rows]

    def _delete_expired_keys(self, table: str, key: str, cutoff_ms: int) -> None:
        """Every version of each key of ``table`` whose newest version ended before the cut-off: not only
        the rows that did (an older version that ended later would come back in ``FINAL`` reads)."""
        self._command(
            f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} FINAL WHERE end_ms < {{c:Int64}})",  # noqa: S608
            {"c": cutoff_ms},
        )

    def session_timeline(self, account_id: int, kind: SessionKind, conviva_session_id: str) -> StoredTimeline | None:
        """The session's current version (``FINAL``) by its primary key, then its document and timeline
        (the newest version in ``session_docs``)."""
        table = "ad_sessions" if kind == "ad" else "sessions"
        params: dict[str, object] = {
            "account": require_account_scope(account_id),
            "ad": int(kind == "ad"),
            "key": sample_key(conviva_session_id),
            "id": conviva_session_id,
        }
        current = self._query(
            f"SELECT end_ms FROM {table} FINAL WHERE account_id = {{account:UInt64}} AND sample_key = {{key:Int64}}"  # noqa: S608
            " AND conviva_session_id = {id:String} AND is_ended = 1",
            params,
        )
        if not current:
            return None
        params["bucket"] = int(current[0][0]) // DOC_BUCKET_MS
        rows = self._query(
            "SELECT argMax(doc, version) AS d, argMax(timeline, version) AS t, argMax(dict_id, version)"
            " FROM session_docs WHERE account_id = {account:UInt64} AND is_ad = {ad:UInt8}"
            " AND end_bucket = {bucket:Int32} AND sample_key = {key:Int64} AND conviva_session_id = {id:String}"
            " GROUP BY conviva_session_id",
            params,
            formats={"d": "bytes", "t": "bytes"},
        )
        if not rows:
            return None
        doc, timeline, dict_id = rows[0]
        return StoredTimeline(
            conviva_session_id, self._docs.decode(int(dict_id), doc, conviva_session_id), bytes(timeline) or None
        )

    def purge_ended_before(self, cutoff_ms: int) -> int:
        """Delete sessions (content and ad), their documents, ids, facts, last ends and viewer lookups
        whose end is before ``cutoff_ms`` now (the TTL does the same in merges). On a cluster the TTL
        alone applies the retention: every node runs the purge, and a delete on every shard from every
        node each hour would only repeat the TTL's work."""
        if self._cluster:
            return 0
        deleted = 0
        for table in ("sessions", "ad_sessions"):
            ((count,),) = self._query(
                f"SELECT count() FROM {table} FINAL WHERE end_ms < {{c:Int64}}",  # noqa: S608 - fixed names
                {"c": cutoff_ms},
            )
            if count:
                self._delete_expired_keys(table, "account_id, sample_key, conviva_session_id", cutoff_ms)
            deleted += int(count)
        # The tables reads take the current version from: every version of an expired key (a retraction
        # in the facts carries the end of the row it retracts, and shares its fate).
        self._delete_expired_keys("session_facts", "account_id, end_bucket, sample_key, conviva_session_id", cutoff_ms)
        self._delete_expired_keys("session_ends", "account_id, sample_key, conviva_session_id", cutoff_ms)
        for table in ("viewer_sessions", "session_docs", "session_ids"):  # addressed through the current version
            # (`sessions`, `session_ends`): a row of an older version that ended later is never read
            self._command(f"DELETE FROM {table} WHERE end_ms < {{c:Int64}}", {"c": cutoff_ms})  # noqa: S608
        self._command("DELETE FROM tag_keys WHERE last_end_ms < {c:Int64}", {"c": cutoff_ms})
        return deleted
