"""A/B of the ClickHouse import rate: ``write_sessions`` into a fresh chDB directory, N generated
sessions, then the same N again (a re-import: every session is found stored), for two source trees,
alternated in separate processes (chDB: one engine per process).

Run: ``git worktree add /tmp/base <rev>``, then
``.venv/bin/python bench/bench_import_ab.py /tmp/base . --sessions 100000 --rounds 3``.
Results: ``docs/architecture.md`` (ClickHouse, time-ordered facts: import cost).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1] + "/src")
from reelsight import credentials
from reelsight.generate.sessions import DAY_MS, generate_sessions
from reelsight.store.records import to_record
from reelsight.store.url import open_clickhouse, parse_store_url
n, directory = int(sys.argv[2]), sys.argv[3]
store = open_clickhouse(parse_store_url(f"chdb://{directory}"), read_timeout_s=60, retention_days=31)
key = credentials.new_ingest_key()
account = store.create_account("b", viewer_module=False, business_error_patterns=(), ingest_key=key)
now = int(time.time() * 1000)
records = [to_record(d) for d in generate_sessions(n, seed=7, end_ms=now, span_ms=31 * DAY_MS, ads=0)]
rates = []
for _ in ("new", "again"):
    started = time.perf_counter()
    for i in range(0, n, 10_000):
        store.write_sessions(account.id, records[i : i + 10_000])
    rates.append(n / (time.perf_counter() - started))
print(*(round(r) for r in rates))
store.close()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs=2, help="two source trees: the baseline, then the change")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[int, int]]] = {tree: [] for tree in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            directory = tempfile.mkdtemp(prefix="import-ab-")
            try:
                out = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(Path(tree).resolve()), str(args.sessions), directory + "/db"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.split()
            finally:
                shutil.rmtree(directory, ignore_errors=True)
            results[tree].append((int(out[-2]), int(out[-1])))
            print(f"{tree}: new {out[-2]} /s, again {out[-1]} /s", flush=True)
    for tree, rows in results.items():
        new = sum(r[0] for r in rows) / len(rows)
        again = sum(r[1] for r in rows) / len(rows)
        print(f"{tree}: mean new {new:,.0f} sessions/s, re-import {again:,.0f} sessions/s")


if __name__ == "__main__":
    main()
