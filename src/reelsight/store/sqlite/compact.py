"""Shrink a store file written before migration 6: compress its stored documents, then VACUUM.

``python -m reelsight.store.sqlite.compact FILE [--no-vacuum]``, with the server stopped (it claims
the file as its owner). Without it nothing is lost: old rows stay readable as they are, and the
retention purge frees their pages for new, compressed rows. See docs/architecture.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import time
from collections.abc import Sequence

from reelsight.store.sqlite.owner import StoreOwnership
from reelsight.store.sqlite.store import SqliteStore


def _size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def compact(path: str, *, vacuum: bool = True) -> str:
    """Compress every uncompressed document of ``path`` and (``vacuum``) rebuild the file; a summary."""
    before = _size(path)
    started = time.perf_counter()
    ownership = StoreOwnership.claim(path, command="compact")  # no server beside it, until the end
    try:
        store = SqliteStore(path, readers=1)
        try:
            compressed = store.compress_stored_documents()
        finally:
            store.close()
        compress_s = time.perf_counter() - started
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            if vacuum:  # rebuilds the file through the WAL; needs free disk (and temp space) about its new size
                conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        ownership.release()
    total_s = time.perf_counter() - started
    return (
        f"{path}: {compressed:,} documents compressed in {compress_s:.0f} s"
        + (f", VACUUM {total_s - compress_s:.0f} s" if vacuum else " (no VACUUM: the file keeps its size)")
        + f"; {before / 2**20:,.0f} MiB -> {_size(path) / 2**20:,.0f} MiB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="the store's SQLite file")
    parser.add_argument("--no-vacuum", action="store_true", help="compress only; the file keeps its size")
    args = parser.parse_args(argv)
    print(compact(args.path, vacuum=not args.no_vacuum))
    return 0


if __name__ == "__main__":
    sys.exit(main())
