"""Store size: bytes per session of the SQLite file, split by table and index, and the options for shrinking it.

Writes generated sessions of one account (by default 100,000 over 31 days plus 20,000 in a hot 3-hour
window, as ``bench_sessions_api.py`` does at a smaller scale) through ``SqliteStore.write_sessions``
into a fresh file under ``bench/data/``, then reports:

- the file as written (WAL checkpointed) and after ``VACUUM``, per table and index (``dbstat``);
- the options for the documents, each written into its own table and measured on disk: as they are,
  zstd without a dictionary, and zstd with a dictionary trained on the first documents written, at
  several levels and dictionary sizes; with the time to compress one document and to decompress the
  1,500 documents of a limit-1500 answer (python-zstandard and backports.zstd);
- the options for the ``sessions`` row and its indexes (dropping an index, a larger page size,
  dimension values as integer ids), measured on a vacuumed copy;
- the store call of a limit-1500 sample on the hot window (what the decompression is added to);
- with ``--chdb``: the same sessions written through ``ClickHouseStore.write_sessions`` into a fresh
  chDB directory, bytes per session of every table (``system.parts``, active parts) as inserted and
  after ``OPTIMIZE TABLE ... FINAL``, and that store's call on the same window.

Run: ``.venv/bin/python bench/bench_store_size.py`` (about 3 minutes); ``--sessions 20000 --hot 5000``
for a quick run. Results: ``docs/benchmarks.md`` ("Store size").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import zstandard
from backports import zstd as backports_zstd

from benchutil import code_version
from reelsight import credentials
from reelsight.generate.sessions import DAY_MS, HOUR_MS, generate_sessions
from reelsight.query.parse import SessionQuery
from reelsight.query.selection import selection
from reelsight.store.records import SessionRecord, to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.web.sessions_route import render_sessions

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"
WINDOW_MS = 3 * HOUR_MS
HOT_END_BEFORE_NOW_MS = 2 * DAY_MS
TRAIN_DOCS = 2000  # the dictionary options train on the first documents written, as a store would
ANSWER_DOCS = 1500  # a limit-1500 answer
L19_DOCS = 10_000  # level 19 takes ~0.7 ms a document: measured on a subset


# -- the file -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Built:
    path: Path
    records: list[SessionRecord]
    account_id: int
    hot_start_ms: int
    hot_end_ms: int
    load_s: float


def build(sessions: int, hot: int, *, time_order: bool) -> Built:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"store-size-{sessions}-{hot}.db"
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    now_ms = int(time.time() * 1000)
    hot_end_ms = now_ms - HOT_END_BEFORE_NOW_MS
    docs = [
        *generate_sessions(sessions, seed=1, end_ms=now_ms, span_ms=31 * DAY_MS),
        *generate_sessions(hot, seed=2, end_ms=hot_end_ms, span_ms=WINDOW_MS),
    ]
    if time_order:  # as live ingest writes them: in the order the sessions end
        docs.sort(key=lambda d: d.timestamps.end.epoch_ms)
    records = [to_record(d) for d in docs]
    del docs
    store = SqliteStore(str(path), readers=1)
    account = store.create_account("size", viewer_module=False, business_error_patterns=(), ingest_key="ik_size")
    store.add_api_key(account.id, credentials.new_key_id(), credentials.hash_secret(credentials.new_secret()))
    started = time.perf_counter()
    store.write_sessions(account.id, records)
    load_s = time.perf_counter() - started
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Built(path, records, account.id, hot_end_ms - WINDOW_MS, hot_end_ms, load_s)


def table_sizes(path: Path) -> dict[str, tuple[int, int]]:
    """Bytes of pages and of payload per table or index (``dbstat``)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name").fetchall()
    return {name: (int(pages), int(payload)) for name, pages, payload in rows}


def vacuumed_copy(path: Path, name: str, *, page_size: int | None = None) -> Path:
    out = path.with_name(f"{path.stem}-{name}.db")
    out.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("VACUUM INTO ?", (str(out),))
    if page_size is not None:
        with contextlib.closing(sqlite3.connect(out, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute(f"PRAGMA page_size={page_size}")
            conn.execute("VACUUM")
    return out


def print_breakdown(title: str, sizes: dict[str, tuple[int, int]], file_bytes: int, n: int) -> None:
    print(f"\n{title}: {file_bytes / 2**20:,.1f} MiB, **{file_bytes / n:,.0f} bytes/session**")
    print("| table or index | bytes/session (pages) | payload bytes/session | fill | share |")
    print("|---|--:|--:|--:|--:|")
    for name, (pages, payload) in sorted(sizes.items(), key=lambda kv: -kv[1][0]):
        if pages / n < 1:
            continue
        print(f"| {name} | {pages / n:,.0f} | {payload / n:,.0f} | {payload / pages:.0%} | {pages / file_bytes:.0%} |")


# -- the documents --------------------------------------------------------------------------------


@dataclasses.dataclass
class DocOption:
    name: str
    encode: Callable[[bytes], bytes]
    decode: Callable[[bytes], bytes] | None
    train_s: float = 0.0
    subset: int | None = None  # measured on the first this many documents only


def _median_ms(run: Callable[[], object], repeat: int = 15) -> float:
    run()  # warm: a decompressor digests its dictionary on first use
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _zstandard(level: int, dictionary: zstandard.ZstdCompressionDict | None) -> tuple[Callable, Callable]:  # type: ignore[type-arg]
    if dictionary is not None:
        dictionary.precompute_compress(level=level)
    compressor = zstandard.ZstdCompressor(level=level, dict_data=dictionary, write_checksum=True, write_dict_id=False)
    decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
    return compressor.compress, decompressor.decompress


def _train(docs: Sequence[bytes], size: int, **params: int) -> tuple[zstandard.ZstdCompressionDict, float]:
    started = time.perf_counter()
    dictionary = zstandard.train_dictionary(size, list(docs), threads=1, **params)
    return dictionary, time.perf_counter() - started


def doc_options(train: Sequence[bytes]) -> list[DocOption]:
    fixed = {"k": 2048, "d": 6}  # close to what the k/d search picks on these documents, ~70x faster
    options = [
        DocOption("as they are (JSON)", lambda b: b, None),
        DocOption("zstd 3, no dictionary", *_zstandard(3, None)),
    ]
    dict112, train_s = _train(train, 112 * 1024, **fixed)
    for level in (3, 9, 19):
        raw = zstandard.ZstdCompressionDict(dict112.as_bytes())
        options.append(DocOption(f"zstd {level}, 112 KiB dictionary", *_zstandard(level, raw), train_s=train_s))
    options[-1].subset = L19_DOCS
    for size in (32, 64):
        dictionary, seconds = _train(train, size * 1024, **fixed)
        options.append(DocOption(f"zstd 3, {size} KiB dictionary", *_zstandard(3, dictionary), train_s=seconds))
    searched, seconds = _train(train, 112 * 1024)
    options.append(DocOption("zstd 3, 112 KiB dictionary, k/d searched", *_zstandard(3, searched), train_s=seconds))
    return options


def measure_docs(built: Built, options: list[DocOption], n: int) -> list[tuple[DocOption, list[bytes], float]]:
    """Each option's encoded documents, and the compress time per document (µs)."""
    out = []
    for option in options:
        records = built.records if option.subset is None else built.records[: option.subset]
        started = time.perf_counter()
        encoded = [option.encode(r.doc) for r in records]
        per_doc_us = (time.perf_counter() - started) / len(records) * 1e6
        if option.decode is not None:
            assert all(option.decode(e) == r.doc for e, r in zip(encoded, records, strict=True))
        out.append((option, encoded, per_doc_us))
        print(f"  encoded {option.name} ({len(records):,} documents, {per_doc_us:.1f} µs each)", flush=True)
    return out


def docs_on_disk(built: Built, encoded: list[tuple[DocOption, list[bytes], float]]) -> dict[str, float]:
    """Bytes per document of a ``session_docs``-shaped table holding each option's documents (vacuumed)."""
    path = built.path.with_name(f"{built.path.stem}-docs.db")
    path.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for i, (_option, blobs, _us) in enumerate(encoded):
            conn.execute(
                f"CREATE TABLE docs_{i} (id INTEGER PRIMARY KEY, viewer_split INTEGER NOT NULL,"
                " viewer_id TEXT NOT NULL, dict_id INTEGER, doc BLOB NOT NULL)"
            )
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO docs_{i} VALUES (?, ?, ?, ?, ?)",  # noqa: S608 - fixed identifiers
                (
                    (k, r.viewer_split, r.viewer_id, 1, b)
                    for k, (r, b) in enumerate(zip(built.records, blobs, strict=False), 1)
                ),
            )
            conn.execute("COMMIT")
        conn.execute("VACUUM")
    sizes = table_sizes(path)
    path.unlink()
    return {option.name: sizes[f"docs_{i}"][0] / len(blobs) for i, (option, blobs, _us) in enumerate(encoded)}


def decompress_1500(encoded: list[tuple[DocOption, list[bytes], float]], seed: int = 7) -> dict[str, float]:
    out: dict[str, float] = {}
    for option, blobs, _us in encoded:
        if option.decode is None:
            continue
        picked = random.Random(seed).sample(blobs, ANSWER_DOCS)
        decode = option.decode
        out[option.name] = _median_ms(lambda picked=picked, decode=decode: [decode(b) for b in picked])
    return out


def backports_1500(train: Sequence[bytes], docs: Sequence[bytes]) -> tuple[float, float, float]:
    """backports.zstd (Python 3.14's compression.zstd) at level 3 with its own trained 112 KiB dictionary:
    compress µs per document, decompress ms per 1500 with ``decompress()`` and with a digested dictionary."""
    dictionary = backports_zstd.train_dict(list(train), 112 * 1024)
    options = {
        backports_zstd.CompressionParameter.compression_level: 3,
        backports_zstd.CompressionParameter.checksum_flag: 1,
    }
    compressor = backports_zstd.ZstdCompressor(options=options, zstd_dict=dictionary)
    started = time.perf_counter()
    blobs = [compressor.compress(d, mode=backports_zstd.ZstdCompressor.FLUSH_FRAME) for d in docs]
    per_doc_us = (time.perf_counter() - started) / len(docs) * 1e6
    picked = random.Random(7).sample(blobs, ANSWER_DOCS)
    plain = _median_ms(lambda: [backports_zstd.decompress(b, zstd_dict=dictionary) for b in picked])
    digested = dictionary.as_digested_dict
    fast = _median_ms(lambda: [backports_zstd.decompress(b, zstd_dict=digested) for b in picked])
    return per_doc_us, plain, fast


# -- the sessions row and its indexes -----------------------------------------------------------


SESSIONS_PARTS = (
    "sessions",
    "sessions_by_conviva_id",
    "sessions_by_session_id",
    "sessions_by_client_id",
    "sessions_by_end",
)


def _sessions_bytes(sizes: dict[str, tuple[int, int]], n: int, names: Sequence[str] = SESSIONS_PARTS) -> float:
    return sum(sizes[name][0] for name in names if name in sizes) / n


def _integer_dimensions(path: Path) -> None:
    """Replace every ``d_*`` text column of ``sessions`` by an integer id into one value table per column."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(sessions)")]
        dims = [c for c in columns if c.startswith("d_")]
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'sessions'").fetchone()[0]
        for dim in dims:
            sql = sql.replace(f"{dim} TEXT NOT NULL", f"{dim} INTEGER NOT NULL")
        conn.execute("BEGIN")
        conn.execute(sql.replace("CREATE TABLE sessions", "CREATE TABLE sessions_int", 1))
        ids: dict[str, dict[str, int]] = {d: {} for d in dims}
        positions = [columns.index(d) for d in dims]
        rows = []
        for row in conn.execute(f"SELECT {', '.join(columns)} FROM sessions"):  # noqa: S608
            values = list(row)
            for dim, at in zip(dims, positions, strict=True):
                values[at] = ids[dim].setdefault(values[at], len(ids[dim]))
            rows.append(values)
        marks = ",".join("?" * len(columns))
        conn.executemany(f"INSERT INTO sessions_int ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608
        for dim in dims:
            conn.execute(f"CREATE TABLE v_{dim} (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE)")
            conn.executemany(f"INSERT INTO v_{dim} VALUES (?, ?)", [(i, v) for v, i in ids[dim].items()])  # noqa: S608
        conn.execute("COMMIT")
        conn.execute("VACUUM")


def layout_options(built: Built, vacuumed: Path, n: int) -> list[tuple[str, float]]:
    sizes = table_sizes(vacuumed)
    base = _sessions_bytes(sizes, n)
    rows = [("as it is (vacuumed)", base)]
    for dropped in (("sessions_by_end",), ("sessions_by_client_id",), ("sessions_by_end", "sessions_by_client_id")):
        kept = [p for p in SESSIONS_PARTS if p not in dropped]
        rows.append((f"without {' and '.join(dropped)}", _sessions_bytes(sizes, n, kept)))
    for page_size in (8192, 16384):
        copy = vacuumed_copy(built.path, f"page{page_size}", page_size=page_size)
        rows.append((f"page_size {page_size}", _sessions_bytes(table_sizes(copy), n)))
        copy.unlink()
    copy = vacuumed_copy(built.path, "intdims")
    _integer_dimensions(copy)
    int_sizes = table_sizes(copy)
    value_tables = sum(
        pages for name, (pages, _p) in int_sizes.items() if name.startswith(("v_d_", "sqlite_autoindex_v_d"))
    )
    parts = ["sessions_int", *SESSIONS_PARTS[1:]]
    rows.append(
        (
            "dimensions as integer ids (estimate: the reader would map values first)",
            (_sessions_bytes(int_sizes, n, parts) * n + value_tables) / n,
        )
    )
    copy.unlink()
    return rows


# -- the store call ---------------------------------------------------------------------------------


def store_call_ms(built: Built, repeat: int = 30) -> tuple[float, int]:
    store = SqliteStore(str(built.path), readers=1)
    try:
        query = selection(SessionQuery(start_ms=built.hot_start_ms, end_ms=built.hot_end_ms, limit=ANSWER_DOCS))
        returned = len(store.sample_sessions(built.account_id, query))
        ms = _median_ms(
            lambda: render_sessions(store.sample_sessions(built.account_id, query), viewer_module=False), repeat
        )
    finally:
        store.close()
    return ms, returned


def stored_format(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(session_docs)")]
        if "dict_id" not in columns:
            return "documents stored as they are (no dict_id column)"
        counts = conn.execute("SELECT dict_id IS NULL, count(*) FROM session_docs GROUP BY 1").fetchall()
        dicts = conn.execute("SELECT count(*), coalesce(sum(length(dict)), 0) FROM zstd_dicts").fetchone()
    by = dict(counts)
    return (
        f"{by.get(0, 0):,} documents compressed, {by.get(1, 0):,} stored as they are;"
        f" {dicts[0]} dictionar{'y' if dicts[0] == 1 else 'ies'} ({dicts[1] / 1024:.0f} KiB)"
    )


_CHDB_PARTS = (
    "SELECT table, sum(bytes_on_disk), count() FROM system.parts WHERE database = currentDatabase() AND active"
    " GROUP BY table ORDER BY table"
)


def chdb_sizes(built: Built) -> None:
    """The same sessions in a fresh chDB directory through the ClickHouse store: bytes per session per table."""
    import shutil

    from reelsight.store.url import open_clickhouse, parse_store_url

    path = DATA_DIR / f"{built.path.stem}-chdb"
    shutil.rmtree(path, ignore_errors=True)
    store = open_clickhouse(parse_store_url(f"chdb://{path}"), read_timeout_s=60, retention_days=3650)
    account = store.create_account("size", viewer_module=False, business_error_patterns=(), ingest_key="ik_size")
    started = time.perf_counter()
    store.write_sessions(account.id, built.records)
    load_s = time.perf_counter() - started
    n = len(built.records)
    client = store._client  # type: ignore[attr-defined]
    print(f"\nchDB: wrote {n:,} sessions in {load_s:.1f} s = {n / load_s:,.0f} sessions/s")
    for title in ("as inserted", "after OPTIMIZE FINAL"):
        if title != "as inserted":
            for (table,) in client.query(
                "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree'"
            ).result_rows:  # not the materialized views (their target tables are merged themselves)
                client.command(f"OPTIMIZE TABLE {table} FINAL")
        rows = client.query(_CHDB_PARTS).result_rows
        total = sum(int(r[1]) for r in rows)
        print(f"  {title}: {total / n:,.0f} bytes/session in all")
        for table, size, parts in rows:
            print(f"    {table:<20} {int(size) / n:8,.1f} bytes/session  ({parts} parts)")
    query = SessionQuery(start_ms=built.hot_start_ms, end_ms=built.hot_end_ms, limit=ANSWER_DOCS)
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        body = render_sessions(store.sample_sessions(account.id, selection(query)), viewer_module=False)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"  store call, hot window limit 1500: p50 {statistics.median(times):.1f} ms ({len(body):,} bytes)")
    store.close()
    shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions over 31 days [100,000]")
    parser.add_argument("--hot", type=int, default=20_000, help="extra sessions in a hot 3-hour window [20,000]")
    parser.add_argument("--time-order", action="store_true", help="write in end-time order (as live ingest does)")
    parser.add_argument("--skip-options", action="store_true", help="only the file as the store writes it")
    parser.add_argument("--keep", action="store_true", help="keep the written file")
    parser.add_argument("--chdb", action="store_true", help="also the ClickHouse store (chDB): bytes per table")
    args = parser.parse_args(argv)
    if args.sessions < TRAIN_DOCS or args.hot < ANSWER_DOCS:
        parser.error(f"--sessions must be at least {TRAIN_DOCS} and --hot at least {ANSWER_DOCS}")

    print(f"code: {code_version()}; python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    print(
        f"zstandard {zstandard.__version__} (libzstd {zstandard.ZSTD_VERSION}),"
        f" backports.zstd {backports_zstd.zstd_version}"
    )
    built = build(args.sessions, args.hot, time_order=args.time_order)
    n = len(built.records)
    order = "end-time order" if args.time_order else "generated (random end-time) order"
    print(f"wrote {n:,} sessions in {order} in {built.load_s:.1f} s = {n / built.load_s:,.0f} sessions/s")
    print(f"  {stored_format(built.path)}")
    written = os.path.getsize(built.path)
    print_breakdown("as written (WAL checkpointed)", table_sizes(built.path), written, n)
    vacuumed = vacuumed_copy(built.path, "vacuumed")
    print_breakdown("after VACUUM", table_sizes(vacuumed), os.path.getsize(vacuumed), n)
    call_ms, returned = store_call_ms(built)
    print(
        f"\nstore call (sample_sessions + render_sessions), hot window limit 1500:"
        f" p50 {call_ms:.1f} ms, {returned} returned"
    )

    if args.chdb:
        chdb_sizes(built)

    if not args.skip_options:
        print("\nmeasuring the document options ...")
        train = [r.doc for r in built.records[:TRAIN_DOCS]]
        encoded = measure_docs(built, doc_options(train), n)
        on_disk = docs_on_disk(built, encoded)
        decode_ms = decompress_1500(encoded)
        vac_sizes = table_sizes(vacuumed)
        others = (os.path.getsize(vacuumed) - vac_sizes["session_docs"][0]) / n  # everything but the documents
        print(
            f"\ndocuments ({TRAIN_DOCS:,} training documents;"
            f" the rest of the vacuumed file is {others:,.0f} bytes/session)"
        )
        print(
            "| option | document bytes (mean) | session_docs bytes/session on disk | file bytes/session (vacuumed) |"
            " compress µs/doc | decompress ms / 1500 docs | train s |"
        )
        print("|---|--:|--:|--:|--:|--:|--:|")
        for option, blobs, per_doc_us in encoded:
            subset = f" ({len(blobs):,}-document subset)" if option.subset else ""
            decode = f"{decode_ms[option.name]:.2f}" if option.name in decode_ms else "-"
            print(
                f"| {option.name}{subset} | {statistics.mean(map(len, blobs)):,.0f} | {on_disk[option.name]:,.0f}"
                f" | {others + on_disk[option.name]:,.0f} | {per_doc_us:.1f} | {decode} | {option.train_s:.2f} |"
            )
        bp_us, bp_plain, bp_digested = backports_1500(train, [r.doc for r in built.records[:20_000]])
        print(
            f"backports.zstd, level 3, 112 KiB dictionary: compress {bp_us:.1f} µs/doc; decompress 1500 docs"
            f" {bp_plain:.2f} ms with decompress(zstd_dict=...), {bp_digested:.2f} ms with a digested dictionary"
        )
        print(f"\nsessions row and its indexes, bytes/session (vacuumed; sum of {', '.join(SESSIONS_PARTS)})")
        print("| layout | bytes/session | change |")
        print("|---|--:|--:|")
        layouts = layout_options(built, vacuumed, n)
        for name, value in layouts:
            print(f"| {name} | {value:,.0f} | {value - layouts[0][1]:+,.0f} |")

    vacuumed.unlink()
    if not args.keep:
        for leftover in (built.path, Path(f"{built.path}-wal"), Path(f"{built.path}-shm")):
            leftover.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
