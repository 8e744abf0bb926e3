"""The sample query: the ``limit`` matching sessions with the smallest sample keys, fast on any window.

Plan. Rows are clustered by (account, 15-minute end bucket, sample key). For a window we open one
cursor per bucket it touches, each walking its bucket in sample-key order with every filter applied
by SQLite, and merge the cursors lazily: the merge stops after ``limit`` rows, so the cost is about
``limit / selectivity`` rows however many sessions the window holds. When ``session_id`` or
``client_id`` is given, an index finds the few candidates directly instead: ``sessions_by_session_id``,
or for a client the range of ``sessions_by_conviva_id`` its ids share (``client_id + "."`` prefix).
When a filter is on a value with postings (``terms.py``: uncommon values of a few dimensions and of
custom tags) and the window holds few of them, the postings name the candidates instead: one cursor
joins them to their session rows in sample-key order (a value too common on some day of the window to
have postings there is read by bucket). The chosen documents are then fetched by id and
decompressed (``documents.py``).
"""

from __future__ import annotations

import heapq
import itertools
import sqlite3
from collections.abc import Iterator

from reelsight.query.selection import Match, Selection
from reelsight.store.base import StoredSession
from reelsight.store.records import BUCKET_MS, TAG_KEY_END, TAG_SEPARATOR
from reelsight.store.sqlite import terms
from reelsight.store.sqlite.documents import DocumentReader

Row = tuple[int, str, int, int]  # sample_key, conviva_session_id, end_ms, doc_id
# A tag filter on the inline tag list (see records.encode_tags): the key with that value is present;
# for the value "" also when the key is absent altogether.
_TAG_EQUALS = "instr(tags, char(31) || ? || char(30) || ? || char(31)) > 0"
_TAG_ABSENT = "instr(tags, char(31) || ? || char(30)) = 0"


def _select(table: str) -> str:
    return f"SELECT sample_key, conviva_session_id, end_ms, doc_id FROM {table}"  # noqa: S608 - fixed names


def table_of(sel: Selection) -> str:
    """The table a selection reads: content sessions, or ad sessions (one layout, ``schema.py``)."""
    return "ad_sessions" if sel.kind == "ad" else "sessions"


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def _storable(text: str) -> bool:
    return TAG_SEPARATOR not in text and TAG_KEY_END not in text


def filter_sql(sel: Selection) -> tuple[str, list[object]]:
    """``AND ...`` conditions for every match of the selection, with their bound parameters.

    Identifiers come from the fixed flag and dimension tables; every value is a bound parameter.
    """
    parts: list[str] = ["is_ended = 1"]
    params: list[object] = []
    for match in sel.matches:
        if match.kind == "scalar":
            parts.append(f"{match.field} IN ({_placeholders(len(match.values))})")
            params.extend(int(v) if isinstance(v, bool) else v for v in match.values)
        elif match.kind == "any_element":
            marks = _placeholders(len(match.values))
            parts.append(f"EXISTS (SELECT 1 FROM json_each({table_of(sel)}.{match.field}) WHERE value IN ({marks}))")  # noqa: S608
            params.extend(match.values)
        else:
            parts.append(_tag_condition(match, params))
    return " AND ".join(parts), params


def _tag_condition(match: Match, params: list[object]) -> str:
    alternatives: list[str] = []
    values = [v for v in match.values if isinstance(v, str)]
    if _storable(match.key):  # a key or value with a separator in it is never stored: it cannot match
        for value in filter(_storable, values):
            alternatives.append(_TAG_EQUALS)
            params.extend((match.key, value))
        if "" in values:
            alternatives.append(_TAG_ABSENT)
            params.append(match.key)
    elif "" in values:
        alternatives.append("1")  # no session has that tag, so every one has the value ""
    return "(" + (" OR ".join(alternatives) or "0") + ")"


def _bucket_cursors(
    conn: sqlite3.Connection,
    account_id: int,
    query: Selection,
    where: str,
    params: list[object],
) -> list[Iterator[Row]]:
    sql = (
        f"{_select(table_of(query))} WHERE account_id = ? AND end_bucket = ? AND end_ms >= ? AND end_ms < ?"
        f" AND {where} ORDER BY sample_key, conviva_session_id"
    )
    first, last = query.start_ms // BUCKET_MS, (query.end_ms - 1) // BUCKET_MS
    return [
        conn.execute(sql, [account_id, bucket, query.start_ms, query.end_ms, *params])
        for bucket in range(first, last + 1)
    ]


# The postings plan reads each candidate's row by key (a few µs); the bucket plan reads ~1 µs a row but
# needs limit / selectivity rows. Above this many candidates the postings stop paying off for sure.
POSTINGS_MAX = 6000


def _match_terms(match: Match) -> list[int] | None:
    """The terms whose postings hold every session ``match`` matches; None when it has no postings
    (another field, or the value "" that also matches sessions without the field)."""
    values = [v for v in match.values if isinstance(v, str)]
    if "" in values or len(values) != len(match.values):
        return None
    if match.kind == "scalar" and match.field in terms.TERM_COLUMNS:
        return [terms.term(match.field, v) for v in values]
    if match.kind == "tag" and _storable(match.key) and all(map(_storable, values)):
        return [terms.term(terms.tag_field(match.key), v) for v in values]
    return None


def _postings_plan(
    conn: sqlite3.Connection, account_id: int, query: Selection, where: str, params: list[object]
) -> list[Iterator[Row]] | None:
    """A cursor over the candidates of the most selective match with postings in every day of the window,
    or None when no match has them or they are too many (the bucket plan is as good then). Only content
    sessions have postings."""
    if query.kind != "content":
        return None
    first, last = query.start_ms // BUCKET_MS, (query.end_ms - 1) // BUCKET_MS
    days = list(range(first // terms.DAY_BUCKETS, last // terms.DAY_BUCKETS + 1))
    best: tuple[int, list[int]] | None = None  # candidates, terms
    for match in query.matches:
        found = _match_terms(match)
        if found is None:
            continue
        in_days = f"day IN ({_placeholders(len(days))}) AND term IN ({_placeholders(len(found))})"
        if conn.execute(  # a day where the value is common has no postings: read by bucket
            f"SELECT 1 FROM filter_term_overflow WHERE account_id = ? AND {in_days} LIMIT 1",  # noqa: S608
            [account_id, *days, *found],
        ).fetchone():
            continue
        (count,) = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM filter_terms WHERE account_id = ? AND {in_days}"  # noqa: S608
            " AND end_bucket BETWEEN ? AND ? LIMIT ?)",
            [account_id, *days, *found, first, last, POSTINGS_MAX + 1],
        ).fetchone()
        if count <= POSTINGS_MAX and (best is None or count < best[0]):
            best = (count, found)
    if best is None:
        return None
    found = best[1]
    # DISTINCT: a session replaced with another value of the same filter may have a stale posting too.
    # "+t.end_bucket": without it SQLite carries the window's bucket range over to the sessions lookup
    # and searches each candidate by (account, bucket range) - the whole window per posting - instead
    # of by its primary key (seen on the 2.3M-session benchmark file: 10 s instead of milliseconds).
    # Fixed identifiers and placeholders; every value is bound.
    sql = (
        "SELECT DISTINCT sessions.sample_key, sessions.conviva_session_id, sessions.end_ms, sessions.doc_id"  # noqa: S608
        " FROM filter_terms AS t CROSS JOIN sessions ON sessions.account_id = t.account_id"
        " AND sessions.end_bucket = +t.end_bucket AND sessions.sample_key = t.sample_key"
        f" WHERE t.account_id = ? AND t.day IN ({_placeholders(len(days))})"
        f" AND t.term IN ({_placeholders(len(found))}) AND t.end_bucket BETWEEN ? AND ?"
        f" AND sessions.end_ms >= ? AND sessions.end_ms < ? AND {where}"
        " ORDER BY sessions.sample_key, sessions.conviva_session_id LIMIT ?"
    )
    args = [account_id, *days, *found, first, last, query.start_ms, query.end_ms, *params, query.limit]
    return [conn.execute(sql, args)]


def _by_id_index(
    conn: sqlite3.Connection, account_id: int, query: Selection, where: str, params: list[object]
) -> list[Iterator[Row]]:
    order = " ORDER BY sample_key, conviva_session_id LIMIT ?"
    window = [query.start_ms, query.end_ms]
    table = table_of(query)
    if any(m.kind == "scalar" and m.field == "session_id" for m in query.matches):
        sql = (
            f"{_select(table)} INDEXED BY {table}_by_session_id WHERE account_id = ? AND end_ms >= ? AND end_ms < ?"
            f" AND {where}{order}"
        )
        return [conn.execute(sql, [account_id, *window, *params, query.limit])]
    # conviva_session_id is client_id + "." + session_id: a client's sessions are one range of the index,
    # one sorted cursor per client (the client_id condition keeps a longer client id's rows out of it).
    (clients,) = (m.values for m in query.matches if m.kind == "scalar" and m.field == "client_id")
    sql = (
        f"{_select(table)} INDEXED BY {table}_by_conviva_id WHERE account_id = ? AND conviva_session_id >= ?"
        f" AND conviva_session_id < ? AND client_id = ? AND end_ms >= ? AND end_ms < ? AND {where}{order}"
    )
    return [
        conn.execute(sql, [account_id, f"{client}.", f"{client}/", client, *window, *params, query.limit])
        for client in dict.fromkeys(str(c) for c in clients)
    ]


def sample(
    conn: sqlite3.Connection, account_id: int, query: Selection, documents: DocumentReader
) -> list[StoredSession]:
    """The sample for one account, ordered by end time (newest first), ties by conviva_session_id.

    ``documents`` decompresses the stored documents; a damaged one raises ``StorageFailure``."""
    where, params = filter_sql(query)
    if query.by_id:
        cursors = _by_id_index(conn, account_id, query, where, params)
    else:
        cursors = _postings_plan(conn, account_id, query, where, params) or _bucket_cursors(
            conn, account_id, query, where, params
        )
    picked: list[Row] = list(itertools.islice(heapq.merge(*cursors), query.limit))
    for cursor in cursors:
        cursor.close()  # type: ignore[attr-defined]
    picked.sort(key=lambda row: (-row[2], row[1]))
    return fetch_documents(conn, picked, documents)


def fetch_documents(conn: sqlite3.Connection, picked: list[Row], documents: DocumentReader) -> list[StoredSession]:
    """The chosen sessions with their documents, in the order given; a damaged document raises
    ``StorageFailure``."""
    if not picked:
        return []
    doc_ids = [row[3] for row in picked]
    decode = documents.decode
    docs = {
        doc_id: (decode(conn, doc_id, dict_id, doc), split, viewer_id)
        for doc_id, dict_id, doc, split, viewer_id in conn.execute(
            "SELECT id, dict_id, doc, viewer_split, viewer_id FROM session_docs"
            " WHERE id IN (SELECT value FROM json_each(?))",
            ["[" + ",".join(map(str, doc_ids)) + "]"],
        )
    }
    return [
        StoredSession(
            conviva_session_id=csid,
            end_ms=end_ms,
            doc=docs[doc_id][0],
            viewer_split=docs[doc_id][1],
            viewer_id=docs[doc_id][2],
        )
        for _key, csid, end_ms, doc_id in picked
    ]
