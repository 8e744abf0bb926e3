"""Aggregates on SQLite: sums of the metric inputs per bucket and group, and the per-minute rollup.

Every content session row carries its metric inputs as integer columns (``a_*``, migration 10), so a
filtered or grouped figure is one ``GROUP BY`` over the window's rows, read in primary-key order
(account, 15-minute end bucket): its cost is the sessions *in the window*, never a document.

An unfiltered, ungrouped figure (the platform's totals and series) reads ``aggregate_minutes``
instead: per account and minute of the sessions' end, the sums of every input, kept up in the
transaction that writes, replaces or purges a session. A month is then at most 44,640 small rows; the
partial minutes at the range's edges (a start or end not on a minute) are read from the sessions.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable

import msgspec

from reelsight.aggregates.inputs import FACT_COLUMNS, SUM_FIELDS, Sums, facts
from reelsight.query.aggregates import AggregateQuery, GroupBy
from reelsight.query.parse import FLAG_PARAMS
from reelsight.sessions.document import SessionDocument
from reelsight.store.base import AggregateRow
from reelsight.store.records import BUCKET_MS, TAG_KEY_END, TAG_SEPARATOR, SessionRecord
from reelsight.store.sqlite.documents import DocumentReader
from reelsight.store.sqlite.reader import filter_sql

log = logging.getLogger("reelsight.store")

MINUTE_MS = 60_000
ROLLUP_COLUMNS: tuple[str, ...] = ("attempts", *FLAG_PARAMS, *FACT_COLUMNS)  # in SUM_FIELDS order
assert len(ROLLUP_COLUMNS) == len(SUM_FIELDS)
_SESSION_SUMS = ", ".join(["count(*)", *(f"sum({c})" for c in (*FLAG_PARAMS, *FACT_COLUMNS))])
_ROLLUP_SUMS = ", ".join(f"sum({c})" for c in ROLLUP_COLUMNS)
_ADD = ", ".join(f"{c} = {c} + excluded.{c}" for c in ROLLUP_COLUMNS)
_UPSERT = (
    f"INSERT INTO aggregate_minutes (account_id, minute, {', '.join(ROLLUP_COLUMNS)})"  # noqa: S608 - fixed names
    f" VALUES ({','.join('?' * (2 + len(ROLLUP_COLUMNS)))})"
    f" ON CONFLICT (account_id, minute) DO UPDATE SET {_ADD}"
)
# A stored session's contribution, subtracted (the upsert adds the negated row).
_SUBTRACT = (
    f"INSERT INTO aggregate_minutes (account_id, minute, {', '.join(ROLLUP_COLUMNS)})"  # noqa: S608 - fixed names
    f" SELECT account_id, end_ms / {MINUTE_MS}, -1, {', '.join('-' + c for c in ROLLUP_COLUMNS[1:])}"
    " FROM sessions WHERE account_id = ? AND conviva_session_id = ? AND is_ended = 1"
    f" ON CONFLICT (account_id, minute) DO UPDATE SET {_ADD}"
)
_BACKFILL_BATCH = 20_000


def note(conn: sqlite3.Connection, account_id: int, r: SessionRecord) -> None:
    """Inside a write transaction: add one content session being written to its minute."""
    if r.is_ended and not r.is_ad:
        conn.execute(_UPSERT, (account_id, r.end_ms // MINUTE_MS, 1, *map(int, r.flags), *r.facts))


def forget(conn: sqlite3.Connection, account_id: int, conviva_session_id: str) -> None:
    """Inside a write transaction, before the content session is deleted: take it out of its minute."""
    conn.execute(_SUBTRACT, (account_id, conviva_session_id))


def purge_before(conn: sqlite3.Connection, account_id: int, cutoff_ms: int) -> None:
    """Inside a write transaction, after the account's sessions that ended before ``cutoff_ms`` were
    deleted: drop the minutes before it, and recount the minute it falls in from the sessions left."""
    minute = cutoff_ms // MINUTE_MS
    conn.execute("DELETE FROM aggregate_minutes WHERE account_id = ? AND minute <= ?", (account_id, minute))
    _rebuild(conn, "account_id = ? AND end_bucket BETWEEN ? AND ? AND end_ms >= ? AND end_ms < ?", [
        account_id, minute * MINUTE_MS // BUCKET_MS, (minute + 1) * MINUTE_MS // BUCKET_MS,
        minute * MINUTE_MS, (minute + 1) * MINUTE_MS,
    ])  # fmt: skip


def _rebuild(conn: sqlite3.Connection, where: str, params: list[object]) -> None:
    conn.execute(
        f"INSERT INTO aggregate_minutes (account_id, minute, {', '.join(ROLLUP_COLUMNS)})"  # noqa: S608 - fixed names
        f" SELECT account_id, end_ms / {MINUTE_MS}, {_SESSION_SUMS} FROM sessions WHERE is_ended = 1 AND {where}"
        " GROUP BY account_id, end_ms / 60000",
        params,
    )


def backfill_pending(conn: sqlite3.Connection) -> bool:
    """True while the sessions of a file from before migration 10 have no metric inputs yet."""
    return conn.execute("SELECT 1 FROM aggregate_backfill").fetchone() is not None


def backfill(conn: sqlite3.Connection, documents: DocumentReader) -> int:
    """Inside one write transaction: the metric inputs of every stored session (content and ad), read from
    its document, then the rollup rebuilt from them; returns how many sessions."""
    conn.execute("DELETE FROM aggregate_backfill")
    sets = ", ".join(f"{c} = ?" for c in FACT_COLUMNS)
    done = unreadable = 0
    for table in ("sessions", "ad_sessions"):
        select = (
            f"SELECT s.account_id, s.end_bucket, s.sample_key, s.conviva_session_id, d.id, d.dict_id, d.doc"  # noqa: S608
            f" FROM {table} AS s JOIN session_docs AS d ON d.id = s.doc_id"
            " WHERE (s.account_id, s.end_bucket, s.sample_key, s.conviva_session_id) > (?, ?, ?, ?)"
            " ORDER BY s.account_id, s.end_bucket, s.sample_key, s.conviva_session_id LIMIT ?"
        )
        update = (
            f"UPDATE {table} SET {sets} WHERE account_id = ? AND end_bucket = ? AND sample_key = ?"  # noqa: S608
            " AND conviva_session_id = ?"
        )
        after: tuple[int, int, int, str] = (-(2**63), -(2**63), -(2**63), "")
        while rows := conn.execute(select, (*after, _BACKFILL_BATCH)).fetchall():
            updates = []
            for account_id, bucket, key, csid, doc_id, dict_id, doc in rows:
                try:
                    document = msgspec.json.decode(
                        documents.decode(conn, doc_id, dict_id, bytes(doc)), type=SessionDocument
                    )
                except msgspec.DecodeError:  # ValidationError included: not a whole document
                    # Counts as an attempt with no time (the columns' zero defaults); the file still opens.
                    unreadable += 1
                    continue
                updates.append((*facts(document), account_id, bucket, key, csid))
            conn.executemany(update, updates)
            done += len(rows)
            after = tuple(rows[-1][:4])
    if unreadable:
        log.warning("aggregate inputs: %d stored documents could not be read and count with zero inputs", unreadable)
    conn.execute("DELETE FROM aggregate_minutes")
    _rebuild(conn, "1", [])
    return done


def _group_sql(group: GroupBy | None, params: list[object]) -> tuple[str, str]:
    """The group expression and any join it needs."""
    if group is None:
        return "''", ""
    if group.kind == "dimension" and group.multi:
        # One group per distinct element of the list (a repeated CDN counts once); none: the group "".
        join = (
            f" LEFT JOIN json_each(sessions.{group.name}) AS element ON element.id ="  # noqa: S608 - fixed names
            f" (SELECT min(j.id) FROM json_each(sessions.{group.name}) AS j WHERE j.value = element.value)"
        )
        return "coalesce(element.value, '')", join
    if group.kind == "dimension":
        return group.column, ""
    if TAG_SEPARATOR in group.name or TAG_KEY_END in group.name:
        return "''", ""  # such a key is never stored: every session has the value ""
    # tags is \x1fkey\x1evalue\x1f...: the value runs from after "\x1fkey\x1e" to the next \x1f.
    marker = TAG_SEPARATOR + group.name + TAG_KEY_END
    params.extend([marker, marker, len(marker), marker, len(marker)])
    return (
        "CASE WHEN instr(tags, ?) > 0 THEN substr(substr(tags, instr(tags, ?) + ?), 1,"
        " instr(substr(tags, instr(tags, ?) + ?), char(31)) - 1) ELSE '' END"
    ), ""


def _bucket_sql(query: AggregateQuery, column: str, params: list[object]) -> str:
    if query.bucket_ms is None:
        return "0"
    params.extend([query.origin_ms, query.bucket_ms])
    return f"({column} - ?) / ?"


def _from_sessions(
    conn: sqlite3.Connection, account_id: int, query: AggregateQuery, start_ms: int, end_ms: int
) -> Iterable[tuple[int, str, Sums]]:
    if start_ms >= end_ms:
        return []
    params: list[object] = []
    bucket = _bucket_sql(query, "end_ms", params)
    group, join = _group_sql(query.group_by, params)
    where, where_params = filter_sql(query.selection)
    sql = (
        f"SELECT {bucket}, {group}, {_SESSION_SUMS} FROM sessions{join}"  # noqa: S608 - fixed names, bound values
        " WHERE account_id = ? AND end_bucket BETWEEN ? AND ? AND end_ms >= ? AND end_ms < ?"
        f" AND {where} GROUP BY 1, 2"
    )
    params += [account_id, start_ms // BUCKET_MS, (end_ms - 1) // BUCKET_MS, start_ms, end_ms, *where_params]
    return ((int(r[0]), str(r[1]), tuple(int(v or 0) for v in r[2:])) for r in conn.execute(sql, params))


def _from_rollup(
    conn: sqlite3.Connection, account_id: int, query: AggregateQuery, first_minute: int, end_minute: int
) -> Iterable[tuple[int, str, Sums]]:
    params: list[object] = []
    bucket = _bucket_sql(query, f"minute * {MINUTE_MS}", params)
    sql = (
        f"SELECT {bucket}, {_ROLLUP_SUMS} FROM aggregate_minutes"  # noqa: S608 - fixed names, bound values
        " WHERE account_id = ? AND minute >= ? AND minute < ? GROUP BY 1"
    )
    params += [account_id, first_minute, end_minute]
    return ((int(r[0]), "", tuple(int(v) for v in r[1:])) for r in conn.execute(sql, params))


def aggregate(conn: sqlite3.Connection, account_id: int, query: AggregateQuery) -> list[AggregateRow]:
    """The sums per bucket and group of the ended content sessions the query selects."""
    start_ms, end_ms = query.selection.start_ms, query.selection.end_ms
    parts: list[Iterable[tuple[int, str, Sums]]]
    first_minute, end_minute = -(-start_ms // MINUTE_MS), end_ms // MINUTE_MS
    # Rollup rows are whole minutes: usable when the buckets are made of whole minutes too.
    aligned = query.bucket_ms is None or (query.bucket_ms % MINUTE_MS == 0 and query.origin_ms % MINUTE_MS == 0)
    if query.unfiltered and aligned and first_minute < end_minute:
        parts = [
            _from_sessions(conn, account_id, query, start_ms, first_minute * MINUTE_MS),
            _from_rollup(conn, account_id, query, first_minute, end_minute),
            _from_sessions(conn, account_id, query, end_minute * MINUTE_MS, end_ms),
        ]
    else:
        parts = [_from_sessions(conn, account_id, query, start_ms, end_ms)]
    merged: dict[tuple[int, str], Sums] = {}
    for part in parts:
        for bucket, group, sums in part:
            before = merged.get((bucket, group))
            merged[(bucket, group)] = (
                sums if before is None else tuple(a + b for a, b in zip(before, sums, strict=True))
            )
    return [AggregateRow(b, g, s) for (b, g), s in merged.items() if s[0]]
