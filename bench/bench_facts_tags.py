"""In-process A/B of the filtered content sample's pick on ``session_facts`` with its custom tags as
``Map(String, String)`` (the schema) and as ``Map(LowCardinality(String), String)`` (an option tried on
2026-12-08 and not kept: ``docs/benchmarks.md``, "Both backends").

Runs on a copy of ``bench_sessions_api.py``'s chDB data set (built first by that benchmark), on the
same parts: each round converts the column (``ALTER ... MODIFY COLUMN``, waiting for the mutation) and
times the store's pick query and the whole ``sample_sessions`` call for the benchmark's filtered
cases, alternating the order of the two types round by round, and checks both return the same
sessions. Prints p50 / p95 per case and type and their ratio. Run:
``.venv/bin/python bench/bench_facts_tags.py --build VALUE`` (the rare ``tag_app_build`` value that
``bench_sessions_api.py`` printed; about 5 minutes at full size).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from reelsight.query.parse import SessionQuery
from reelsight.query.selection import selection
from reelsight.store.clickhouse.store import ClickHouseStore
from reelsight.store.url import StoreUrl, open_clickhouse

DATA = Path(__file__).parent / "data"
TYPES = {
    "String keys (the schema)": "Map(String, String)",
    "LowCardinality keys": "Map(LowCardinality(String), String)",
}


class PickTimer:
    """Times the first query of each ``sample_sessions`` call (the pick) by wrapping the store's query
    method; :meth:`start` before each call."""

    def __init__(self, store: ClickHouseStore) -> None:
        self.last_ms = 0.0
        self._first = False
        self._inner = store._query
        store._query = self._timed  # type: ignore[method-assign]

    def start(self) -> None:
        self._first = True

    def _timed(self, *args: Any, **kwargs: Any) -> Any:
        if not self._first:
            return self._inner(*args, **kwargs)
        self._first = False
        t0 = time.perf_counter()
        try:
            return self._inner(*args, **kwargs)
        finally:
            self.last_ms = (time.perf_counter() - t0) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=str(DATA / "sessions-2000000-300000-chdb.json"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--device-os", default="iOS")
    parser.add_argument("--country", default="US")
    parser.add_argument("--tier", default="free")
    parser.add_argument("--build", required=True, help="the rare tag_app_build value bench_sessions_api printed")
    args = parser.parse_args(argv)
    dataset = json.loads(Path(args.dataset).read_text())
    copy = DATA / "facts-tags-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(dataset["path"], copy, symlinks=True)  # the Atomic database's links are relative
    store = open_clickhouse(
        StoreUrl("chdb", path=str(copy), database="reelsight"), read_timeout_s=60, retention_days=3650
    )
    assert isinstance(store, ClickHouseStore)
    window = {"start_ms": dataset["hot_start_ms"], "end_ms": dataset["hot_end_ms"], "limit": 1500}
    cases = {
        "hot limit=1500 2 dims+flag+tag": SessionQuery(
            **window,
            dimensions=(("device_os", (args.device_os,)), ("geo_country_code", (args.country,))),
            flags=(("is_video_start_failure", (False,)),),
            tags=(("subscription_tier", (args.tier,)),),
        ),
        "rare tag_app_build": SessionQuery(**window, tags=(("app_build", (args.build,)),)),
    }
    timer = PickTimer(store)
    results: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    answers: dict[str, set[tuple[str, bytes]]] = {}
    names = list(TYPES)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            store._client.command(
                f"ALTER TABLE session_facts MODIFY COLUMN tags {TYPES[name]}", settings={"mutations_sync": 2}
            )
            for case, query in cases.items():
                picks, calls = results.setdefault((case, name), ([], []))
                for i in range(args.requests + 2):
                    timer.start()
                    t0 = time.perf_counter()
                    found = store.sample_sessions(dataset["account_id"], selection(query))
                    elapsed = (time.perf_counter() - t0) * 1000
                    if i >= 2:  # two warm-ups per round
                        calls.append(elapsed)
                        picks.append(timer.last_ms)
                    got = {(s.conviva_session_id, s.doc) for s in found}
                    if answers.setdefault(case, got) != got:
                        print(f"**{case}: the {name} column answered other sessions**")
                        return 1
    print(f"{args.rounds} rounds x {args.requests} requests per case and type, alternating the order")
    print("| case | tags type | returned | pick p50 / p95 ms | sample_sessions p50 / p95 ms |")
    print("|---|---|--:|--:|--:|")
    for (case, name), (picks, calls) in results.items():
        q = statistics.quantiles
        print(
            f"| {case} | {name} | {len(answers[case])} | {statistics.median(picks):.1f} / {q(picks, n=20)[-1]:.1f}"
            f" | {statistics.median(calls):.1f} / {q(calls, n=20)[-1]:.1f} |"
        )
    for case in cases:
        old, new = (statistics.median(results[(case, n)][1]) for n in names)
        print(f"{case}: sample_sessions p50 LowCardinality keys / String keys = {new / old:.2f}")
    store.close()
    shutil.rmtree(copy, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
