"""Benchmark of the metrics endpoint: a 24-hour series at PT1H grouped by one dimension, through the real
HTTP server, beside the same computation as one bare SQL query in the same run, on SQLite and chDB.

Loads ``--sessions`` generated content sessions (default 1,000,000) whose ends span ``--days`` days
(default 31: the retention window; ``--days 1`` puts them all in the queried day) into a SQLite file and
a chDB directory under ``bench/data/`` (reused while the parameters match). Then it starts
``reelsight serve`` on each store and times, interleaved request by request:

- HTTP: ``GET /insights/3.0/metrics/rebuffering-ratio/group-by/device-os`` over the last 24 hours of the
  data at ``PT1H`` (httpx, keep-alive, Basic auth, body read in full);
- bare query: the same sums as one ``GROUP BY`` over the same rows, in-process, the floor: for SQLite
  five sums over the sessions table (sqlite3 on the file); for chDB the store's own statement (every
  sum, over ``session_facts FINAL``) through clickhouse-connect (the server runs on a copy of the
  directory: one process per directory).

Run: ``.venv/bin/python bench/bench_aggregates.py`` (the first 1M load takes a while), ``--sessions 50000``
for a quick run, ``--backends sqlite`` for one backend. Results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_sessions_api import (
    DATA_DIR,
    _bench_account,
    open_chdb_store,
    running_server,
    store_options,
)
from reelsight.generate.sessions import DAY_MS, HOUR_MS, generate_sessions
from reelsight.store.records import BUCKET_MS, to_record
from reelsight.store.sqlite import SqliteStore

FORMAT = 1
PATH = "/insights/3.0/metrics/rebuffering-ratio/group-by/device-os"
_SUMS = (
    "count(*), sum(is_exit_before_video_start), sum(is_video_start_failure), sum(a_rebuffering_time_ms),"
    " sum(a_playing_time_ms)"
)


class _Dataset:
    def __init__(self, backend: str, path: str, meta: dict[str, Any]) -> None:
        self.backend, self.path, self.meta = backend, path, meta

    @property
    def store_url(self) -> str:
        return f"chdb://{self.path}"


def build(backend: str, sessions: int, days: int) -> _Dataset:
    base = DATA_DIR / f"aggregates-{backend}-{sessions}-{days}d"
    marker = Path(f"{base}.json")
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("format") == FORMAT and meta["end_ms"] > time.time() * 1000 - 20 * DAY_MS:
            return _Dataset(backend, str(base) + (".db" if backend == "sqlite" else ""), meta)
    end_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    path = str(base) + (".db" if backend == "sqlite" else "")
    for leftover in (path, path + "-wal", path + "-shm"):
        Path(leftover).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True) if backend == "chdb" else None
    store: Any = SqliteStore(path, readers=1) if backend == "sqlite" else open_chdb_store(path)
    account_id, key_id, secret = _bench_account(store)
    started, chunk, written = time.perf_counter(), [], 0
    for doc in generate_sessions(sessions, seed=7, end_ms=end_ms, span_ms=days * DAY_MS, ads=0):
        chunk.append(to_record(doc))
        if len(chunk) == 10_000:
            written += store.write_sessions(account_id, chunk)
            chunk = []
            print(f"\r  {backend}: {written:,} sessions", end="", flush=True)
    written += store.write_sessions(account_id, chunk)
    write_s = time.perf_counter() - started
    print(f"\r  {backend}: {written:,} sessions written in {write_s:.0f} s")
    store.close()
    meta = {"format": FORMAT, "end_ms": end_ms, "account_id": account_id, "key_id": key_id, "secret": secret,
            "sessions": written, "write_s": write_s}  # fmt: skip
    marker.write_text(json.dumps(meta))
    return _Dataset(backend, path, meta)


def bare_sqlite(path: str, account_id: int, start: int, end: int) -> Any:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    sql = (
        f"SELECT (end_ms - ?) / ?, d_device_os, {_SUMS} FROM sessions WHERE account_id = ?"  # noqa: S608
        " AND end_bucket BETWEEN ? AND ? AND end_ms >= ? AND end_ms < ? AND is_ended = 1 GROUP BY 1, 2"
    )
    args = (start, HOUR_MS, account_id, start // BUCKET_MS, (end - 1) // BUCKET_MS, start, end)
    return lambda: conn.execute(sql, args).fetchall()


def bare_chdb(path: str, account_id: int, start: int, end: int) -> Any:
    import clickhouse_connect

    from reelsight.store.clickhouse.schema import FACT_BUCKET_MS
    from reelsight.store.clickhouse.store import _SUMS as STORE_SUMS

    open_chdb_store(path)  # migrates a data set built by an older schema (the server's copy is taken after)
    # chDB runs one engine per process: this process keeps the directory (it may have built it), the
    # server gets a copy (see ``run``)
    client = clickhouse_connect.get_client(interface="chdb", path=path, database="reelsight")
    sql = (  # the store's statement with its values inlined: every sum the endpoint reads, the same rows
        f"SELECT intDiv(end_ms - {start}, {HOUR_MS}) AS b, d_device_os AS g, {STORE_SUMS}"  # noqa: S608
        f" FROM session_facts FINAL WHERE account_id = {account_id} AND end_bucket >= {start // FACT_BUCKET_MS}"
        f" AND end_bucket <= {(end - 1) // FACT_BUCKET_MS} AND end_ms >= {start} AND end_ms < {end}"
        " AND is_ended = 1 GROUP BY b, g"
    )
    return lambda: client.query(sql).result_rows


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(dataset: _Dataset, reps: int) -> dict[str, Any]:
    meta = dataset.meta
    end = meta["end_ms"]
    start = end - DAY_MS
    params = {"start_epoch_ms": start, "end_epoch_ms": end, "granularity": "PT1H"}
    log = Path(f"{dataset.path}-server.log")
    bare = (bare_sqlite if dataset.backend == "sqlite" else bare_chdb)(dataset.path, meta["account_id"], start, end)
    timings: dict[str, list[float]] = {"http": [], "bare": []}
    served = dataset
    if dataset.backend == "chdb":
        copy = dataset.path + "-served"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(dataset.path, copy, symlinks=True)  # the Atomic database's links are relative
        served = _Dataset("chdb", copy, meta)
    with running_server(store_options(served), log) as (_proc, url), httpx.Client(base_url=url, timeout=60) as http:  # type: ignore[arg-type]
        auth = (meta["key_id"], meta["secret"])
        first = http.get(PATH, params=params, auth=auth)
        assert first.status_code == 200, first.text
        groups = len(first.json()["total"]["dimensional_data"])
        sessions = sum(e["dimension"] and 1 for e in first.json()["total"]["dimensional_data"])
        for _ in range(3):
            http.get(PATH, params=params, auth=auth)
            bare()
        for _ in range(reps):
            t = time.perf_counter()
            r = http.get(PATH, params=params, auth=auth)
            timings["http"].append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
            t = time.perf_counter()
            bare()
            timings["bare"].append((time.perf_counter() - t) * 1000)
    in_window = sum(row[2] for row in bare())
    return {
        "backend": dataset.backend,
        "stored": meta["sessions"],
        "in_window": in_window,
        "groups": groups or sessions,
        **{f"{k}_p50": statistics.median(v) for k, v in timings.items()},
        **{f"{k}_p95": pct(v, 0.95) for k, v in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,chdb")
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for backend in args.backends.split(","):
        dataset = build(backend, args.sessions, args.days)
        with contextlib.suppress(KeyboardInterrupt):
            res = run(dataset, args.reps)
            print(
                f"{res['backend']}: {res['stored']:,} sessions stored, {res['in_window']:,} in the 24 h window,"
                f" {res['groups']} groups; HTTP p50 {res['http_p50']:.1f} ms p95 {res['http_p95']:.1f} ms;"
                f" bare query p50 {res['bare_p50']:.1f} ms p95 {res['bare_p95']:.1f} ms"
            )


if __name__ == "__main__":
    main()
