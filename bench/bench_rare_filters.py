"""Selective filters on the SQLite store: the filter-terms plan beside the bucket plan, in one run.

Reads the data set ``bench_sessions_api.py`` built (``bench/data/sessions-N-H.db`` and its JSON marker;
build it first) through ``SqliteStore.sample_sessions`` on the hot window, for the rarest ISP and a rare
``app_build`` tag with the postings plan allowed (``store/sqlite/terms.py``) and with it switched off
(the bucket plan, the baseline), interleaved request by request, and checks both return the same
sessions. Run: ``.venv/bin/python bench/bench_rare_filters.py [--sessions 2000000 --hot 300000]``.
Results: ``docs/benchmarks.md`` ("Rare filters").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from reelsight.query.parse import SessionQuery
from reelsight.query.selection import Selection, selection
from reelsight.store.sqlite import SqliteStore, reader

DATA = Path(__file__).resolve().parent / "data"


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _rare_values(path: str, account_id: int, start_ms: int, end_ms: int) -> tuple[str, str]:
    window = "account_id = ? AND end_ms >= ? AND end_ms < ?"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        (isp,) = conn.execute(
            f"SELECT d_isp FROM sessions WHERE {window} GROUP BY 1 ORDER BY count(*), 1 LIMIT 1",  # noqa: S608
            (account_id, start_ms, end_ms),
        ).fetchone()
        marker = "char(31) || 'app_build' || char(30)"
        (build,) = conn.execute(
            f"WITH t AS (SELECT substr(tags, instr(tags, {marker}) + 11) AS rest FROM sessions"  # noqa: S608
            f" WHERE instr(tags, {marker}) > 0 AND {window})"
            " SELECT substr(rest, 1, instr(rest, char(31)) - 1) FROM t GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            (account_id, start_ms, end_ms),
        ).fetchone()
    return str(isp), str(build)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=2_000_000)
    parser.add_argument("--hot", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args(argv)
    marker = DATA / f"sessions-{args.sessions}-{args.hot}.json"
    if not marker.exists():
        print(f"{marker} is missing: run bench/bench_sessions_api.py --sessions {args.sessions} --hot {args.hot}")
        return 2
    meta = json.loads(marker.read_text())
    start_ms, end_ms, account_id = meta["hot_start_ms"], meta["hot_end_ms"], meta["account_id"]
    isp, build = _rare_values(meta["path"], account_id, start_ms, end_ms)
    store = SqliteStore(meta["path"], readers=1, read_timeout_s=120)
    postings_plan = reader._postings_plan
    hot = {"start_ms": start_ms, "end_ms": end_ms, "limit": 1500}
    cases = {
        f"hot limit=1500 isp={isp!r} (rarest)": SessionQuery(**hot, dimensions=(("isp", (isp,)),)),
        f"hot limit=1500 tag_app_build={build!r}": SessionQuery(**hot, tags=(("app_build", (build,)),)),
        "hot limit=1500, no filter (reference)": SessionQuery(**hot),
    }
    print(f"data set {meta['path']}: {meta['stored_sessions']:,} sessions; {args.requests} requests per case and plan")
    print("| query | returned | postings plan p50 / p95 ms | bucket plan p50 / p95 ms | bucket / postings |")
    print("|---|--:|--:|--:|--:|")
    try:
        for name, query in cases.items():
            sel: Selection = selection(query)
            timings: dict[str, list[float]] = {"postings": [], "bucket": []}
            answers: dict[str, list[str]] = {}
            plans: dict[str, Callable[..., object]] = {"postings": postings_plan, "bucket": lambda *_a: None}
            for _rep in range(args.requests):
                for plan, func in plans.items():
                    reader._postings_plan = func  # type: ignore[assignment]
                    started = time.perf_counter()
                    found = store.sample_sessions(account_id, sel)
                    timings[plan].append((time.perf_counter() - started) * 1000)
                    answers[plan] = [s.conviva_session_id for s in found]
            if answers["postings"] != answers["bucket"]:
                print(f"MISMATCH: {name}: the plans returned different sessions")
                return 1
            p, b = timings["postings"], timings["bucket"]
            print(
                f"| {name} | {len(answers['postings']):,} | {_percentile(p, 50):.1f} / {_percentile(p, 95):.1f}"
                f" | {_percentile(b, 50):.1f} / {_percentile(b, 95):.1f}"
                f" | {_percentile(b, 50) / _percentile(p, 50):.1f}x |"
            )
    finally:
        reader._postings_plan = postings_plan  # type: ignore[assignment]
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
