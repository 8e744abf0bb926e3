"""Benchmark of ``GET /insights/3.0/sessions/content`` through the real HTTP server, beside its baselines.

Loads generated sessions of one account (by default 2,000,000 over 31 days plus a hot 3-hour window
of 300,000) through the store API into a SQLite file under ``bench/data/`` (reused while its
parameters match and its windows are still queryable), starts ``reelsight serve`` on it, and times
every query three ways in the same run, interleaved request by request:

- HTTP: the request through the real server (httpx, keep-alive, Basic auth), body read in full;
- store call: the same ``SessionQuery`` run in-process by ``SqliteStore.sample_sessions`` plus
  ``render_sessions``: the SQLite work and body assembly the endpoint does, without the web edge;
- bare fetch: one plain sqlite3 query fetching exactly the returned documents by id, joined: the floor.

Run: ``.venv/bin/python bench/bench_sessions_api.py`` (full size; the first load takes minutes),
``--sessions 50000 --hot 10000`` for a quick smoke run, ``--rebuild`` to force a fresh load.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec

from reelsight import credentials
from reelsight.generate.sessions import DAY_MS, HOUR_MS, generate_sessions
from reelsight.query.parse import SessionQuery, parse_query
from reelsight.settings import Settings
from reelsight.store.records import BUCKET_MS, to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.web.sessions_route import PATH, query_items, render_sessions

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"
REELSIGHT = ROOT / ".venv" / "bin" / "reelsight"

# Bump when the way the data set is built changes, so old files are rebuilt rather than reused.
DATASET_FORMAT = 1
SEED_MONTH = 1
SEED_HOT = 2
WINDOW_MS = 3 * HOUR_MS
HOT_END_BEFORE_BUILD_MS = 2 * DAY_MS  # the hot window ends two days before the build
ORDINARY_BEFORE_HOT_MS = 7 * DAY_MS  # the ordinary window: same time of day, a week before the hot one
QUERYABLE_MS = 31 * DAY_MS  # the API refuses windows starting earlier than this before now
SLIDE_STEP_MS = 60_000
TAG_KEY = "subscription_tier"

TARGET_LIMIT50_P50_MS = 10.0
TARGET_LIMIT1500_HOT_P50_MS = 60.0
TARGET_HTTP_OVER_STORE = 1.5
TARGET_RSS_MB = 300.0


# -- the data set ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A built SQLite file and what the benchmark needs to query it (the JSON marker beside it)."""

    path: str
    sessions: int
    hot: int
    built_ms: int
    hot_start_ms: int
    hot_end_ms: int
    account_id: int
    key_id: str
    secret: str
    stored_sessions: int
    load_s: float
    format: int = DATASET_FORMAT

    @property
    def ordinary_start_ms(self) -> int:
        return self.hot_start_ms - ORDINARY_BEFORE_HOT_MS

    @property
    def ordinary_end_ms(self) -> int:
        return self.hot_end_ms - ORDINARY_BEFORE_HOT_MS

    @property
    def earliest_query_start_ms(self) -> int:
        return min(self.hot_start_ms, self.ordinary_start_ms)


def _paths(sessions: int, hot: int) -> tuple[Path, Path]:
    stem = f"sessions-{sessions}-{hot}"
    return DATA_DIR / f"{stem}.db", DATA_DIR / f"{stem}.json"


def _db_bytes(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def _reusable(marker: Path, sessions: int, hot: int, now_ms: int) -> Dataset | None:
    """The dataset described by ``marker`` if it was built with these parameters and is still queryable."""
    if not marker.exists():
        return None
    try:
        found = Dataset(**json.loads(marker.read_text()))
    except (TypeError, ValueError):
        print(f"ignoring unreadable marker {marker}")
        return None
    if (found.format, found.sessions, found.hot) != (DATASET_FORMAT, sessions, hot) or not os.path.exists(found.path):
        print(f"{marker.name}: built with other parameters or the file is missing; rebuilding")
        return None
    # The whole run must finish before the oldest query window falls out of the API's 31 days.
    if found.earliest_query_start_ms < now_ms - QUERYABLE_MS + 6 * HOUR_MS:
        print(f"{marker.name}: built {(now_ms - found.built_ms) / DAY_MS:.1f} days ago, too old to query; rebuilding")
        return None
    return found


def _progress(docs: Iterable[T], label: str, total: int) -> Iterator[T]:
    started = time.perf_counter()
    for i, doc in enumerate(docs, 1):
        yield doc
        if i % 250_000 == 0 or i == total:
            elapsed = time.perf_counter() - started
            print(f"  {label}: {i:>9,} / {total:,} sessions, {elapsed:6.0f} s, {i / elapsed:,.0f} /s", flush=True)


def build_dataset(sessions: int, hot: int, now_ms: int) -> Dataset:
    db, marker = _paths(sessions, hot)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)  # a marker only ever describes a finished build
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    hot_end_ms = now_ms - HOT_END_BEFORE_BUILD_MS
    print(f"building {db.relative_to(ROOT)}: {sessions:,} sessions over 31 days + {hot:,} in a hot 3-hour window")
    store = SqliteStore(str(db), readers=1)
    account = store.create_account(
        "bench", viewer_module=False, business_error_patterns=(), ingest_key=credentials.new_ingest_key()
    )
    key_id, secret = credentials.new_key_id(), credentials.new_secret()
    store.add_api_key(account.id, key_id, credentials.hash_secret(secret))
    started = time.perf_counter()
    month = generate_sessions(sessions, seed=SEED_MONTH, end_ms=now_ms, span_ms=31 * DAY_MS)
    store.write_sessions(account.id, (to_record(d) for d in _progress(month, "31 days", sessions)))
    burst = generate_sessions(hot, seed=SEED_HOT, end_ms=hot_end_ms, span_ms=WINDOW_MS)
    store.write_sessions(account.id, (to_record(d) for d in _progress(burst, "hot window", hot)))
    load_s = time.perf_counter() - started
    store.close()  # the last connection checkpoints and removes the WAL
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        stored = conn.execute("SELECT count(*) FROM sessions WHERE account_id = ?", (account.id,)).fetchone()[0]
    dataset = Dataset(
        path=str(db),
        sessions=sessions,
        hot=hot,
        built_ms=now_ms,
        hot_start_ms=hot_end_ms - WINDOW_MS,
        hot_end_ms=hot_end_ms,
        account_id=account.id,
        key_id=key_id,
        secret=secret,
        stored_sessions=stored,
        load_s=load_s,
    )
    marker.write_text(json.dumps(dataclasses.asdict(dataset), indent=2) + "\n")
    return dataset


def describe_dataset(dataset: Dataset, built_now: bool) -> None:
    written = dataset.sessions + dataset.hot
    size = _db_bytes(dataset.path)
    how = "built now" if built_now else f"reused, built {(time.time() * 1000 - dataset.built_ms) / DAY_MS:.1f} days ago"
    print(f"data set: {dataset.path} ({how})")
    print(
        f"  load {dataset.load_s:.0f} s for {written:,} sessions = {written / dataset.load_s:,.0f} sessions/s;"
        f" DB size {size / 2**30:.2f} GiB ({size / written:,.0f} bytes/session)"
    )
    print(
        f"  stored sessions {dataset.stored_sessions:,}"
        f" ({written - dataset.stored_sessions:,} ids of the two seeds collided and were replaced)"
    )


# -- the queries ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    window: str  # "hot" or "ordinary"
    params: tuple[tuple[str, str], ...]  # besides the time range
    start_ms: int
    end_ms: int
    slide_ms: int = 0  # the window moves by this much on each request

    @property
    def limit(self) -> int:
        return int(dict(self.params).get("limit", "50"))

    def query_params(self, rep: int) -> list[tuple[str, str]]:
        shift = rep * self.slide_ms
        return [
            ("start_epoch_ms", str(self.start_ms + shift)),
            ("end_epoch_ms", str(self.end_ms + shift)),
            *self.params,
        ]


@dataclasses.dataclass(frozen=True)
class WindowFacts:
    sessions: int
    device_os: str
    country: str
    tier: str
    filtered: int  # sessions matching the two dimensions, the flag and the tag
    session_id: str


def _window_sql(dataset: Dataset, start_ms: int, end_ms: int) -> tuple[str, list[object]]:
    where = "s.account_id = ? AND s.end_bucket BETWEEN ? AND ? AND s.end_ms >= ? AND s.end_ms < ?"
    return where, [dataset.account_id, start_ms // BUCKET_MS, (end_ms - 1) // BUCKET_MS, start_ms, end_ms]


def window_facts(conn: sqlite3.Connection, dataset: Dataset) -> WindowFacts:
    """Common filter values of the hot window, taken from the data, and how many sessions match them."""
    where, args = _window_sql(dataset, dataset.hot_start_ms, dataset.hot_end_ms)

    def scalar(sql: str, extra: Sequence[object] = ()) -> str:
        row = conn.execute(sql, [*args, *extra]).fetchone()
        return str(row[0])

    total = int(scalar(f"SELECT count(*) FROM sessions s WHERE {where}"))  # noqa: S608
    device_os = scalar(
        f"SELECT d_device_os FROM sessions s WHERE {where} GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"  # noqa: S608
    )
    country = scalar(
        f"SELECT d_geo_country_code FROM sessions s WHERE {where} AND d_device_os = ?"  # noqa: S608
        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
        [device_os],
    )
    tagged = (
        f"FROM sessions s JOIN session_tags t ON t.doc_id = s.doc_id AND t.key = '{TAG_KEY}'"
        f" WHERE {where} AND d_device_os = ? AND d_geo_country_code = ? AND is_video_start_failure = 0"
    )
    tier = scalar(f"SELECT t.value {tagged} GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", [device_os, country])  # noqa: S608
    filtered = int(scalar(f"SELECT count(*) {tagged} AND t.value = ?", [device_os, country, tier]))  # noqa: S608
    session_id = scalar(f"SELECT session_id FROM sessions s WHERE {where} ORDER BY sample_key LIMIT 1")  # noqa: S608
    return WindowFacts(total, device_os, country, tier, filtered, session_id)


def ordinary_count(conn: sqlite3.Connection, dataset: Dataset) -> int:
    where, args = _window_sql(dataset, dataset.ordinary_start_ms, dataset.ordinary_end_ms)
    return int(conn.execute(f"SELECT count(*) FROM sessions s WHERE {where}", args).fetchone()[0])  # noqa: S608


def cases(dataset: Dataset, facts: WindowFacts) -> list[Case]:
    hot = (dataset.hot_start_ms, dataset.hot_end_ms)
    ordinary = (dataset.ordinary_start_ms, dataset.ordinary_end_ms)
    filters = (
        ("limit", "1500"),
        ("device_os", facts.device_os),
        ("geo_country_code", facts.country),
        ("is_video_start_failure", "false"),
        (f"tag_{TAG_KEY}", facts.tier),
    )
    return [
        Case("hot limit=50", "hot", (("limit", "50"),), *hot),
        Case("hot limit=1500", "hot", (("limit", "1500"),), *hot),
        Case("hot limit=1500 2 dims+flag+tag", "hot", filters, *hot),
        Case("hot session_id lookup", "hot", (("session_id", facts.session_id),), *hot),
        Case("hot limit=50, sliding 1 min/request", "hot", (("limit", "50"),), *hot, slide_ms=SLIDE_STEP_MS),
        Case("hot limit=1500, sliding 1 min/request", "hot", (("limit", "1500"),), *hot, slide_ms=SLIDE_STEP_MS),
        Case("ordinary limit=50", "ordinary", (("limit", "50"),), *ordinary),
        Case("ordinary limit=1500", "ordinary", (("limit", "1500"),), *ordinary),
    ]


# -- the server -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


@contextlib.contextmanager
def running_server(dataset: Dataset, log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = dict(os.environ)
    env["REELSIGHT_RATE_LIMIT_IP_REQUESTS"] = "10000000"
    # The server purges sessions older than retention_days at start-up; keep the data set as built.
    env["REELSIGHT_RETENTION_DAYS"] = "36500"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(REELSIGHT), "--db", dataset.path, "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {proc.returncode}; see {log_path}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer /healthz within 60 s; see {log_path}")
                time.sleep(0.1)
            yield proc, url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until_idle(pid: int, *, timeout_s: float = 300) -> float:
    """Seconds until the process stops using CPU (the start-up retention purge scans the whole table)."""
    started = time.monotonic()
    quiet = 0
    last = _cpu_s(pid)
    while time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        now = _cpu_s(pid)
        quiet = quiet + 1 if now - last < 0.02 else 0
        last = now
        if quiet >= 3:
            return time.monotonic() - started - 1.5
    return float("nan")


# -- measuring ------------------------------------------------------------------------------------


class _Ids(msgspec.Struct):
    conviva_session_id: str


class _Body(msgspec.Struct):
    sessions: list[_Ids]


_DECODE_IDS = msgspec.json.Decoder(_Body).decode
_BARE_SQL = (
    "SELECT d.doc FROM json_each(?) AS j JOIN session_docs AS d ON d.id = j.value ORDER BY j.key"  # fixed text
)


@dataclasses.dataclass
class Timings:
    http_ms: list[float] = dataclasses.field(default_factory=list)
    store_ms: list[float] = dataclasses.field(default_factory=list)
    bare_ms: list[float] = dataclasses.field(default_factory=list)
    returned: list[int] = dataclasses.field(default_factory=list)
    body_bytes: list[int] = dataclasses.field(default_factory=list)
    mismatches: int = 0
    body_differs: int = 0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class Bench:
    def __init__(self, dataset: Dataset, client: httpx.Client, store: SqliteStore, bare: sqlite3.Connection) -> None:
        self.dataset = dataset
        self.client = client
        self.store = store
        self.bare = bare
        self.settings = Settings()

    def _query(self, params: list[tuple[str, str]]) -> SessionQuery:
        raw = str(httpx.QueryParams(params)).encode("ascii")
        return parse_query(query_items(raw, self.settings), int(time.time() * 1000))

    def _doc_ids(self, conviva_ids: list[str]) -> list[int]:
        rows = dict(
            self.bare.execute(
                "SELECT conviva_session_id, doc_id FROM sessions"
                " WHERE account_id = ? AND conviva_session_id IN (SELECT value FROM json_each(?))",
                (self.dataset.account_id, json.dumps(conviva_ids)),
            ).fetchall()
        )
        return [rows[c] for c in conviva_ids]

    def once(self, case: Case, rep: int, timings: Timings | None) -> None:
        params = case.query_params(rep)
        query = self._query(params)

        t0 = time.perf_counter()
        response = self.client.get(PATH, params=params)
        t1 = time.perf_counter()
        if response.status_code != 200:
            raise RuntimeError(f"{case.name}: HTTP {response.status_code}: {response.text[:300]}")
        http_body = response.content

        t2 = time.perf_counter()
        stored = self.store.sample_sessions(self.dataset.account_id, query)
        store_body = render_sessions(stored, viewer_module=False)
        t3 = time.perf_counter()

        store_ids = [s.conviva_session_id for s in stored]
        doc_ids = json.dumps(self._doc_ids(store_ids))
        t4 = time.perf_counter()
        bare_body = b'{"sessions":[' + b",".join(row[0] for row in self.bare.execute(_BARE_SQL, (doc_ids,))) + b"]}"
        t5 = time.perf_counter()

        if timings is None:
            return
        http_ids = [s.conviva_session_id for s in _DECODE_IDS(http_body).sessions]
        timings.http_ms.append((t1 - t0) * 1000)
        timings.store_ms.append((t3 - t2) * 1000)
        timings.bare_ms.append((t5 - t4) * 1000)
        timings.returned.append(len(http_ids))
        timings.body_bytes.append(len(http_body))
        timings.mismatches += http_ids != store_ids
        timings.body_differs += not (http_body == store_body == bare_body)

    def run(self, case: Case, warmup: int, requests: int) -> Timings:
        for rep in range(warmup):
            self.once(case, rep, None)
        timings = Timings()
        for rep in range(warmup, warmup + requests):
            self.once(case, rep, timings)
        return timings

    def http_floor(self, url: str, warmup: int, requests: int) -> list[float]:
        """GET /healthz: the transport and framework alone, no auth, no store."""
        out: list[float] = []
        for i in range(warmup + requests):
            t0 = time.perf_counter()
            self.client.get(url + "/healthz")
            if i >= warmup:
                out.append((time.perf_counter() - t0) * 1000)
        return out


# -- reporting ------------------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def report(case_timings: list[tuple[Case, Timings]], floor_ms: list[float], window_sessions: dict[str, int]) -> bool:
    """Print the results table; return True when every correctness check held."""
    print()
    print(
        "| query | window sessions | returned | body KiB | HTTP p50 / p95 ms | store call p50 / p95 ms"
        " | bare fetch p50 / p95 ms | HTTP / store | HTTP / bare | targets |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    correct = True
    for case, t in case_timings:
        http50, store50, bare50 = (statistics.median(v) for v in (t.http_ms, t.store_ms, t.bare_ms))
        checks = [f"HTTP/store {_mark(http50 <= TARGET_HTTP_OVER_STORE * store50)}"]
        if case.limit == 50 and "session_id" not in dict(case.params):
            checks.insert(0, f"p50<{TARGET_LIMIT50_P50_MS:g} ms {_mark(http50 < TARGET_LIMIT50_P50_MS)}")
        if case.limit == 1500 and case.window == "hot":
            checks.insert(0, f"p50<{TARGET_LIMIT1500_HOT_P50_MS:g} ms {_mark(http50 < TARGET_LIMIT1500_HOT_P50_MS)}")
        if t.mismatches:
            checks.append(f"**{t.mismatches} id mismatches**")
            correct = False
        if t.body_differs:
            checks.append(f"**{t.body_differs} bodies differ**")
            correct = False
        returned = f"{min(t.returned)}" if min(t.returned) == max(t.returned) else f"{min(t.returned)}-{max(t.returned)}"
        print(
            f"| {case.name} | {window_sessions[case.window]:,} | {returned} | {statistics.median(t.body_bytes) / 1024:,.0f}"
            f" | {http50:.1f} / {percentile(t.http_ms, 95):.1f}"
            f" | {store50:.1f} / {percentile(t.store_ms, 95):.1f}"
            f" | {bare50:.2f} / {percentile(t.bare_ms, 95):.2f}"
            f" | {http50 / store50:.2f} | {http50 / bare50:.1f} | {'; '.join(checks)} |"
        )
    print(
        f"| GET /healthz (HTTP floor) | | | | {statistics.median(floor_ms):.2f} / {percentile(floor_ms, 95):.2f}"
        " | | | | | |"
    )
    return correct


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=2_000_000, help="sessions over 31 days [2,000,000]")
    parser.add_argument("--hot", type=int, default=300_000, help="extra sessions in the hot 3-hour window [300,000]")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data set even if a matching one exists")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per query and path [50]")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per query first [5]")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw timings to this JSON file")
    args = parser.parse_args(argv)
    if args.requests < 30:
        parser.error("--requests must be at least 30")

    now_ms = int(time.time() * 1000)
    _db, marker = _paths(args.sessions, args.hot)
    dataset = None if args.rebuild else _reusable(marker, args.sessions, args.hot, now_ms)
    built_now = dataset is None
    if dataset is None:
        dataset = build_dataset(args.sessions, args.hot, now_ms)
    describe_dataset(dataset, built_now)

    with contextlib.closing(sqlite3.connect(f"file:{dataset.path}?mode=ro", uri=True)) as bare:
        facts = window_facts(bare, dataset)
        window_sessions = {"hot": facts.sessions, "ordinary": ordinary_count(bare, dataset)}
        print(
            f"  hot window {facts.sessions:,} sessions; ordinary window {window_sessions['ordinary']:,};"
            f" filter device_os={facts.device_os!r} geo_country_code={facts.country!r}"
            f" is_video_start_failure=false tag_{TAG_KEY}={facts.tier!r} matches {facts.filtered:,}"
            f" ({facts.filtered / facts.sessions:.1%} of the hot window)"
        )
        store = SqliteStore(dataset.path, readers=1)
        log_path = DATA_DIR / "server.log"
        with (
            running_server(dataset, log_path) as (proc, url),
            httpx.Client(base_url=url, auth=(dataset.key_id, dataset.secret), timeout=60) as client,
        ):
            idle_s = wait_until_idle(proc.pid)
            started_mem = memory_mb(proc.pid)
            print(
                f"server pid {proc.pid} on {url}: idle {idle_s:.1f} s after /healthz answered;"
                f" RSS {started_mem['VmRSS']:.0f} MiB before the queries"
            )
            bench = Bench(dataset, client, store, bare)
            results: list[tuple[Case, Timings]] = []
            for case in cases(dataset, facts):
                results.append((case, bench.run(case, args.warmup, args.requests)))
                print(f"  measured {case.name}", flush=True)
            floor = bench.http_floor(url, args.warmup, args.requests)
            mem = memory_mb(proc.pid)
        store.close()

    correct = report(results, floor, window_sessions)
    hot_1500 = statistics.median(next(t.store_ms for c, t in results if c.name == "hot limit=1500"))
    ordinary_1500 = statistics.median(next(t.store_ms for c, t in results if c.name == "ordinary limit=1500"))
    print(
        f"\nwindow-size independence: store-call p50 limit=1500, hot / ordinary = {hot_1500 / ordinary_1500:.2f}"
        f" for a window {window_sessions['hot'] / window_sessions['ordinary']:.0f}x larger"
    )
    print(
        f"server memory after the run: VmRSS {mem['VmRSS']:.0f} MiB, peak VmHWM {mem['VmHWM']:.0f} MiB"
        f" (target < {TARGET_RSS_MB:g} MB: {_mark(mem['VmHWM'] * 2**20 < TARGET_RSS_MB * 1e6)})"
    )
    print(f"{args.requests} timed requests per query and path after {args.warmup} warm-ups; correctness: {_mark(correct)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "dataset": dataclasses.asdict(dataset) | {"secret": "-", "db_bytes": _db_bytes(dataset.path)},
                    "facts": dataclasses.asdict(facts),
                    "server_memory_mib": mem,
                    "server_idle_after_s": idle_s,
                    "healthz_ms": floor,
                    "cases": [dataclasses.asdict(c) | dataclasses.asdict(t) for c, t in results],
                },
                indent=1,
            )
        )
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
