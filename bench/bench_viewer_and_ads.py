"""Benchmark of the rest of the Sessions V3 family through the real HTTP server, on both backends:
the viewer lookup over 31 days (by viewer id and by client address), the dimensions list, and the ad
sessions sample, each beside baselines measured in the same run, request by request interleaved:

- discovery: ``GET /insights/3.0/sessions`` on the same server and connection: authentication, the
  read guard and a small JSON body, no store read. The floor of any read request here.
- bare (SQLite only): the lookup as one plain SQL query in this process (the lookup rows joined to
  the sessions and their documents, decompressed by ``stored_doc``), without the web edge.

It reuses the data sets of ``bench_sessions_api.py`` (2,000,000 sessions over 31 days plus 300,000
in a hot window, built by it under ``bench/data/``; run it first, or this script builds them). The
data set's account is granted the viewer module and ad insights for the run (``reelsight accounts
set``) and returned to how it was afterwards. A file from before schema 9 is migrated when the
first server opens it: the viewer lookups are backfilled then (the time is printed).

The viewers and addresses looked up are those of content sessions drawn at random from the SQLite
file (both backends hold the same sessions): ``--lookups`` of each. Results: ``docs/benchmarks.md``
("Viewer lookups, dimensions, ad sessions"). Run: ``.venv/bin/python bench/bench_viewer_and_ads.py``
(``--backends sqlite`` for one backend).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx

import bench_sessions_api as api  # the data sets and the server of the read benchmark
from benchutil import code_version
from reelsight.store.sqlite.documents import add_stored_doc_function
from reelsight.store.sqlite.viewers import term
from reelsight.web.discovery_route import DIMENSIONS_PATH
from reelsight.web.discovery_route import PATH as DISCOVERY_PATH
from reelsight.web.sessions_route import AD_PATH
from reelsight.web.viewer_route import PATH as VIEWER_PATH

DAY_MS = 86_400_000
TARGET_VIEWER_SQLITE_P50_MS = 10.0
TARGET_VIEWER_CHDB_P50_MS = 50.0
TARGET_DIMENSIONS_P50_MS = 50.0

# the store's own plan (one range per day of the window, each session by its key), in one statement
_BARE_SQL = (
    "SELECT stored_doc(d.dict_id, d.doc) FROM viewer_sessions AS v CROSS JOIN sessions AS s"
    " ON s.account_id = v.account_id AND s.end_bucket = +(v.end_ms / 900000) AND s.sample_key = v.sample_key"
    " CROSS JOIN session_docs AS d ON d.id = s.doc_id"
    " WHERE v.account_id = ? AND v.day IN ({days}) AND v.lookup = ? AND v.end_ms >= ? AND v.end_ms < ?"
    " AND s.end_ms = v.end_ms AND s.is_ended = 1 ORDER BY v.end_ms DESC, s.conviva_session_id LIMIT 50"
)


def pick_lookups(db: str, count: int, seed: int) -> dict[str, list[str]]:
    """``count`` viewer ids and ``count`` addresses of content sessions drawn at random from the file
    (so a viewer with more sessions is likelier to be drawn, as in real lookups)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    add_stored_doc_function(conn)
    rng = random.Random(seed)
    viewer_ids: list[str] = []
    ips: list[str] = []
    try:
        (top,) = conn.execute("SELECT max(id) FROM session_docs").fetchone()
        while len(viewer_ids) < count or len(ips) < count:
            ids = json.dumps([rng.randrange(1, top + 1) for _ in range(200)])
            for viewer_id, doc in conn.execute(
                "SELECT d.viewer_id, stored_doc(d.dict_id, d.doc) FROM session_docs AS d"
                " JOIN sessions AS s ON s.doc_id = d.id WHERE d.id IN (SELECT value FROM json_each(?))",
                (ids,),
            ):
                if viewer_id and len(viewer_ids) < count:
                    viewer_ids.append(viewer_id)
                address = json.loads(doc)["network_info"]["ip"]
                if address and len(ips) < count:
                    ips.append(address)
    finally:
        conn.close()
    return {"viewer_id": viewer_ids, "ip": ips}


@contextlib.contextmanager
def permissions_granted(options: Sequence[str], log: Path) -> Iterator[None]:
    """The data set's account with the viewer module and ad insights while the block runs."""

    def cli(*flags: str) -> None:
        with log.open("ab") as out:
            subprocess.run(
                [str(api.REELSIGHT), *options, "accounts", "set", "bench", *flags],
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "REELSIGHT_RETENTION_DAYS": str(api.RETENTION_DAYS)},
            )

    started = time.perf_counter()
    cli("--viewer-module", "--ad-insights")  # the first open of an older file migrates it here
    print(f"  permissions granted in {time.perf_counter() - started:.1f} s (includes any migration and backfill)")
    try:
        yield
    finally:
        cli("--no-viewer-module", "--no-ad-insights")


def timed(call: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1000


def p50_p95(values: list[float]) -> str:
    return f"p50 {api.percentile(values, 50):7.2f} ms  p95 {api.percentile(values, 95):7.2f} ms"


def run_backend(dataset: api.Dataset, lookups: dict[str, list[str]], requests: int, warmup: int) -> list[str]:
    """Time every case on one backend; returns the target lines."""
    options = api.store_options(dataset)
    log = api.DATA_DIR / f"viewer-bench-{dataset.backend}.log"
    log.unlink(missing_ok=True)
    results: list[str] = []
    with permissions_granted(options, log), api.running_server(options, log) as (proc, url):
        print(f"  server up; idle after {api.wait_until_idle(proc.pid):.1f} s")
        auth = (dataset.key_id, dataset.secret)
        bare: sqlite3.Connection | None = None
        if dataset.backend == "sqlite":
            bare = sqlite3.connect(f"file:{dataset.path}?mode=ro", uri=True)
            add_stored_doc_function(bare)
        with httpx.Client(base_url=url, auth=auth, timeout=60) as client:

            def get(path: str, params: dict[str, str] | None = None) -> httpx.Response:
                r = client.get(path, params=params)
                if r.status_code != 200:
                    raise RuntimeError(f"{path} {params}: {r.status_code} {r.text[:200]}")
                return r

            cases: list[tuple[str, str, Callable[[int], dict[str, str]]]] = [
                (f"viewer_id lookup, days=31 ({len(lookups['viewer_id'])} viewers)", VIEWER_PATH,
                 lambda i: {"viewer_id": lookups["viewer_id"][i % len(lookups["viewer_id"])], "days": "31"}),
                (f"ip lookup, days=31 ({len(lookups['ip'])} addresses)", VIEWER_PATH,
                 lambda i: {"ip": lookups["ip"][i % len(lookups["ip"])], "days": "31"}),
                ("dimensions list", DIMENSIONS_PATH, lambda i: {}),
                ("ad sessions, hot window limit=50", AD_PATH,
                 lambda i: {"start_epoch_ms": str(dataset.hot_start_ms), "end_epoch_ms": str(dataset.hot_end_ms)}),
                ("ad sessions, hot window limit=1500", AD_PATH,
                 lambda i: {"start_epoch_ms": str(dataset.hot_start_ms), "end_epoch_ms": str(dataset.hot_end_ms),
                            "limit": "1500"}),
            ]  # fmt: skip
            for name, path, params in cases:
                http_ms: list[float] = []
                floor_ms: list[float] = []
                bare_ms: list[float] = []
                returned: list[int] = []
                for i in range(warmup + requests):
                    p = params(i)
                    body: list[httpx.Response] = []
                    spent = timed(lambda: body.append(get(path, p)))  # noqa: B023
                    floor = timed(lambda: get(DISCOVERY_PATH))
                    bare_spent = None
                    if bare is not None and path == VIEWER_PATH:
                        key = term(("v:" + p["viewer_id"]) if "viewer_id" in p else ("i:" + p["ip"]))
                        now = int(time.time() * 1000)
                        days = list(range((now - 31 * DAY_MS) // DAY_MS, now // DAY_MS + 1))
                        sql = _BARE_SQL.format(days=",".join("?" * len(days)))
                        args = (dataset.account_id, *days, key, now - 31 * DAY_MS, now)
                        bare_spent = timed(lambda: bare.execute(sql, args).fetchall())  # noqa: B023
                    if i < warmup:
                        continue
                    http_ms.append(spent)
                    floor_ms.append(floor)
                    if bare_spent is not None:
                        bare_ms.append(bare_spent)
                    returned.append(len(body[0].json().get("sessions", [None])))
                median = statistics.median(returned) if returned else 0
                line = f"    {name:<44} HTTP {p50_p95(http_ms)}   discovery {p50_p95(floor_ms)}"
                if bare_ms:
                    line += f"   bare SQL {p50_p95(bare_ms)}"
                print(line + f"   returned median {median:g}")
                p50 = api.percentile(http_ms, 50)
                if path == VIEWER_PATH:
                    limit = TARGET_VIEWER_SQLITE_P50_MS if dataset.backend == "sqlite" else TARGET_VIEWER_CHDB_P50_MS
                    results.append(
                        f"{dataset.backend}: {name}: HTTP p50 {p50:.2f} ms < {limit:g} ms {api._mark(p50 < limit)}"
                    )
                elif path == DIMENSIONS_PATH:
                    ok = p50 < TARGET_DIMENSIONS_P50_MS
                    results.append(f"{dataset.backend}: {name}: HTTP p50 {p50:.2f} ms < 50 ms {api._mark(ok)}")
                elif median == 0:
                    results.append(f"{dataset.backend}: {name}: the data set holds no ad sessions in the hot window")
        if bare is not None:
            bare.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=2_000_000)
    parser.add_argument("--hot", type=int, default=300_000)
    parser.add_argument("--backends", default=",".join(api.BACKENDS))
    parser.add_argument("--lookups", type=int, default=60, help="viewer ids and addresses looked up [60 each]")
    parser.add_argument("--requests", type=int, default=120, help="timed requests per case [120]")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"code {code_version()}")
    datasets = dict(
        (d.backend, d)
        for d, _built in api.prepare_datasets(sorted({*backends, "sqlite"}), args.sessions, args.hot, False)
    )
    results: list[str] = []
    lookups: dict[str, list[str]] | None = None
    for backend in ["sqlite", *[b for b in backends if b != "sqlite"]]:
        dataset = datasets[backend]
        print(f"{backend}: {dataset.path}")
        if lookups is None:  # the SQLite file names them (after its migration in the first run below)
            with permissions_granted(api.store_options(datasets["sqlite"]), api.DATA_DIR / "viewer-bench-grant.log"):
                lookups = pick_lookups(datasets["sqlite"].path, args.lookups, seed=7)
        if backend in backends:
            results += run_backend(dataset, lookups, args.requests, args.warmup)
    print("\ntargets:")
    for line in results:
        print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
