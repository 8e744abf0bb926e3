"""The ClickHouse store's documents, each compressed on its own with a zstd dictionary (schema 10).

``session_docs.dict_id`` names the row's dictionary in ``zstd_dicts``; ``0`` is a document stored as it
is (written before the database had a dictionary: every row from before migration 10, and the
documents of a new database until it holds ``TRAIN_AFTER_DOCS``; a write of that many or more trains
on its own documents first). The column keeps its ZSTD codec: on frames that are
already compressed it stores raw blocks, which decompress at the speed of a copy.

Why, when the engine compresses the column anyway (``docs/benchmarks.md``, "ClickHouse: documents
compressed one by one"): a filtered sample's documents lie far apart, so each is read from a granule
of its own, and the engine decompresses the whole compressed block around it (tens of neighbours'
documents) for one. Frames of ~260 bytes make that block a copy of small frames, and only the wanted
documents are decompressed, here: 1,500 scattered documents ~3x faster, and ~110 bytes less per
session on disk than the engine's blocks of raw JSON.

Dictionaries never change and are never deleted (a row names its dictionary for as long as it lives).
A writer adopts the newest one (two nodes that train at once each use their own; both stay readable);
readers load one by id the first time a row names it. On a cluster ``zstd_dicts`` is a full copy on
every node, and a writer starts using a dictionary only once every replica holds it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import zstandard

from reelsight.errors import ReadTimeout, StorageFailure
from reelsight.store import zstd_docs
from reelsight.store.zstd_docs import TRAIN_AFTER_DOCS, TRAIN_SAMPLE_DOCS

log = logging.getLogger("reelsight.store")
RAW = 0  # ``dict_id`` of a document stored as it is
# Level 3: ~260 bytes a document for 6 to 12 µs of the writer's CPU (level 9, the SQLite store's: ~230
# bytes for ~40 µs); the import is the ClickHouse store's tightest target.
LEVEL = 3
REPLICATION_WAIT_S = 30.0  # how long a cluster writer waits for a new dictionary on every replica

Query = Callable[..., Sequence[Sequence[Any]]]
Insert = Callable[[str, list[list[object]], Sequence[str]], None]


class Documents:
    """Encodes the documents a writer inserts and decodes the ones a read returns, for one store.

    ``query`` and ``insert`` are the store's own (its errors, settings and time limit); ``cluster`` names
    the cluster whose replicas must all hold a dictionary before documents use it. Decoding is safe
    from any thread; encoding runs under the store's write lock."""

    def __init__(self, query: Query, insert: Insert, *, cluster: str | None = None) -> None:
        self._query = query
        self._insert = insert
        self._cluster = cluster
        self._dictionaries: dict[int, bytes] = {}
        self._load_lock = threading.Lock()
        self._local = threading.local()  # each thread's decompressors (a zstd context is not shared)
        self._current: tuple[int, zstandard.ZstdCompressor] | None = None
        self._raw: int | None = None  # documents stored as they are, counted up to TRAIN_AFTER_DOCS

    # -- reading -------------------------------------------------------------------------------

    def decode(self, dict_id: int, doc: bytes, conviva_session_id: str) -> bytes:
        """The document's exact bytes; :class:`StorageFailure` when they or their dictionary are damaged
        or the dictionary is missing."""
        if dict_id == RAW:
            return doc if type(doc) is bytes else bytes(doc)
        decompressors: dict[int, zstandard.ZstdDecompressor] = self._local.__dict__.setdefault("by_id", {})
        decompressor = decompressors.get(dict_id)
        if decompressor is None:
            decompressor = decompressors[dict_id] = zstd_docs.decompressor(self._dictionary(dict_id))
        what = f"the document of session {conviva_session_id}"
        return zstd_docs.decompress(decompressor, doc, what=what, dict_id=dict_id)

    def _dictionary(self, dict_id: int) -> bytes:
        with self._load_lock:
            found = self._dictionaries.get(dict_id)
        if found is not None:
            return found
        rows = self._query(
            "SELECT dict FROM zstd_dicts WHERE id = {id:UInt64} LIMIT 1", {"id": dict_id}, formats={"dict": "bytes"}
        )
        if not rows:
            raise StorageFailure(f"zstd dictionary {dict_id} is missing from the store, documents need it")
        with self._load_lock:
            return self._dictionaries.setdefault(dict_id, bytes(rows[0][0]))

    # -- writing (under the store's write lock) ------------------------------------------------

    def encode(self, docs: Sequence[bytes]) -> list[tuple[int, bytes]]:
        """``(dict_id, stored bytes)`` for each new ``session_docs`` row of one insert."""
        if self._current is None:
            try:
                self._adopt_or_train(docs)
            except ReadTimeout as exc:  # a write's failure (the writer retries the chunk), not a read's
                raise StorageFailure(f"could not look up the document dictionaries: {exc}") from exc
        if self._current is None:
            self._raw = (self._raw or 0) + len(docs)
            return [(RAW, doc) for doc in docs]
        dict_id, compressor = self._current
        return [(dict_id, compressor.compress(doc)) for doc in docs]

    def _adopt_or_train(self, docs: Sequence[bytes]) -> None:
        newest = self._query(
            "SELECT id, dict FROM zstd_dicts ORDER BY created_ms DESC, id DESC LIMIT 1", formats={"dict": "bytes"}
        )
        if newest:
            dict_id = int(newest[0][0])
            if self._cluster is None or self._on_every_replica(dict_id, wait_s=0.0):
                self._use(dict_id, bytes(newest[0][1]))
            return  # on a cluster, not yet on every replica: uncompressed until it is
        if self._raw is None:  # bounded: a database from before migration 10 holds millions
            ((self._raw,),) = self._query(
                "SELECT count() FROM (SELECT 1 FROM session_docs WHERE dict_id = 0 LIMIT {n:UInt32})",
                {"n": TRAIN_AFTER_DOCS},
            )
        if self._raw + len(docs) < TRAIN_AFTER_DOCS:
            return
        samples = list(docs[-TRAIN_SAMPLE_DOCS:])
        if len(samples) < TRAIN_SAMPLE_DOCS:  # the rest from the documents stored as they are
            stored = self._query(
                "SELECT doc FROM session_docs WHERE dict_id = 0 LIMIT {n:UInt32}",
                {"n": TRAIN_SAMPLE_DOCS - len(samples)},
                formats={"doc": "bytes"},
            )
            samples += [bytes(r[0]) for r in stored]
        try:
            dictionary = zstd_docs.train(samples)
        except zstandard.ZstdError as exc:  # too few or too alike: stored as they are, tried again later
            log.warning("could not train a zstd dictionary on %d documents: %s", len(samples), exc)
            self._raw = 0
            return
        dict_id = secrets.randbelow(2**63 - 1) + 1  # nodes train independently: random ids do not collide
        self._insert("zstd_dicts", [[dict_id, dictionary, time.time_ns() // 1_000_000]], ("id", "dict", "created_ms"))
        if self._cluster is not None and not self._on_every_replica(dict_id, wait_s=REPLICATION_WAIT_S):
            log.warning("zstd dictionary %d is not on every replica yet: documents stay uncompressed", dict_id)
            return
        log.info("trained zstd dictionary %d (%d bytes) on %d documents", dict_id, len(dictionary), len(samples))
        self._use(dict_id, dictionary)

    def _use(self, dict_id: int, dictionary: bytes) -> None:
        with self._load_lock:
            self._dictionaries.setdefault(dict_id, dictionary)
        self._current = (dict_id, zstd_docs.compressor(dictionary, LEVEL))

    def _on_every_replica(self, dict_id: int, *, wait_s: float) -> bool:
        """Whether every replica of the cluster holds the dictionary (a read on any node may need it as
        soon as a document names it), waiting up to ``wait_s``."""
        params: dict[str, object] = {"cluster": self._cluster, "id": dict_id}
        ((replicas,),) = self._query("SELECT count() FROM system.clusters WHERE cluster = {cluster:String}", params)
        deadline = time.monotonic() + wait_s
        while True:
            ((holding,),) = self._query(
                "SELECT count() FROM clusterAllReplicas({cluster:String}, currentDatabase(), zstd_dicts)"
                " WHERE id = {id:UInt64}",
                params,
            )
            if int(holding) >= int(replicas):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
