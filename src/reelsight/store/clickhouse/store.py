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

from reelsight.errors import AlreadyExists, NotFoundInStore, ReadTimeout, StorageFailure
from reelsight.query.parse import FLAG_PARAMS
from reelsight.query.selection import Selection
from reelsight.store.base import IP_PRIVACY_MODES, Account, ApiKey, StoredSession, require_account_scope
from reelsight.store.clickhouse.schema import MIGRATIONS, SESSION_COLUMNS, ttl_statement
from reelsight.store.records import SessionRecord

log = logging.getLogger("reelsight.store")
INSERT_CHUNK = 10_000  # sessions per INSERT: one part per chunk, never one per session
_TIMEOUT_CODE = 159  # TIMEOUT_EXCEEDED
_ACCOUNT_COLS = "id, name, viewer_module, business_error_patterns, ingest_key, created_ms, ip_privacy"
_KEY_COLS = "key_id, account_id, secret_hash, disabled, created_ms"
_FLAG_FIELDS = frozenset(FLAG_PARAMS)
DAY_MS = 86_400_000


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
    )


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
        self._migrate(retention_days)

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
                self._command(statement)
            self._insert("schema_migrations", [[version, time.time_ns() // 1_000_000]], ["version", "applied_ms"])
        self._set_ttl(retention_days)

    def _set_ttl(self, retention_days: int) -> None:
        """Apply ``retention_days`` as the sessions' TTL, only when it differs (a changed TTL may
        rewrite parts: not at every start of every node)."""
        table = "sessions_local" if self._cluster else "sessions"
        rows = self._query(
            "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
            {"t": table},
        )
        days = int(retention_days)
        if rows and any(form in rows[0][0] for form in (f"toIntervalDay({days})", f"INTERVAL {days} DAY")):
            return
        self._command(ttl_statement(retention_days, self._cluster))

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
    ) -> Sequence[Sequence[Any]]:
        try:
            result = self._client.query(sql, parameters=params, settings=self._read_settings, column_formats=formats)
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
        """Remove every account, key and session (tests, and scratch databases)."""
        for table in ("accounts", "api_keys", "sessions", "tag_keys"):
            self._command(f"TRUNCATE TABLE {table}")

    # -- accounts and credentials --------------------------------------------------------------

    def create_account(
        self,
        name: str,
        *,
        viewer_module: bool,
        business_error_patterns: Sequence[str],
        ingest_key: str,
        ip_privacy: str = "full",
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
            self._insert("accounts", [[*row, ip_privacy, _version()]], [*_ACCOUNT_COLS.split(", "), "version"])
        return self.get_account_by_id(int(top) + 1)

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
        """The key and its account, read on every request (no cache: a disabled key stops at once)."""
        keys = self._keys("key_id", key_id, "String")
        if not keys:
            return None
        try:
            return keys[0], self.get_account_by_id(keys[0].account_id)
        except NotFoundInStore:
            return None

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
            r.viewer_id,
            r.viewer_split,
            r.doc,
            version,
        ]

    def write_sessions(self, account_id: int, records: Iterable[SessionRecord]) -> int:
        """Insert ended sessions in chunks of ``INSERT_CHUNK``; a session written again replaces the
        account's session with the same conviva_session_id (the newest version wins)."""
        account_id = require_account_scope(account_id)
        written = 0
        iterator: Iterator[SessionRecord] = iter(records)
        while chunk := list(itertools.islice(iterator, INSERT_CHUNK)):
            version = _version()
            self._insert(
                "sessions", [self._row(account_id, r, version + i) for i, r in enumerate(chunk)], SESSION_COLUMNS
            )
            self._note_tag_keys(account_id, chunk)
            written += len(chunk)
        return written

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

    def sample_sessions(self, account_id: int, query: Selection) -> list[StoredSession]:
        """The ``limit`` matching sessions with the smallest sample keys, newest end first."""
        params: dict[str, object] = {
            "account": require_account_scope(account_id),
            "start": query.start_ms,
            "end": query.end_ms,
            "limit": query.limit,
        }
        where = compile_matches(query, params)
        picked = self._query(
            "SELECT sample_key, conviva_session_id FROM sessions FINAL"  # noqa: S608 - fixed identifiers
            " WHERE account_id = {account:UInt64} AND end_ms >= {start:Int64} AND end_ms < {end:Int64}"
            f" AND {where} ORDER BY sample_key, conviva_session_id LIMIT {{limit:UInt32}}",
            params,
        )
        if not picked:
            return []
        rows = self._query(
            "SELECT conviva_session_id, end_ms, doc, viewer_split, viewer_id FROM sessions FINAL"
            " WHERE account_id = {account:UInt64} AND sample_key IN {keys:Array(Int64)}"
            " AND conviva_session_id IN {ids:Array(String)}",
            {"account": account_id, "keys": [r[0] for r in picked], "ids": [r[1] for r in picked]},
            formats={"doc": "bytes"},
        )
        sessions = [StoredSession(r[0], int(r[1]), bytes(r[2]), int(r[3]), r[4]) for r in rows]
        sessions.sort(key=lambda s: (-s.end_ms, s.conviva_session_id))
        return sessions

    def purge_ended_before(self, cutoff_ms: int) -> int:
        """Delete sessions whose end is before ``cutoff_ms`` now (the TTL does the same in merges).
        On a cluster the TTL alone applies the retention: every node runs the purge, and a delete
        on every shard from every node each hour would only repeat the TTL's work."""
        if self._cluster:
            return 0
        ((count,),) = self._query("SELECT count() FROM sessions FINAL WHERE end_ms < {c:Int64}", {"c": cutoff_ms})
        if count:
            self._command("DELETE FROM sessions WHERE end_ms < {c:Int64}", {"c": cutoff_ms})
        self._command("DELETE FROM tag_keys WHERE last_end_ms < {c:Int64}", {"c": cutoff_ms})
        return int(count)
