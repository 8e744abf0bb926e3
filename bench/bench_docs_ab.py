"""A/B of the ClickHouse store's reads (and its size and import rate) for two source trees, on the same
generated data: the store call (``sample_sessions``, documents included) of the read benchmark's cases,
alternated round by round in separate processes (chDB: one engine per process).

Each tree writes its own chDB directory once (N sessions over 31 days plus H in a hot 3-hour window, as
``bench_store_size.py`` generates them, through its own ``ClickHouseStore.write_sessions``), merged
with ``OPTIMIZE FINAL``; then every round times each case on each tree, the trees alternating. The
baseline is the first tree, in the same run. Made for the documents compressed one by one (schema 10,
``docs/benchmarks.md``, "ClickHouse: documents compressed one by one"); it compares any two trees.

Run: ``git worktree add /tmp/base <rev>``, then
``.venv/bin/python bench/bench_docs_ab.py /tmp/base . --sessions 200000 --hot 100000 --rounds 4``
(about 10 minutes; the directories go to ``bench/data/docs-ab-*``, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import collections, json, os, statistics, sys, time
sys.path.insert(0, sys.argv[1] + "/src")
from reelsight.generate.sessions import DAY_MS, HOUR_MS, generate_sessions
from reelsight.query.dimensions import SCALAR_DIMENSIONS
from reelsight.query.parse import parse_query
from reelsight.query.selection import selection
from reelsight.store.records import to_record
from reelsight.store.url import open_clickhouse, parse_store_url
tree, directory, mode = sys.argv[1], sys.argv[2], sys.argv[3]
n, hot, repeat, now = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
marker = os.path.join(directory, "bench.json")
store = open_clickhouse(parse_store_url(f"chdb://{directory}/db"), read_timeout_s=60, retention_days=3650)
client = store._client
if mode == "build":
    hot_end = now - 2 * DAY_MS  # one ``now`` for both trees: the same sessions, windows and picks
    docs = [*generate_sessions(n, seed=1, end_ms=now, span_ms=31 * DAY_MS, ads=0.0),
            *generate_sessions(hot, seed=2, end_ms=hot_end, span_ms=3 * HOUR_MS, ads=0.0)]
    records = [to_record(d) for d in docs]
    del docs
    account = store.create_account("ab", viewer_module=False, business_error_patterns=(), ingest_key="ik_ab")
    started = time.perf_counter()
    store.write_sessions(account.id, records)
    rate = len(records) / (time.perf_counter() - started)
    for (table,) in client.query("SELECT name FROM system.tables WHERE database = currentDatabase()"
                                 " AND engine LIKE '%MergeTree'").result_rows:
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    sizes = dict(client.query("SELECT table, sum(bytes_on_disk) FROM system.parts WHERE database = currentDatabase()"
                              " AND active GROUP BY table").result_rows)
    window = [r for r in records if hot_end - 3 * HOUR_MS <= r.end_ms < hot_end]
    column = {d.column: i for i, d in enumerate(SCALAR_DIMENSIONS)}
    def common(name): return collections.Counter(r.dimensions[column[name]] for r in window).most_common(1)[0][0]
    isps = collections.Counter(r.dimensions[column["d_isp"]] for r in window)
    builds = collections.Counter(v for r in window for k, v in r.custom_tags if k == "app_build")
    tiers = collections.Counter(v for r in window for k, v in r.custom_tags if k == "subscription_tier")
    facts = {
        "account": account.id, "start": hot_end - 3 * HOUR_MS, "end": hot_end, "import_per_s": rate,
        "bytes_per_session": sum(int(v) for v in sizes.values()) / len(records),
        "session_docs_bytes_per_session": int(sizes.get("session_docs", 0)) / len(records),
        "device_os": common("d_device_os"), "country": common("d_geo_country_code"),
        "tier": tiers.most_common(1)[0][0], "rare_isp": min(isps, key=lambda k: (isps[k], k)),
        "rare_build": min((b for b in builds if builds[b] >= 20), key=lambda b: (builds[b], b)),
        "session_id": window[len(window) // 2].session_id,
    }
    json.dump(facts, open(marker, "w"))
    print(json.dumps(facts))
else:
    f = json.load(open(marker))
    cases = {
        "hot limit=1500": [("limit", "1500")],
        "hot limit=1500 2 dims+flag+tag": [("limit", "1500"), ("device_os", f["device_os"]),
            ("geo_country_code", f["country"]), ("is_video_start_failure", "false"),
            ("tag_subscription_tier", f["tier"])],
        "hot session_id lookup": [("session_id", f["session_id"])],
        "rare isp": [("limit", "1500"), ("isp", f["rare_isp"])],
        "rare tag_app_build": [("limit", "1500"), ("tag_app_build", f["rare_build"])],
    }
    window = [("start_epoch_ms", str(f["start"])), ("end_epoch_ms", str(f["end"]))]
    times = {name: [] for name in cases}
    returned = {}
    for rep in range(repeat + 2):
        for name, items in cases.items():
            sel = selection(parse_query([*window, *items], int(time.time() * 1000)))
            t0 = time.perf_counter()
            got = store.sample_sessions(f["account"], sel)
            if rep >= 2:
                times[name].append((time.perf_counter() - t0) * 1000)
            returned[name] = len(got)
    print(json.dumps({"times": times, "returned": returned}))
store.close()
"""


def _child(tree: str, directory: Path, mode: str, args: argparse.Namespace) -> dict[str, object]:
    argv = [str(Path(tree).resolve()), str(directory), mode, str(args.sessions), str(args.hot), str(args.repeat)]
    argv.append(str(args.now_ms))
    out = subprocess.run([sys.executable, "-c", _CHILD, *argv], check=True, capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs=2, help="two source trees: the baseline, then the change")
    parser.add_argument("--sessions", type=int, default=200_000, help="sessions over 31 days [200,000]")
    parser.add_argument("--hot", type=int, default=100_000, help="sessions in the hot 3-hour window [100,000]")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=10, help="timed requests per case, tree and round")
    parser.add_argument("--keep", action="store_true", help="keep the directories")
    args = parser.parse_args()
    args.now_ms = int(time.time() * 1000)
    names = ("baseline", "change")
    dirs = {name: ROOT / "bench" / "data" / f"docs-ab-{name}" for name in names}
    built: dict[str, dict[str, object]] = {}
    try:
        for name, tree in zip(names, args.trees, strict=True):
            shutil.rmtree(dirs[name], ignore_errors=True)
            dirs[name].mkdir(parents=True)
            built[name] = _child(tree, dirs[name], "build", args)
            print(f"{name} ({tree}): built", json.dumps(built[name]), flush=True)
        picks = ("start", "end", "device_os", "country", "tier", "rare_isp", "rare_build", "session_id")
        differing = [k for k in picks if built["baseline"][k] != built["change"][k]]
        if differing:  # the trees would not answer the same queries
            raise SystemExit(f"the two builds differ in {differing}: not the same data")
        times: dict[str, dict[str, list[float]]] = {name: {} for name in names}
        returned: dict[str, dict[str, int]] = {}
        for round_ in range(args.rounds):
            for name, tree in zip(names, args.trees, strict=True):
                out = _child(tree, dirs[name], "measure", args)
                for case, values in out["times"].items():  # type: ignore[attr-defined]
                    times[name].setdefault(case, []).extend(values)
                returned[name] = out["returned"]  # type: ignore[assignment]
            print(f"round {round_ + 1} of {args.rounds} done", flush=True)
    finally:
        if not args.keep:
            for directory in dirs.values():
                shutil.rmtree(directory, ignore_errors=True)
    n = args.sessions + args.hot
    print(
        f"\n{n:,} sessions ({args.hot:,} in the hot window);"
        f" store call p50 / p95 ms, {args.rounds} rounds x {args.repeat}"
    )
    print("| case | returned | baseline | change | change / baseline (p50) |\n|---|--:|--:|--:|--:|")
    for case in times["baseline"]:
        cells = []
        for name in names:
            values = sorted(times[name][case])
            cells.append(f"{statistics.median(values):.1f} / {values[int(0.95 * (len(values) - 1))]:.1f}")
        ratio = statistics.median(times["change"][case]) / statistics.median(times["baseline"][case])
        counts = f"{returned['baseline'][case]:,}" + (
            "" if returned["baseline"][case] == returned["change"][case] else f" / {returned['change'][case]:,}"
        )
        print(f"| {case} | {counts} | {cells[0]} | {cells[1]} | {ratio:.2f} |")
    for key in ("import_per_s", "bytes_per_session", "session_docs_bytes_per_session"):
        a, b = float(built["baseline"][key]), float(built["change"][key])  # type: ignore[arg-type]
        print(f"| {key} | | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
