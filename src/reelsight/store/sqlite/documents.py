"""Session documents at rest: zstd frames made with a dictionary the store trains on its own documents.

A ``session_docs`` row holds its document compressed with the dictionary ``dict_id`` names (a row of
``zstd_dicts``), or as it is when ``dict_id`` is NULL: the rows written before the file had a
dictionary (the first ``TRAIN_AFTER_DOCS`` documents of a new file, every row of a file from before
migration 6). The writer trains the file's dictionary once that many documents are stored as they are
(:class:`DocumentWriter`); readers load a dictionary by id the first time a row names it
(:class:`DocumentReader`), so a dictionary trained later never stops the earlier rows from reading.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3

import zstandard

from reelsight.errors import StorageFailure
from reelsight.store import zstd_docs
from reelsight.store.zstd_docs import TRAIN_AFTER_DOCS, TRAIN_SAMPLE_DOCS

__all__ = ["TRAIN_AFTER_DOCS", "DocumentReader", "DocumentWriter", "add_stored_doc_function"]
log = logging.getLogger("reelsight.store")
# Level 9: documents 15% smaller than at level 3 for ~30 µs more per document written, decompressed as
# fast; 19 saves 12% more at ~0.7 ms a document (docs/benchmarks.md, "Store size").
LEVEL = 9


def _compressor(dictionary: bytes) -> zstandard.ZstdCompressor:
    return zstd_docs.compressor(dictionary, LEVEL)


def _newest_dictionary(conn: sqlite3.Connection) -> tuple[int, bytes] | None:
    row = conn.execute("SELECT id, dict FROM zstd_dicts ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), bytes(row[1]))


class DocumentReader:
    """Turns ``(dict_id, doc)`` from ``session_docs`` back into the document's exact bytes.

    One per connection, used by one thread at a time (a zstd decompression context is not shared).
    """

    def __init__(self) -> None:
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {}

    def decode(self, conn: sqlite3.Connection, doc_id: int, dict_id: int | None, doc: bytes) -> bytes:
        """The stored document; :class:`StorageFailure` when its bytes or its dictionary are damaged."""
        if dict_id is None:
            return doc
        decompressor = self._decompressors.get(dict_id)
        if decompressor is None:
            decompressor = self.load(conn, dict_id)
        return zstd_docs.decompress(decompressor, doc, what=f"session document {doc_id}", dict_id=dict_id)

    def __contains__(self, dict_id: int) -> bool:
        return dict_id in self._decompressors

    def preload(self, dict_id: int, dictionary: bytes) -> zstandard.ZstdDecompressor:
        decompressor = zstd_docs.decompressor(dictionary)
        self._decompressors[dict_id] = decompressor
        return decompressor

    def load(self, conn: sqlite3.Connection, dict_id: int) -> zstandard.ZstdDecompressor:
        """Read dictionary ``dict_id`` through ``conn``; :class:`StorageFailure` when the store lacks it."""
        row = conn.execute("SELECT dict FROM zstd_dicts WHERE id = ?", (dict_id,)).fetchone()
        if row is None:
            raise StorageFailure(f"zstd dictionary {dict_id} is missing from the store, documents need it")
        return self.preload(dict_id, bytes(row[0]))


class DocumentWriter:
    """Compresses documents for the writer connection (under the store's write lock), and trains the
    file's dictionary once enough documents are stored without one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.reader = DocumentReader()  # the writer's own, for training samples and rewrites
        self._current: tuple[int, zstandard.ZstdCompressor] | None = None
        newest = _newest_dictionary(conn)
        if newest is not None:
            self._current = (newest[0], _compressor(newest[1]))
            self._uncompressed = 0
        else:  # bounded: a file from before migration 6 holds millions
            (self._uncompressed,) = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM session_docs WHERE dict_id IS NULL LIMIT ?)", (TRAIN_AFTER_DOCS,)
            ).fetchone()

    @property
    def dict_id(self) -> int | None:
        """The dictionary new documents are compressed with (``None``: stored as they are)."""
        return None if self._current is None else self._current[0]

    def encode(self, doc: bytes) -> tuple[int | None, bytes]:
        """``(dict_id, stored bytes)`` for a new ``session_docs`` row."""
        if self._current is None:
            self._uncompressed += 1
            return None, doc
        dict_id, compressor = self._current
        return dict_id, compressor.compress(doc)

    @property
    def wants_dictionary(self) -> bool:
        return self._current is None and self._uncompressed >= TRAIN_AFTER_DOCS

    def adopt_or_train(self, conn: sqlite3.Connection, now_ms: int) -> int:
        """Inside a write transaction: use the file's newest dictionary if another process trained one
        meanwhile, else train one (:meth:`train`)."""
        newest = _newest_dictionary(conn)
        if newest is not None and newest[0] != self.dict_id:
            self._current = (newest[0], _compressor(newest[1]))
            return newest[0]
        return self.train(conn, now_ms)

    def train(self, conn: sqlite3.Connection, now_ms: int) -> int:
        """Inside a write transaction: train a dictionary on the newest ``TRAIN_SAMPLE_DOCS`` documents,
        store it and compress new documents with it; returns its id. Rows keep the dictionary they name.

        Raises ``zstandard.ZstdError`` when the documents are too few or too alike to train on.
        """
        samples = [
            self.reader.decode(conn, doc_id, dict_id, doc)
            for doc_id, dict_id, doc in conn.execute(
                "SELECT id, dict_id, doc FROM session_docs ORDER BY id DESC LIMIT ?", (TRAIN_SAMPLE_DOCS,)
            )
        ]
        dictionary = zstd_docs.train(samples)
        dict_id = conn.execute(
            "INSERT INTO zstd_dicts (dict, created_ms) VALUES (?, ?)", (dictionary, now_ms)
        ).lastrowid
        assert dict_id is not None
        self._current = (dict_id, _compressor(dictionary))
        log.info("trained zstd dictionary %d (%d bytes) on %d stored documents", dict_id, len(dictionary), len(samples))
        return dict_id

    def backoff(self) -> None:
        """Training failed: try again after as many documents again."""
        self._uncompressed = 0


def add_stored_doc_function(conn: sqlite3.Connection) -> None:
    """Register ``stored_doc(dict_id, doc)`` on ``conn``: the document's bytes, for plain SQL over a store
    file (benchmarks, checks, a user's own queries), e.g.
    ``SELECT CAST(stored_doc(d.dict_id, d.doc) AS TEXT) FROM session_docs d``.

    The file's dictionaries are loaded now; a dictionary trained after this call is loaded the first
    time a row names it, through a connection of its own (a function may not query its own connection).
    """
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    reader = DocumentReader()
    for dict_id, blob in conn.execute("SELECT id, dict FROM zstd_dicts"):
        reader.preload(int(dict_id), bytes(blob))

    def stored_doc(dict_id: int | None, doc: bytes) -> bytes:
        if dict_id is not None and dict_id not in reader:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as own:
                reader.load(own, dict_id)
        return reader.decode(conn, 0, dict_id, doc)

    conn.create_function("stored_doc", 2, stored_doc, deterministic=True)
