"""The viewer lookup: an account's content sessions by viewer id or client address, newest first.

``viewer_sessions (account_id, day, lookup, end_ms, sample_key)`` holds one row per content session
and lookup key: a 64-bit hash of ``v:`` + its viewer id, and of ``i:`` + each client address it was
seen from (IPv4 and IPv6, canonical), per UTC day of the session's end. A lookup over ``days`` reads
one short range per day of the window, then each session row by its primary key (its end bucket is
``end_ms // BUCKET_MS``), so its cost is the viewer's own sessions, not the window's. The hash keeps a
row at about 30 bytes; a row only names a candidate, and every candidate is checked against its
document (the viewer id, or the addresses), so a hash collision costs a lookup, never a wrong
session. Rows are written, replaced and purged in the transactions that write, replace and purge
their sessions; a file from before migration 9 is backfilled when the store opens (:func:`backfill`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import sqlite3

import msgspec

from reelsight.query.viewer import ViewerQuery
from reelsight.store.base import StoredSession
from reelsight.store.records import BUCKET_MS, SessionRecord, canonical_addresses, lookup_key, viewer_lookups
from reelsight.store.sqlite.documents import DocumentReader
from reelsight.store.sqlite.reader import Row, fetch_documents

DAY_MS = 86_400_000
_BACKFILL_BATCH = 20_000
_INSERT = "INSERT OR IGNORE INTO viewer_sessions (account_id, day, lookup, end_ms, sample_key) VALUES (?, ?, ?, ?, ?)"
# Candidates read beyond ``limit``: room for hash collisions dropped by the check (practically none).
_SPARE = 8


class _Network(msgspec.Struct, frozen=True):
    ip: str = ""
    ipv6: str = ""


class _Addresses(msgspec.Struct, frozen=True):
    """The part of a stored document the lookup keys need (``msgspec`` skips the rest)."""

    network_info: _Network = _Network()


_DECODER = msgspec.json.Decoder(_Addresses)


def term(key: str) -> int:
    """The stored form of a lookup key: the first 8 bytes of its BLAKE2b, as a signed integer."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def _document_ips(doc: bytes) -> tuple[str, ...]:
    network = _DECODER.decode(doc).network_info
    return canonical_addresses(network.ip, network.ipv6)


def note(conn: sqlite3.Connection, account_id: int, r: SessionRecord) -> None:
    """Inside a write transaction: the lookup rows of one content session being written."""
    day = r.end_ms // DAY_MS
    conn.executemany(
        _INSERT, [(account_id, day, term(key), r.end_ms, r.sample_key) for key in viewer_lookups(r.viewer_id, r.ips)]
    )


def forget(conn: sqlite3.Connection, account_id: int, end_ms: int, sample_key: int, viewer_id: str, doc: bytes) -> None:
    """Inside a write transaction: the lookup rows of a stored content session about to be replaced
    (``doc`` its decompressed document)."""
    conn.executemany(
        "DELETE FROM viewer_sessions WHERE account_id = ? AND day = ? AND lookup = ? AND end_ms = ? AND sample_key = ?",
        [
            (account_id, end_ms // DAY_MS, term(key), end_ms, sample_key)
            for key in viewer_lookups(viewer_id, _document_ips(doc))
        ],
    )


def _candidates(conn: sqlite3.Connection, account_id: int, query: ViewerQuery) -> list[Row]:
    """``(sample_key, conviva_session_id, end_ms, doc_id)`` of the newest sessions the lookup rows name,
    ``limit`` plus a few, viewer ids already checked.

    The session row is found by its primary key (``tests`` check the plan; the unary ``+`` keeps the
    bucket term out of any index range, as in ``reader.py``'s postings join)."""
    first, last = query.start_ms // DAY_MS, (query.end_ms - 1) // DAY_MS
    days = list(range(first, last + 1))
    marks = ",".join("?" * len(days))
    viewer_check = " AND d.viewer_id = ?" if query.kind == "viewer_id" else ""
    sql = (
        "SELECT s.sample_key, s.conviva_session_id, s.end_ms, s.doc_id"  # noqa: S608 - placeholders only
        " FROM viewer_sessions AS v CROSS JOIN sessions AS s ON s.account_id = v.account_id"
        f" AND s.end_bucket = +(v.end_ms / {BUCKET_MS}) AND s.sample_key = v.sample_key"
        " CROSS JOIN session_docs AS d ON d.id = s.doc_id"
        f" WHERE v.account_id = ? AND v.day IN ({marks}) AND v.lookup = ? AND v.end_ms >= ? AND v.end_ms < ?"
        f" AND s.end_ms = v.end_ms AND s.is_ended = 1{viewer_check}"
        " ORDER BY v.end_ms DESC, s.conviva_session_id LIMIT ?"
    )
    args: list[object] = [account_id, *days, term(lookup_key(query.kind, query.value)), query.start_ms, query.end_ms]
    if query.kind == "viewer_id":
        args.append(query.value)
    args.append(query.limit + _SPARE)
    return [(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in conn.execute(sql, args)]


def lookup(
    conn: sqlite3.Connection, account_id: int, query: ViewerQuery, documents: DocumentReader
) -> list[StoredSession]:
    """The ``limit`` newest ended content sessions of the viewer id or address in the window."""
    found = fetch_documents(conn, _candidates(conn, account_id, query), documents)
    if query.kind == "ip":
        wanted = ipaddress.ip_address(query.value)
        found = [s for s in found if any(ipaddress.ip_address(ip) == wanted for ip in _document_ips(s.doc))]
    return found[: query.limit]


def purge_before(conn: sqlite3.Connection, account_id: int, cutoff_ms: int) -> None:
    """Inside a write transaction: one account's rows of sessions that ended before ``cutoff_ms``."""
    conn.execute(
        "DELETE FROM viewer_sessions WHERE account_id = ? AND day <= ? AND end_ms < ?",
        (account_id, cutoff_ms // DAY_MS, cutoff_ms),
    )


def backfill_pending(conn: sqlite3.Connection) -> bool:
    """True while the content sessions of a file from before migration 9 have no lookup rows yet."""
    return conn.execute("SELECT 1 FROM viewer_sessions_backfill").fetchone() is not None


def backfill(conn: sqlite3.Connection, documents: DocumentReader) -> int:
    """Inside one write transaction: lookup rows for every stored content session (their addresses
    are read from the documents), and the backfill marked done; returns how many sessions."""
    conn.execute("DELETE FROM viewer_sessions_backfill")
    select = (
        "SELECT s.account_id, s.end_bucket, s.sample_key, s.conviva_session_id, s.end_ms, d.id, d.dict_id, d.doc,"
        " d.viewer_id FROM sessions AS s JOIN session_docs AS d ON d.id = s.doc_id"
        " WHERE (s.account_id, s.end_bucket, s.sample_key, s.conviva_session_id) > (?, ?, ?, ?)"
        " ORDER BY s.account_id, s.end_bucket, s.sample_key, s.conviva_session_id LIMIT ?"
    )
    after: tuple[int, int, int, str] = (-(2**63), -(2**63), -(2**63), "")
    done = 0
    while True:
        rows = conn.execute(select, (*after, _BACKFILL_BATCH)).fetchall()
        if not rows:
            return done
        new: list[tuple[int, int, int, int, int]] = []
        for account_id, _bucket, key, _csid, end_ms, doc_id, dict_id, doc, viewer_id in rows:
            ips = _document_ips(documents.decode(conn, doc_id, dict_id, bytes(doc)))
            day = end_ms // DAY_MS
            new += [(account_id, day, term(lookup), end_ms, key) for lookup in viewer_lookups(viewer_id, ips)]
        conn.executemany(_INSERT, new)
        done += len(rows)
        after = tuple(rows[-1][:4])
