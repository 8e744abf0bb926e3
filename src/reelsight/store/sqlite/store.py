"""SqliteStore: accounts, credentials and ended sessions in one SQLite file.

One writer connection behind a lock; reads borrow a connection from a small pool, each with a
progress handler that cancels a read running past the time limit (raised as ``ReadTimeout``).
A write that SQLite refuses (full disk, I/O error, locked too long) is a ``StorageFailure``. Documents
are stored zstd-compressed with a dictionary the store trains on its own documents (``documents.py``). After
each commit the store checks that its path still names the file it has open; once it does not
(deleted or replaced), every read and write is refused with ``StoreFileLost`` until a restart.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

import msgspec
import zstandard

from reelsight.aggregates.inputs import FACT_COLUMNS
from reelsight.errors import AlreadyExists, NotFoundInStore, ReadTimeout, StorageFailure, StoreFileLost
from reelsight.query.aggregates import AggregateQuery
from reelsight.query.dimensions import SCALAR_DIMENSIONS
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
from reelsight.store.records import BUCKET_MS, SessionRecord, encode_tags
from reelsight.store.sqlite import aggregates, terms, viewers
from reelsight.store.sqlite import tag_keys as tag_key_table
from reelsight.store.sqlite.connection import open_connection, transaction
from reelsight.store.sqlite.documents import DocumentReader, DocumentWriter
from reelsight.store.sqlite.owner import FileIdentity, StoreOwnership
from reelsight.store.sqlite.reader import sample
from reelsight.store.sqlite.schema import SESSION_TABLES, migrate

_SESSION_COLUMNS = (
    "account_id, end_bucket, sample_key, conviva_session_id, doc_id, start_ms, end_ms, is_ended, "
    "session_id, client_id, cdn, tags, "
    + ", ".join(FLAG_PARAMS)
    + ", "
    + ", ".join(d.column for d in SCALAR_DIMENSIONS)
    + ", "
    + ", ".join(FACT_COLUMNS)
)
_SESSION_INSERT = {
    table: f"INSERT INTO {table} ({_SESSION_COLUMNS}) "  # noqa: S608 - fixed identifiers
    f"VALUES ({','.join('?' * (12 + len(FLAG_PARAMS) + len(SCALAR_DIMENSIONS) + len(FACT_COLUMNS)))})"
    for table in SESSION_TABLES
}
_WRITE_CHUNK = 2000
log = logging.getLogger("reelsight.store")
# SQLite's primary result codes that mean "the storage refused", not "the statement is wrong":
# BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
_STORAGE_CODES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 26})


class _Reader:
    def __init__(self, path: str) -> None:
        self.conn = open_connection(path, readonly=True)
        self.documents = DocumentReader()
        self.deadline = float("inf")
        self.conn.set_progress_handler(self._check, 2000)

    def _check(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0


class SqliteStore:
    """``owner`` (the command's name) claims the file for this process first (see ``owner.py``):
    only an owner may ingest, end sessions and purge. Without it the store may still read and
    write accounts, keys and sessions beside a running owner (SQLite serializes the writes)."""

    def __init__(
        self,
        path: str,
        *,
        readers: int = 4,
        read_timeout_s: float = 10.0,
        owner: str | None = None,
        synchronous: str = "full",
    ) -> None:
        self.path = path
        self.ownership = StoreOwnership.claim(path, command=owner) if owner is not None else None
        self._lost: str | None = None
        self._write_lock = threading.Lock()
        try:
            self._writer = open_connection(path, synchronous=synchronous)
            self._identity = FileIdentity(path)
            migrate(self._writer)
            self._documents = DocumentWriter(self._writer)
            self._replaced_docs = DocumentReader()  # the writer's reader of documents it replaces
            # The filter terms of the sessions the current write transaction inserts (``terms.py``),
            # added in one go before it commits.
            self._postings: collections.defaultdict[int, list[terms.Posting]] = collections.defaultdict(list)
            self._posting_writer = terms.Postings()
            if terms.backfill_pending(self._writer):
                self._backfill_terms()
            if viewers.backfill_pending(self._writer):
                self._backfill_viewers()
            if aggregates.backfill_pending(self._writer):
                self._backfill_aggregates()
        except BaseException:
            if self.ownership is not None:
                self.ownership.release()
            raise
        self._read_timeout_s = read_timeout_s
        self._readers: queue.Queue[_Reader] = queue.Queue()
        for _ in range(max(1, readers)):
            self._readers.put(_Reader(path))

    # -- plumbing ------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`StoreFileLost` if the store's path (or its ownership lock) no longer names
        the file this store has open. The first time, one log line says what happened."""
        if self._lost is None:
            problem = self._identity.problem()
            if problem is None and self.ownership is not None:
                problem = self.ownership.problem()
            if problem is None:
                return
            self._lost = (
                f"{problem} while this process had it open; nothing more is written or acknowledged"
                " (ingest answers 503, /healthz fails): restart the server on the file now at the path"
            )
            log.error("store file lost: %s", self._lost)
        raise StoreFileLost(self._lost)

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._borrow() as reader:
            yield reader.conn

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[_Reader]:
        if self._lost is not None:
            raise StoreFileLost(self._lost)
        reader = self._readers.get()
        reader.deadline = time.monotonic() + self._read_timeout_s
        try:
            yield reader
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise ReadTimeout(f"read cancelled after {self._read_timeout_s:g} s") from None
            raise
        finally:
            reader.deadline = float("inf")
            if reader.conn.in_transaction:
                reader.conn.execute("ROLLBACK")
            self._readers.put(reader)

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. It raises :class:`StorageFailure` when SQLite refuses it, and
        :class:`StoreFileLost` when the committed file is no longer the one at the path."""
        if self._lost is not None:
            raise StoreFileLost(self._lost)
        with self._write_lock:
            self._postings.clear()
            try:
                with self._transaction() as conn:
                    yield conn
                    for account_id, new in self._postings.items():  # in the same transaction
                        self._posting_writer.add(conn, account_id, new)
            except BaseException:
                self._posting_writer.forget()  # it counted postings the file does not hold
                raise
            finally:
                self._postings.clear()
            self.check()
            if self._documents.wants_dictionary:
                self._train_after_commit()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the writer (the caller holds the write lock)."""
        try:
            with transaction(self._writer) as conn:
                yield conn
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _STORAGE_CODES:
                raise  # a bug (bad SQL), not the storage
            raise StorageFailure(f"the store could not write to {self.path}: {exc}") from exc

    def _backfill_terms(self) -> None:
        """Filter terms for the sessions of a file from before migration 7 (``terms.py``), once."""
        started = time.perf_counter()
        with self._write_lock, self._transaction() as conn:
            done = terms.backfill(conn, self._posting_writer)
        log.info("filter terms backfilled for %d stored sessions in %.1f s", done, time.perf_counter() - started)

    def _backfill_viewers(self) -> None:
        """Viewer lookup rows for the content sessions of a file from before migration 9, once."""
        started = time.perf_counter()
        with self._write_lock, self._transaction() as conn:
            done = viewers.backfill(conn, self._replaced_docs)
        log.info("viewer lookups backfilled for %d stored sessions in %.1f s", done, time.perf_counter() - started)

    def _backfill_aggregates(self) -> None:
        """Metric inputs and per-minute sums for the sessions of a file from before migration 10, once."""
        started = time.perf_counter()
        with self._write_lock, self._transaction() as conn:
            done = aggregates.backfill(conn, self._replaced_docs)
        log.info("aggregate inputs backfilled for %d stored sessions in %.1f s", done, time.perf_counter() - started)

    def _train_after_commit(self) -> None:
        """The file's first dictionary, once enough documents are stored without one (~0.1 s, once). The
        caller's transaction has committed: a failure here is logged, and tried again later."""
        try:
            with self._transaction() as conn:
                self._documents.adopt_or_train(conn, time.time_ns() // 1_000_000)
        except (StorageFailure, zstandard.ZstdError) as exc:
            self._documents.backoff()
            log.warning("documents stay uncompressed for now: training the zstd dictionary failed: %s", exc)

    def close(self) -> None:
        # Readers first: the last connection to close checkpoints and removes the WAL.
        while not self._readers.empty():
            self._readers.get_nowait().conn.close()
        with self._write_lock:
            self._writer.close()
        if self.ownership is not None:
            self.ownership.release()

    # -- accounts and credentials --------------------------------------------------------------

    @staticmethod
    def _account(row: tuple[int, str, int, str, str, int, str, int]) -> Account:
        return Account(
            id=row[0],
            name=row[1],
            viewer_module=bool(row[2]),
            business_error_patterns=tuple(msgspec.json.decode(row[3], type=list[str])),
            ingest_key=row[4],
            created_ms=row[5],
            ip_privacy=row[6],
            ad_insights=bool(row[7]),
        )

    _ACCOUNT_COLS = "id, name, viewer_module, business_error_patterns, ingest_key, created_ms, ip_privacy, ad_insights"

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
        if ip_privacy not in IP_PRIVACY_MODES:
            raise ValueError(f"ip_privacy must be one of {IP_PRIVACY_MODES}")
        created = time.time_ns() // 1_000_000
        try:
            with self.writing() as conn:
                cur = conn.execute(
                    "INSERT INTO accounts (name, viewer_module, business_error_patterns, ingest_key,"
                    " created_ms, ip_privacy, ad_insights) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        int(viewer_module),
                        msgspec.json.encode(list(business_error_patterns)).decode(),
                        ingest_key,
                        created,
                        ip_privacy,
                        int(ad_insights),
                    ),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"an account named {name!r} already exists") from None
        assert cur.lastrowid is not None
        return self.get_account_by_id(cur.lastrowid)

    def set_permissions(
        self, account_id: int, *, viewer_module: bool | None = None, ad_insights: bool | None = None
    ) -> Account:
        with self.writing() as conn:
            cur = conn.execute(
                "UPDATE accounts SET viewer_module = coalesce(?, viewer_module), ad_insights = coalesce(?, ad_insights)"
                " WHERE id = ?",
                (
                    None if viewer_module is None else int(viewer_module),
                    None if ad_insights is None else int(ad_insights),
                    account_id,
                ),
            )
        if cur.rowcount == 0:
            raise NotFoundInStore(f"no account with id {account_id!r}")
        return self.get_account_by_id(account_id)

    def _one_account(self, where: str, value: object) -> Account:
        with self.reading() as conn:
            row = conn.execute(
                f"SELECT {self._ACCOUNT_COLS} FROM accounts WHERE {where} = ?",  # noqa: S608
                (value,),
            ).fetchone()
        if row is None:
            raise NotFoundInStore(f"no account with {where} {value!r}")
        return self._account(row)

    def find_account_by_ingest_key(self, ingest_key: str) -> Account | None:
        try:
            return self._one_account("ingest_key", ingest_key)
        except NotFoundInStore:
            return None

    def get_account(self, name: str) -> Account:
        return self._one_account("name", name)

    def get_account_by_id(self, account_id: int) -> Account:
        return self._one_account("id", account_id)

    def list_accounts(self) -> list[Account]:
        with self.reading() as conn:
            rows = conn.execute(f"SELECT {self._ACCOUNT_COLS} FROM accounts ORDER BY name").fetchall()  # noqa: S608
        return [self._account(r) for r in rows]

    def add_api_key(self, account_id: int, key_id: str, secret_hash: str) -> ApiKey:
        created = time.time_ns() // 1_000_000
        with self.writing() as conn:
            conn.execute(
                "INSERT INTO api_keys (key_id, account_id, secret_hash, disabled, created_ms) VALUES (?, ?, ?, 0, ?)",
                (key_id, account_id, secret_hash, created),
            )
        return ApiKey(key_id, account_id, secret_hash, False, created)

    _KEY_COLS = "key_id, account_id, secret_hash, disabled, created_ms"

    def find_api_key(self, key_id: str) -> tuple[ApiKey, Account] | None:
        """The key and its account in one read (the authentication path of every request)."""
        key_cols = ", ".join(f"k.{c}" for c in self._KEY_COLS.split(", "))
        account_cols = ", ".join(f"a.{c}" for c in self._ACCOUNT_COLS.split(", "))
        with self.reading() as conn:
            row = conn.execute(
                f"SELECT {key_cols}, {account_cols} FROM api_keys k"  # noqa: S608 - fixed identifiers
                " JOIN accounts a ON a.id = k.account_id WHERE k.key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None:
            return None
        return ApiKey(row[0], row[1], row[2], bool(row[3]), row[4]), self._account(row[5:])

    def list_api_keys(self, account_id: int) -> list[ApiKey]:
        with self.reading() as conn:
            rows = conn.execute(
                f"SELECT {self._KEY_COLS} FROM api_keys WHERE account_id = ? ORDER BY created_ms",  # noqa: S608
                (account_id,),
            ).fetchall()
        return [ApiKey(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def disable_api_key(self, key_id: str) -> None:
        with self.writing() as conn:
            cur = conn.execute("UPDATE api_keys SET disabled = 1 WHERE key_id = ?", (key_id,))
        if cur.rowcount == 0:
            raise NotFoundInStore(f"no API key with id {key_id!r}")

    # -- sessions ------------------------------------------------------------------------------

    def insert_record(self, conn: sqlite3.Connection, account_id: int, r: SessionRecord) -> None:
        """Inside :meth:`writing`: insert one ended session, replacing the account's session with the
        same conviva_session_id (content or ad); its document is compressed (see ``documents.py``).
        Content sessions get filter terms and viewer lookup rows; ad sessions go to ``ad_sessions``."""
        for table in SESSION_TABLES:
            self._delete_stored(conn, table, account_id, r.conviva_session_id)
        table = "ad_sessions" if r.is_ad else "sessions"
        if not r.is_ad:
            self._postings[account_id] += terms.postings(r.end_bucket, r.sample_key, terms.record_terms(r))
            viewers.note(conn, account_id, r)
            aggregates.note(conn, account_id, r)
        tag_key_table.note(conn, account_id, r)
        dict_id, stored = self._documents.encode(r.doc)
        doc_id = conn.execute(
            "INSERT INTO session_docs (viewer_split, viewer_id, doc, dict_id, timeline) VALUES (?, ?, ?, ?, ?)",
            (r.viewer_split, r.viewer_id, stored, dict_id, r.timeline),
        ).lastrowid
        conn.execute(
            _SESSION_INSERT[table],
            (
                account_id,
                r.end_bucket,
                r.sample_key,
                r.conviva_session_id,
                doc_id,
                r.start_ms,
                r.end_ms,
                int(r.is_ended),
                r.session_id,
                r.client_id,
                msgspec.json.encode(list(r.cdns)).decode(),
                encode_tags(r.custom_tags),
                *(int(f) for f in r.flags),
                *r.dimensions,
                *r.facts,
            ),
        )

    def _delete_stored(self, conn: sqlite3.Connection, table: str, account_id: int, conviva_session_id: str) -> None:
        """The stored session with this id in ``table``, if any, and its document and lookup rows."""
        old = conn.execute(
            f"SELECT s.doc_id, s.end_ms, s.sample_key, d.viewer_id, d.dict_id, d.doc FROM {table} AS s"  # noqa: S608
            " JOIN session_docs AS d ON d.id = s.doc_id WHERE s.account_id = ? AND s.conviva_session_id = ?",
            (account_id, conviva_session_id),
        ).fetchone()
        if old is None:
            return
        doc_id, end_ms, key, viewer_id, dict_id, doc = old
        if table == "sessions":
            document = self._replaced_docs.decode(conn, doc_id, dict_id, bytes(doc))
            viewers.forget(conn, account_id, end_ms, key, viewer_id, document)
            aggregates.forget(conn, account_id, conviva_session_id)
        conn.execute(
            f"DELETE FROM {table} WHERE account_id = ? AND conviva_session_id = ?",  # noqa: S608 - fixed names
            (account_id, conviva_session_id),
        )
        conn.execute("DELETE FROM session_docs WHERE id = ?", (doc_id,))

    def write_sessions(self, account_id: int, records: Iterable[SessionRecord]) -> int:
        """Insert or replace (same account and conviva_session_id) ended sessions; returns the count."""
        account_id = require_account_scope(account_id)
        written = 0
        batch: list[SessionRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) >= _WRITE_CHUNK:
                written += self._write_batch(account_id, batch)
                batch = []
        if batch:
            written += self._write_batch(account_id, batch)
        return written

    def _write_batch(self, account_id: int, batch: list[SessionRecord]) -> int:
        with self.writing() as conn:
            for record in batch:
                self.insert_record(conn, account_id, record)
        return len(batch)

    def sample_sessions(self, account_id: int, query: Selection) -> list[StoredSession]:
        account_id = require_account_scope(account_id)
        with self._borrow() as reader:
            reader.conn.execute("BEGIN")  # one snapshot for the bucket cursors and the document fetch
            return sample(reader.conn, account_id, query, reader.documents)

    def viewer_sessions(self, account_id: int, query: ViewerQuery) -> list[StoredSession]:
        """One viewer's (or client address's) content sessions in the window, newest first (``viewers.py``)."""
        account_id = require_account_scope(account_id)
        with self._borrow() as reader:
            reader.conn.execute("BEGIN")
            return viewers.lookup(reader.conn, account_id, query, reader.documents)

    def tag_keys(self, account_id: int, since_ms: int, limit: int) -> list[str]:
        """From the small ``tag_keys`` table (``tag_keys.py``): about ``days x keys`` rows of one account."""
        account_id = require_account_scope(account_id)
        with self.reading() as conn:
            return tag_key_table.since(conn, account_id, since_ms, limit)

    def aggregate(self, account_id: int, query: AggregateQuery) -> list[AggregateRow]:
        """Sums per bucket and group (``aggregates.py``): from the per-minute rollup when unfiltered, else
        one ``GROUP BY`` over the window's session rows (their integer inputs, no document)."""
        account_id = require_account_scope(account_id)
        with self._borrow() as reader:
            reader.conn.execute("BEGIN")  # the rollup and the edge minutes from one snapshot
            return aggregates.aggregate(reader.conn, account_id, query)

    def session_timeline(self, account_id: int, kind: SessionKind, conviva_session_id: str) -> StoredTimeline | None:
        """From the session's own ``session_docs`` row (its timeline is deleted with its document)."""
        account_id = require_account_scope(account_id)
        table = "ad_sessions" if kind == "ad" else "sessions"
        with self._borrow() as reader:
            row = reader.conn.execute(
                f"SELECT d.id, d.dict_id, d.doc, d.timeline FROM {table} AS s"  # noqa: S608 - fixed names
                " JOIN session_docs AS d ON d.id = s.doc_id"
                " WHERE s.account_id = ? AND s.conviva_session_id = ? AND s.is_ended = 1",
                (account_id, conviva_session_id),
            ).fetchone()
            if row is None:
                return None
            doc_id, dict_id, doc, timeline = row
            document = reader.documents.decode(reader.conn, doc_id, dict_id, bytes(doc))
        return StoredTimeline(conviva_session_id, document, None if timeline is None else bytes(timeline))

    def purge_ended_before(self, cutoff_ms: int) -> int:
        """Delete sessions (content and ad) whose end is before ``cutoff_ms`` (they can no longer be
        queried); returns how many.

        Each account's expired sessions are a prefix of the primary key (account, end bucket, ...):
        the purge reads what it deletes and at most one bucket more.
        """
        doomed = "account_id = ? AND end_bucket <= ? AND end_ms < ?"
        deleted = 0
        with self.writing() as conn:
            for table in SESSION_TABLES:
                account_id = conn.execute(f"SELECT min(account_id) FROM {table}").fetchone()[0]  # noqa: S608
                while account_id is not None:
                    params = (account_id, cutoff_ms // BUCKET_MS, cutoff_ms)
                    conn.execute(
                        f"DELETE FROM session_docs WHERE id IN (SELECT doc_id FROM {table} WHERE {doomed})",  # noqa: S608
                        params,
                    )
                    deleted += conn.execute(f"DELETE FROM {table} WHERE {doomed}", params).rowcount  # noqa: S608
                    tag_key_table.purge_before(conn, account_id, cutoff_ms)
                    if table == "sessions":
                        terms.purge_days_before(conn, account_id, cutoff_ms // BUCKET_MS)
                        viewers.purge_before(conn, account_id, cutoff_ms)
                        aggregates.purge_before(conn, account_id, cutoff_ms)
                    account_id = conn.execute(
                        f"SELECT min(account_id) FROM {table} WHERE account_id > ?",  # noqa: S608
                        (account_id,),
                    ).fetchone()[0]
            self._posting_writer.forget()  # its days are gone (and forgetting is always safe)
        return deleted

    # -- document compression ------------------------------------------------------------------

    def train_document_dictionary(self) -> int:
        """Train a new zstd dictionary on the newest stored documents and compress new documents with it;
        returns its id. Rows written before keep theirs. Raises ``zstandard.ZstdError`` when the store
        holds too few documents to train on."""
        with self.writing() as conn:
            return self._documents.train(conn, time.time_ns() // 1_000_000)

    def compress_stored_documents(self, *, batch: int = _WRITE_CHUNK) -> int:
        """Compress every document stored as it is (a file from before migration 6) with the current
        dictionary, one transaction per ``batch`` rows, so other writers interleave; returns how many.

        The rows shrink in place: the file gets smaller only with a ``VACUUM`` afterwards (see
        ``compact.py``). Trains the dictionary first if there is none (``zstandard.ZstdError`` if the
        store holds too few documents)."""
        if self._documents.dict_id is None:
            self.train_document_dictionary()
        compressed, after_id = 0, 0
        while True:
            with self.writing() as conn:
                rows = conn.execute(
                    "SELECT id, dict_id, doc FROM session_docs WHERE id > ? ORDER BY id LIMIT ?", (after_id, batch)
                ).fetchall()
                if not rows:
                    return compressed
                after_id = rows[-1][0]
                updates = []
                for doc_id, dict_id, doc in rows:
                    if dict_id is None:
                        updates.append((*self._documents.encode(doc), doc_id))
                conn.executemany("UPDATE session_docs SET dict_id = ?, doc = ? WHERE id = ?", updates)
                compressed += len(updates)
