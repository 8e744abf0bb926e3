"""Benchmark of ``GET /insights/3.0/sessions/content`` through the real HTTP server, beside its baselines.

Loads generated sessions of one account (by default 2,000,000 over 31 days plus a hot 3-hour window
of 300,000) through the store API into a SQLite file under ``bench/data/`` (reused while its
parameters match and its windows are still queryable), starts ``reelsight serve`` on it, and times
every query four ways in the same run, interleaved request by request:

- HTTP (httpx): the request through the real server, keep-alive, Basic auth, body read in full;
- HTTP (http.client): the same with the stdlib client, to show how much the measuring client costs;
- store call: the same ``SessionQuery`` run in-process by ``SqliteStore.sample_sessions`` plus
  ``render_sessions``: the SQLite work and body assembly the endpoint does, without the web edge;
- bare fetch: one plain sqlite3 query fetching exactly the returned documents by id, joined: the floor.

Every repetition also checks that the four bodies are identical. Results: ``docs/benchmarks.md``.
Run: ``.venv/bin/python bench/bench_sessions_api.py`` (full size; the first load takes ~10 minutes),
``--sessions 50000 --hot 10000`` for a quick smoke run, ``--rebuild`` to force a fresh load.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import http.client
import json
import math
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec

from benchutil import code_version, memory_mb
from reelsight import credentials
from reelsight.generate.sessions import DAY_MS, HOUR_MS, generate_sessions
from reelsight.query.parse import SessionQuery, parse_query
from reelsight.query.selection import selection
from reelsight.settings import Settings
from reelsight.store.records import BUCKET_MS, to_record
from reelsight.store.sqlite import SqliteStore
from reelsight.store.sqlite.documents import add_stored_doc_function
from reelsight.web.sessions_route import PATH, query_items, render_sessions

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"
REELSIGHT = ROOT / ".venv" / "bin" / "reelsight"

# Bump when the way the data set is built changes (or the stored record changes in a way migrations
# do not fill in), so old files are rebuilt rather than reused.
DATASET_FORMAT = 1
SEED_MONTH = 1
SEED_HOT = 2
WINDOW_MS = 3 * HOUR_MS
HOT_END_BEFORE_BUILD_MS = 2 * DAY_MS  # the hot window ends two days before the build
ORDINARY_BEFORE_HOT_MS = 7 * DAY_MS  # the ordinary window: same time of day, a week before the hot one
QUERYABLE_MS = 31 * DAY_MS  # the API refuses windows starting earlier than this before now
SLIDE_STEP_MS = 60_000
TAG_KEY = "subscription_tier"
MIN_REQUESTS = 30

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
    store.close()
    # The store closes its read-only readers last, and they cannot checkpoint: fold the WAL in here so
    # the file stands alone and its size is the data's.
    with contextlib.closing(sqlite3.connect(str(db))) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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
    targeted: bool = True  # False: a worst case shown for information, outside the targets

    @property
    def limit(self) -> int:
        return int(dict(self.params).get("limit", "50"))

    def query_string(self, rep: int) -> str:
        shift = rep * self.slide_ms
        window = (("start_epoch_ms", str(self.start_ms + shift)), ("end_epoch_ms", str(self.end_ms + shift)))
        return urllib.parse.urlencode((*window, *self.params))


@dataclasses.dataclass(frozen=True)
class WindowFacts:
    """Filter values taken from the hot window's data, and how many of its sessions match them."""

    sessions: int
    ordinary_sessions: int
    device_os: str
    country: str
    tier: str
    filtered: int  # sessions matching the two dimensions, the flag and the tag
    session_id: str
    rare_isp: str  # the least common ISP: a selective dimension filter
    rare_isp_sessions: int
    popular_build: str  # the most common tag_app_build value, still a small share: a selective tag filter
    popular_build_sessions: int


def _window_sql(dataset: Dataset, start_ms: int, end_ms: int) -> tuple[str, list[object]]:
    where = "s.account_id = ? AND s.end_bucket BETWEEN ? AND ? AND s.end_ms >= ? AND s.end_ms < ?"
    return where, [dataset.account_id, start_ms // BUCKET_MS, (end_ms - 1) // BUCKET_MS, start_ms, end_ms]


def window_facts(conn: sqlite3.Connection, dataset: Dataset) -> WindowFacts:
    where, window = _window_sql(dataset, dataset.hot_start_ms, dataset.hot_end_ms)

    def row(sql: str, params: Sequence[object]) -> tuple[str, int]:
        found = conn.execute(sql, params).fetchone()
        return str(found[0]), int(found[1])

    def top(column: str, extra_where: str = "", extra: Sequence[object] = (), order: str = "DESC") -> tuple[str, int]:
        """The most (or least) common value of a column in the hot window, and its count."""
        return row(
            f"SELECT {column}, count(*) FROM sessions s WHERE {where} {extra_where}"  # noqa: S608 - fixed identifiers
            f" GROUP BY 1 ORDER BY 2 {order}, 1 LIMIT 1",
            [*window, *extra],
        )

    def top_tag(key: str, extra_where: str = "", extra: Sequence[object] = ()) -> tuple[str, int]:
        """The most common value of custom tag ``key`` (inline ``tags`` column, see store/records.py)."""
        marker = "char(31) || ? || char(30)"
        sql = (
            f"WITH t AS (SELECT substr(tags, instr(tags, {marker}) + length(?) + 2) AS rest"  # noqa: S608
            f" FROM sessions s WHERE instr(tags, {marker}) > 0 AND {where} {extra_where})"
            " SELECT substr(rest, 1, instr(rest, char(31)) - 1), count(*) FROM t GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
        )
        return row(sql, [key, key, key, *window, *extra])

    total = row(f"SELECT count(*), 0 FROM sessions s WHERE {where}", window)[0]  # noqa: S608
    device_os, _ = top("d_device_os")
    country, _ = top("d_geo_country_code", "AND d_device_os = ?", [device_os])
    tier, filtered = top_tag(
        TAG_KEY, "AND d_device_os = ? AND d_geo_country_code = ? AND is_video_start_failure = 0", [device_os, country]
    )
    build, build_sessions = top_tag("app_build")
    isp, isp_sessions = top("d_isp", order="ASC")
    session_id, _ = top("session_id", order="ASC")  # deterministic, and unique in practice
    ordinary_where, ordinary_window = _window_sql(dataset, dataset.ordinary_start_ms, dataset.ordinary_end_ms)
    ordinary = row(f"SELECT count(*), 0 FROM sessions s WHERE {ordinary_where}", ordinary_window)[0]  # noqa: S608
    return WindowFacts(
        sessions=int(total),
        ordinary_sessions=int(ordinary),
        device_os=device_os,
        country=country,
        tier=tier,
        filtered=filtered,
        session_id=session_id,
        rare_isp=isp,
        rare_isp_sessions=isp_sessions,
        popular_build=build,
        popular_build_sessions=build_sessions,
    )


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
        Case(
            "worst case: hot limit=1500 rare isp",
            "hot",
            (("limit", "1500"), ("isp", facts.rare_isp)),
            *hot,
            targeted=False,
        ),
        Case(
            "worst case: hot limit=1500 rare tag_app_build",
            "hot",
            (("limit", "1500"), ("tag_app_build", facts.popular_build)),
            *hot,
            targeted=False,
        ),
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
# CROSS JOIN keeps json_each as the outer loop, so rows come back in the given order without a sort
# (an ORDER BY j.key would copy every document through a temporary B-tree).
_BARE_SQL = "SELECT stored_doc(d.dict_id, d.doc) FROM json_each(?) AS j CROSS JOIN session_docs AS d ON d.id = j.value"


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


@dataclasses.dataclass
class Timings:
    http_ms: list[float] = dataclasses.field(default_factory=list)  # httpx, as the issue asks
    stdlib_ms: list[float] = dataclasses.field(default_factory=list)  # http.client: less client-side work
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
    """One repetition runs the same request four ways, one after the other: httpx, http.client, store, bare.

    Interleaving keeps the ratios fair when the machine's load drifts during the run. Only digests of
    the bodies are kept between the steps, so no step pays for another's multi-megabyte buffers.
    """

    def __init__(self, dataset: Dataset, url: str, store: SqliteStore, bare: sqlite3.Connection) -> None:
        self.dataset = dataset
        self.url = url
        self.client = httpx.Client(base_url=url, auth=(dataset.key_id, dataset.secret), timeout=60)
        netloc = urllib.parse.urlsplit(url)
        self.stdlib = http.client.HTTPConnection(netloc.hostname or "127.0.0.1", netloc.port, timeout=60)
        token = base64.b64encode(f"{dataset.key_id}:{dataset.secret}".encode()).decode("ascii")
        self.stdlib_headers = {"Authorization": f"Basic {token}"}
        self.store = store
        self.bare = bare
        self.settings = Settings()

    def close(self) -> None:
        self.client.close()
        self.stdlib.close()

    def _query(self, query_string: str) -> SessionQuery:
        """The query exactly as the endpoint parses it."""
        return parse_query(query_items(query_string.encode("ascii"), self.settings), int(time.time() * 1000))

    def _doc_ids(self, conviva_ids: list[str]) -> str:
        rows = dict(
            # CROSS JOIN: one index probe per id (an IN (json_each) list here scans the whole account).
            self.bare.execute(
                "SELECT s.conviva_session_id, s.doc_id FROM json_each(?) AS j"
                " CROSS JOIN sessions AS s ON s.account_id = ? AND s.conviva_session_id = j.value",
                (json.dumps(conviva_ids), self.dataset.account_id),
            ).fetchall()
        )
        return json.dumps([rows[c] for c in conviva_ids])

    def once(self, case: Case, rep: int, timings: Timings | None) -> None:
        query_string = case.query_string(rep)
        target = f"{PATH}?{query_string}"
        query = self._query(query_string)

        t0 = time.perf_counter()
        response = self.client.get(target)
        body = response.content
        http_ms = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{case.name}: HTTP {response.status_code}: {body[:300]!r}")
        http_ids = [s.conviva_session_id for s in _DECODE_IDS(body).sessions]
        http_digest, http_bytes = _digest(body), len(body)
        del response, body

        t0 = time.perf_counter()
        self.stdlib.request("GET", target, headers=self.stdlib_headers)
        body = self.stdlib.getresponse().read()
        stdlib_ms = (time.perf_counter() - t0) * 1000
        stdlib_digest = _digest(body)
        del body

        t0 = time.perf_counter()
        stored = self.store.sample_sessions(self.dataset.account_id, selection(query))
        body = render_sessions(stored, viewer_module=False)
        store_ms = (time.perf_counter() - t0) * 1000
        store_ids = [s.conviva_session_id for s in stored]
        store_digest = _digest(body)
        del stored, body

        doc_ids = self._doc_ids(store_ids)
        t0 = time.perf_counter()
        docs = [row[0] for row in self.bare.execute(_BARE_SQL, (doc_ids,))]
        if docs:  # the envelope folded into the first and last parts: one join, one copy
            docs[0] = b'{"sessions":[' + docs[0]
            docs[-1] += b"]}"
        body = b",".join(docs) if docs else b'{"sessions":[]}'
        bare_ms = (time.perf_counter() - t0) * 1000
        bare_digest = _digest(body)
        del docs, body

        if timings is None:
            return
        timings.http_ms.append(http_ms)
        timings.stdlib_ms.append(stdlib_ms)
        timings.store_ms.append(store_ms)
        timings.bare_ms.append(bare_ms)
        timings.returned.append(len(http_ids))
        timings.body_bytes.append(http_bytes)
        timings.mismatches += http_ids != store_ids
        timings.body_differs += not (http_digest == stdlib_digest == store_digest == bare_digest)

    def run(self, case: Case, warmup: int, requests: int) -> Timings:
        for rep in range(warmup):
            self.once(case, rep, None)
        timings = Timings()
        for rep in range(warmup, warmup + requests):
            self.once(case, rep, timings)
        return timings

    def http_floor(self, warmup: int, requests: int) -> list[float]:
        """GET /healthz with httpx: transport and framework alone, no auth, no store."""
        out: list[float] = []
        for i in range(warmup + requests):
            t0 = time.perf_counter()
            self.client.get("/healthz").read()
            if i >= warmup:
                out.append((time.perf_counter() - t0) * 1000)
        return out


# -- reporting ------------------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def _p50_p95(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.1f} / {percentile(values, 95):.1f}"


def report(case_timings: list[tuple[Case, Timings]], floor_ms: list[float], facts: WindowFacts) -> bool:
    """Print the results table (Markdown); return True when every correctness check held."""
    window_sessions = {"hot": facts.sessions, "ordinary": facts.ordinary_sessions}
    print()
    print(
        "| query | window sessions | returned | body KiB | HTTP (httpx) p50 / p95 ms | HTTP (http.client) p50 / p95 ms"
        " | store call p50 / p95 ms | bare fetch p50 / p95 ms | httpx / store | http.client / store | httpx / bare"
        " | targets |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    correct = True
    for case, t in case_timings:
        http50, stdlib50, store50, bare50 = (
            statistics.median(v) for v in (t.http_ms, t.stdlib_ms, t.store_ms, t.bare_ms)
        )
        checks: list[str] = []
        if case.targeted:
            if case.limit == 50 and "session_id" not in dict(case.params):
                checks.append(f"p50 < {TARGET_LIMIT50_P50_MS:g} ms {_mark(http50 < TARGET_LIMIT50_P50_MS)}")
            if case.limit == 1500 and case.window == "hot":
                checks.append(f"p50 < {TARGET_LIMIT1500_HOT_P50_MS:g} ms {_mark(http50 < TARGET_LIMIT1500_HOT_P50_MS)}")
            checks.append(
                f"HTTP <= {TARGET_HTTP_OVER_STORE:g}x store {_mark(http50 <= TARGET_HTTP_OVER_STORE * store50)}"
            )
        else:
            checks.append("none (information)")
        if t.mismatches:
            checks.append(f"**{t.mismatches} id mismatches**")
            correct = False
        if t.body_differs:
            checks.append(f"**{t.body_differs} bodies differ**")
            correct = False
        low, high = min(t.returned), max(t.returned)
        returned = f"{low}" if low == high else f"{low}-{high}"
        print(
            f"| {case.name} | {window_sessions[case.window]:,} | {returned}"
            f" | {statistics.median(t.body_bytes) / 1024:,.0f}"
            f" | {_p50_p95(t.http_ms)} | {_p50_p95(t.stdlib_ms)} | {_p50_p95(t.store_ms)}"
            f" | {statistics.median(t.bare_ms):.2f} / {percentile(t.bare_ms, 95):.2f}"
            f" | {http50 / store50:.2f} | {stdlib50 / store50:.2f} | {http50 / bare50:.1f} | {'; '.join(checks)} |"
        )
    floor = f"{statistics.median(floor_ms):.2f} / {percentile(floor_ms, 95):.2f}"
    print(f"| GET /healthz (the HTTP floor: no auth, no store) | | | | {floor} | | | | | | | |")
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
    if args.sessions < 1000 or args.hot < 1000:
        parser.error("--sessions and --hot must each be at least 1000")
    if args.requests < MIN_REQUESTS:
        parser.error(f"--requests must be at least {MIN_REQUESTS}")

    print(f"code: {code_version()}; python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    now_ms = int(time.time() * 1000)
    _db, marker = _paths(args.sessions, args.hot)
    dataset = None if args.rebuild else _reusable(marker, args.sessions, args.hot, now_ms)
    built_now = dataset is None
    if dataset is None:
        dataset = build_dataset(args.sessions, args.hot, now_ms)
    describe_dataset(dataset, built_now)
    SqliteStore(dataset.path, readers=1).close()  # a reused file gets this code's schema migrations first

    with contextlib.closing(sqlite3.connect(f"file:{dataset.path}?mode=ro", uri=True)) as bare:
        add_stored_doc_function(bare)  # the documents as stored: zstd with the file's dictionary
        facts = window_facts(bare, dataset)
        print(
            f"  hot window {facts.sessions:,} sessions, ordinary window {facts.ordinary_sessions:,};"
            f" filter device_os={facts.device_os!r} geo_country_code={facts.country!r}"
            f" is_video_start_failure=false tag_{TAG_KEY}={facts.tier!r} matches {facts.filtered:,}"
            f" ({facts.filtered / facts.sessions:.1%} of the hot window); worst cases: isp={facts.rare_isp!r}"
            f" matches {facts.rare_isp_sessions:,}, tag_app_build={facts.popular_build!r}"
            f" {facts.popular_build_sessions:,}"
        )
        store = SqliteStore(dataset.path, readers=1)
        with running_server(dataset, DATA_DIR / "server.log") as (proc, url):
            idle_s = wait_until_idle(proc.pid)
            started_mem = memory_mb(proc.pid)
            print(
                f"server pid {proc.pid} on {url}: idle {idle_s:.1f} s after /healthz first answered;"
                f" RSS {started_mem['VmRSS']:.0f} MiB before the queries"
            )
            bench = Bench(dataset, url, store, bare)
            results: list[tuple[Case, Timings]] = []
            for case in cases(dataset, facts):
                case_started = time.perf_counter()
                requests = args.requests if case.targeted else MIN_REQUESTS
                results.append((case, bench.run(case, args.warmup, requests)))
                print(f"  measured {case.name} in {time.perf_counter() - case_started:.1f} s", flush=True)
            floor = bench.http_floor(args.warmup, args.requests)
            mem = memory_mb(proc.pid)
            bench.close()
        store.close()

    correct = report(results, floor, facts)
    by_name = {c.name: t for c, t in results}
    for limit in (50, 1500):
        if facts.ordinary_sessions < limit:
            print(f"window-size independence, limit={limit}: not comparable, the ordinary window holds fewer sessions")
            continue
        hot = statistics.median(by_name[f"hot limit={limit}"].store_ms)
        ordinary = statistics.median(by_name[f"ordinary limit={limit}"].store_ms)
        print(
            f"window-size independence, limit={limit}: store-call p50 hot / ordinary = {hot / ordinary:.2f}"
            f" for a window {facts.sessions / facts.ordinary_sessions:.0f}x larger"
        )
    print(
        f"server memory after the run: VmRSS {mem['VmRSS']:.0f} MiB, peak VmHWM {mem['VmHWM']:.0f} MiB"
        f" (target < {TARGET_RSS_MB:g} MB: {_mark(mem['VmHWM'] * 2**20 < TARGET_RSS_MB * 1e6)})"
    )
    print(
        f"{args.requests} timed requests per targeted query and path ({MIN_REQUESTS} for worst cases)"
        f" after {args.warmup} warm-ups; correct: {_mark(correct)}"
    )
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
