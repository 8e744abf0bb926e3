"""Filter terms: a small posting list that finds the few sessions of a selective filter in a big window.

The sample's bucket plan (``reader.py``) reads about ``limit / selectivity`` rows: for a value only a
few hundred sessions of a 300,000-session window have (the rarest ISP, one app build), that is the
whole window. For the fields a selective filter is likely on (:data:`TERM_COLUMNS`, and every custom
tag) the store keeps, per account and day, the sessions that have a value, in ``filter_terms``
``(account_id, day, term, end_bucket, sample_key)``; the term is a 64-bit hash of field and value.

Only rare values are kept: once a term has :data:`DAY_CAP` sessions in a day, its postings of that day
are deleted and the day is marked in ``filter_term_overflow``; a filter on it reads those days by
bucket, as before (a common value needs few rows per returned session there anyway). So a posting
costs about 25 bytes, and only the uncommon values of a day pay it.

A posting only ever narrows the candidates: the reader joins it to the session row and applies the
whole filter there, so a hash collision or a stale posting (a session replaced with other values)
costs a lookup, never a wrong answer. A missing posting would lose sessions: every session written
gets its postings in the same transaction, and a file from before migration 7 is backfilled when the
store opens (:func:`backfill`) before the reader may use them.
"""

from __future__ import annotations

import collections
import hashlib
import sqlite3
from collections.abc import Iterable, Sequence

from reelsight.query.dimensions import SCALAR_DIMENSIONS
from reelsight.store.records import BUCKET_MS, TAG_KEY_END, TAG_SEPARATOR, SessionRecord

# Dimensions with many values, each a small share of the sessions: where a filter is selective.
# (Values like asset or stream_url are selective too, but nearly every one is rare: indexing them
# would cost a posting per session each; ASN mostly mirrors the ISP. They are left to the bucket plan.)
# Changing this tuple needs a migration that empties filter_terms and re-runs the backfill: a column
# added without its postings would lose sessions.
TERM_COLUMNS: tuple[str, ...] = ("d_isp", "d_geo_city_name")
DAY_BUCKETS = 86_400_000 // BUCKET_MS
DAY_CAP = 2048  # postings per term and day; beyond it the day is read by bucket for that term
_INDEXES = tuple(i for i, d in enumerate(SCALAR_DIMENSIONS) if d.column in TERM_COLUMNS)
assert len(_INDEXES) == len(TERM_COLUMNS), "TERM_COLUMNS must name scalar dimension columns"

Posting = tuple[int, int, int, int]  # day, term, end_bucket, sample_key
_OVERFLOWED = -1


def term(field: str, value: str) -> int:
    """The 64-bit term of a field (a dimension column, or ``tag:`` + key) and a value, signed for SQLite."""
    digest = hashlib.blake2b(f"{field}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def tag_field(key: str) -> str:
    return "tag:" + key


def record_terms(r: SessionRecord) -> list[int]:
    """The terms of one session: its values of :data:`TERM_COLUMNS` and its custom tags (empty values left out)."""
    found = [term(SCALAR_DIMENSIONS[i].column, r.dimensions[i]) for i in _INDEXES if r.dimensions[i]]
    found += [term(tag_field(k), v) for k, v in r.custom_tags if v]
    return found


def row_terms(columns: Sequence[str], tags: str) -> list[int]:
    """The terms of a stored ``sessions`` row: its :data:`TERM_COLUMNS` values (in that order) and inline tags."""
    found = [term(column, value) for column, value in zip(TERM_COLUMNS, columns, strict=True) if value]
    for item in tags.strip(TAG_SEPARATOR).split(TAG_SEPARATOR) if tags else ():
        key, _, value = item.partition(TAG_KEY_END)
        if value:
            found.append(term(tag_field(key), value))
    return found


def postings(end_bucket: int, sample_key: int, terms: Iterable[int]) -> list[Posting]:
    day = end_bucket // DAY_BUCKETS
    return [(day, t, end_bucket, sample_key) for t in terms]


class Postings:
    """The writer's side of the postings: adds them under the cap, remembering how many each (account,
    day, term) holds so that a write costs no count query per term. One per store, used under its write
    lock; :meth:`forget` after a transaction that did not commit (the memory would be ahead of the file)."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, int, int], int] = {}  # postings stored; OVERFLOWED past the cap

    def forget(self) -> None:
        self._held.clear()

    def add(self, conn: sqlite3.Connection, account_id: int, new: Sequence[Posting]) -> None:
        """Inside a write transaction: store ``new`` postings of one account, keeping every (day, term)
        under :data:`DAY_CAP` (past it: the day's postings for the term are dropped and the day marked)."""
        by_day_term: dict[tuple[int, int], list[Posting]] = collections.defaultdict(list)
        for p in new:
            by_day_term[(p[0], p[1])].append(p)
        rows: list[tuple[int, int, int, int, int]] = []
        for (day, t), group in by_day_term.items():
            key = (account_id, day, t)
            held = self._held.get(key)
            if held is None:
                held = self._load(conn, key)
            if held == _OVERFLOWED:
                continue
            if held + len(group) > DAY_CAP:
                conn.execute("DELETE FROM filter_terms WHERE account_id = ? AND day = ? AND term = ?", key)
                conn.execute("INSERT OR IGNORE INTO filter_term_overflow VALUES (?, ?, ?)", key)
                self._held[key] = _OVERFLOWED
                continue
            self._held[key] = held + len(group)  # a replaced session's posting counts twice: harmless
            rows.extend((account_id, *p) for p in group)
        conn.executemany("INSERT OR IGNORE INTO filter_terms VALUES (?, ?, ?, ?, ?)", rows)

    def _load(self, conn: sqlite3.Connection, key: tuple[int, int, int]) -> int:
        if conn.execute(
            "SELECT 1 FROM filter_term_overflow WHERE account_id = ? AND day = ? AND term = ?", key
        ).fetchone():
            return _OVERFLOWED
        (held,) = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM filter_terms WHERE account_id = ? AND day = ? AND term = ? LIMIT ?)",
            (*key, DAY_CAP + 1),
        ).fetchone()
        return int(held)


def purge_days_before(conn: sqlite3.Connection, account_id: int, cutoff_bucket: int) -> None:
    """Inside a write transaction: drop one account's postings and overflow marks of the days wholly
    before ``cutoff_bucket`` (those of the day it falls in stay until the next purge: harmless)."""
    cutoff_day = cutoff_bucket // DAY_BUCKETS
    for table in ("filter_terms", "filter_term_overflow"):
        conn.execute(f"DELETE FROM {table} WHERE account_id = ? AND day < ?", (account_id, cutoff_day))  # noqa: S608


_BACKFILL_BATCH = 20_000


def backfill_pending(conn: sqlite3.Connection) -> bool:
    """True while the file's sessions from before migration 7 have no postings yet."""
    return conn.execute("SELECT 1 FROM filter_terms_backfill").fetchone() is not None


def backfill(conn: sqlite3.Connection, writer: Postings) -> int:
    """Inside one write transaction: postings for every stored session (a file from before migration 7),
    and the backfill marked done; returns how many sessions."""
    conn.execute("DELETE FROM filter_terms_backfill")
    done = 0
    columns = ", ".join(TERM_COLUMNS)  # fixed names
    select = (
        f"SELECT account_id, end_bucket, sample_key, conviva_session_id, {columns}, tags"  # noqa: S608
        " FROM sessions WHERE (account_id, end_bucket, sample_key, conviva_session_id) > (?, ?, ?, ?)"
        " ORDER BY account_id, end_bucket, sample_key, conviva_session_id LIMIT ?"
    )
    after: tuple[int, int, int, str] = (-(2**63), -(2**63), -(2**63), "")
    while True:
        rows = conn.execute(select, (*after, _BACKFILL_BATCH)).fetchall()
        if not rows:
            return done
        per_account: dict[int, list[Posting]] = collections.defaultdict(list)
        for account_id, end_bucket, key, _csid, *values, tags in rows:
            per_account[account_id] += postings(end_bucket, key, row_terms(values, tags))
        for account_id, new in per_account.items():
            writer.add(conn, account_id, new)
        done += len(rows)
        after = tuple(rows[-1][:4])
